//! Health, readiness, metrics, OpenAPI, transport: what operators and load balancers see.

use opsconductor_core::config::TlsMode;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::*;

both_backends!(
    health_endpoints_answer_as_the_contract,
    ready_is_503_when_the_database_is_gone,
    metrics_are_exposed_for_prometheus,
    openapi_document_and_swagger_ui_are_served_offline,
    unknown_paths_are_404_json,
    responses_carry_security_headers,
    plain_http_is_redirected_with_301,
    listen_addr_is_written_for_scripts,
    first_admin_gets_a_generated_password_when_none_is_configured,
    tls_off_serves_plain_http,
    an_operator_supplied_certificate_is_served_as_is,
    client_routes_get_the_ui_and_never_shadow_the_api,
);

async fn health_endpoints_answer_as_the_contract(b: Backend) {
    let app = TestApp::spawn(b).await;
    let resp = app.call(Method::GET, "/health", None, None).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap_or("")
            .starts_with("text/plain")
    );
    assert_eq!(resp.text().await.expect("body"), "healthy\n");
    for (path, service) in [
        ("/auth/health", "auth-service"),
        ("/users/health", "user-service"),
        ("/credentials/health", "credentials-service"),
        ("/targets/health", "targets-service"),
        ("/jobs/health", "jobs-service"),
        ("/scheduler/health", "scheduler"),
    ] {
        let (status, body) = json_of(app.call(Method::GET, path, None, None).await).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert_eq!(body, json!({"status": "healthy", "service": service}));
    }
    let (_, body) = json_of(app.call(Method::GET, "/executor/health", None, None).await).await;
    assert_eq!(body["service"], "executor-service");
    assert_eq!(body["worker_running"], true);
    assert_eq!(body["worker_enabled"], true);
    let (status, body) = json_of(app.call(Method::GET, "/ready", None, None).await).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"status": "ready"})));
}

async fn ready_is_503_when_the_database_is_gone(b: Backend) {
    let app = TestApp::spawn(b).await;
    app.db.close().await;
    let (status, body) = json_of(app.call(Method::GET, "/ready", None, None).await).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["detail"], "Database unreachable");
    assert_eq!(
        app.call(Method::GET, "/users/health", None, None)
            .await
            .status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(
        app.call(Method::GET, "/health", None, None).await.status(),
        StatusCode::OK,
        "liveness is not readiness"
    );
    let resp = app.login_response("admin", ADMIN_PASSWORD).await;
    assert_eq!(
        resp.status(),
        StatusCode::SERVICE_UNAVAILABLE,
        "a client is told to retry, not given a 500"
    );
}

async fn metrics_are_exposed_for_prometheus(b: Backend) {
    let app = TestApp::spawn(b).await;
    app.call(Method::GET, "/health", None, None).await;
    let text = app
        .call(Method::GET, "/metrics", None, None)
        .await
        .text()
        .await
        .expect("body");
    assert!(text.contains("opsconductor_http_requests_total"), "{text}");
    assert!(text.contains(r#"route="/health""#), "{text}");
}

async fn openapi_document_and_swagger_ui_are_served_offline(b: Backend) {
    let app = TestApp::spawn(b).await;
    let (status, doc) = json_of(
        app.call(Method::GET, "/api-docs/openapi.json", None, None)
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    for path in ["/api/login", "/users/{id}", "/audit/verify"] {
        assert!(doc["paths"].get(path).is_some(), "{path} documented");
    }
    assert!(doc["components"]["securitySchemes"].get("bearer").is_some());
    let html = app.call(Method::GET, "/docs/", None, None).await;
    assert_eq!(html.status(), StatusCode::OK);
    assert!(html.text().await.expect("body").contains("swagger"));
    let js = app
        .call(Method::GET, "/docs/swagger-ui-bundle.js", None, None)
        .await;
    assert_eq!(
        js.status(),
        StatusCode::OK,
        "the UI's assets are embedded, not fetched from a CDN"
    );
}

async fn unknown_paths_are_404_json(b: Backend) {
    let app = TestApp::spawn(b).await;
    let (status, body) = json_of(app.call(Method::GET, "/no/such/thing", None, None).await).await;
    assert_eq!(
        (status, body),
        (StatusCode::NOT_FOUND, json!({"detail": "Not Found"}))
    );
    let (status, _) = json_of(app.call(Method::DELETE, "/health", None, None).await).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
}

async fn responses_carry_security_headers(b: Backend) {
    let app = TestApp::spawn(b).await;
    let resp = app.call(Method::GET, "/health", None, None).await;
    let h = resp.headers();
    assert_eq!(h["x-frame-options"], "DENY");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert!(
        h["strict-transport-security"]
            .to_str()
            .unwrap_or("")
            .contains("max-age=")
    );
    assert!(
        h.get("access-control-allow-origin").is_none(),
        "CORS is off"
    );
}

async fn plain_http_is_redirected_with_301(b: Backend) {
    let app = TestApp::spawn_with(b, |c| c.http_listen = "127.0.0.1:0".into()).await;
    let addr = app.redirect_addr.expect("redirect listener");
    let https_port = app.base.rsplit(':').next().expect("port").to_string();
    let resp = app
        .client
        .get(format!("http://{addr}/users?skip=1"))
        .header("host", format!("localhost:{}", addr.port()))
        .send()
        .await
        .expect("sent");
    assert_eq!(resp.status(), StatusCode::MOVED_PERMANENTLY);
    assert_eq!(
        resp.headers()["location"],
        format!("https://localhost:{https_port}/users?skip=1").as_str()
    );
}

async fn listen_addr_is_written_for_scripts(b: Backend) {
    let app = TestApp::spawn(b).await;
    let text = std::fs::read_to_string(app.data_dir.join("listen-addr")).expect("listen-addr");
    let port = app.base.rsplit(':').next().expect("port");
    assert_eq!(text, format!("127.0.0.1:{port}\n"));
}

async fn first_admin_gets_a_generated_password_when_none_is_configured(b: Backend) {
    let app = TestApp::spawn_with(b, |c| c.admin_password = None).await;
    let path = app.data_dir.join("initial-admin-password");
    let password = std::fs::read_to_string(&path).expect("password file");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    assert!(password.trim().len() >= 20);
    assert_eq!(
        app.login_response("admin", ADMIN_PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let body: Value = app.login("admin", password.trim()).await;
    assert_eq!(body["user"]["role"], "admin");
}

async fn tls_off_serves_plain_http(b: Backend) {
    let app = TestApp::spawn_with(b, |c| c.tls.mode = TlsMode::Off).await;
    assert!(app.base.starts_with("http://"));
    let resp = app.call(Method::GET, "/health", None, None).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.headers().get("strict-transport-security").is_none());
    assert!(
        !app.data_dir.join("tls").exists(),
        "no certificate is generated when TLS is off"
    );
}

async fn an_operator_supplied_certificate_is_served_as_is(b: Backend) {
    // The first server's generated chain stands in for a certificate the operator bought.
    let first = TestApp::spawn(b).await;
    let cert = first.data_dir.join("tls/server.pem");
    let key = first.data_dir.join("tls/server-key.pem");
    let ca = first.data_dir.join("tls/ca.pem");
    let app = TestApp::spawn_with(b, move |c| {
        std::fs::create_dir_all(c.data_dir.join("tls")).expect("tls dir");
        std::fs::copy(&ca, c.data_dir.join("tls/ca.pem")).expect("trust the operator's CA");
        c.tls.cert = Some(cert);
        c.tls.key = Some(key);
    })
    .await;
    assert_eq!(
        app.call(Method::GET, "/health", None, None).await.status(),
        StatusCode::OK
    );
    assert!(
        !app.data_dir.join("tls/server.pem").exists(),
        "nothing was generated"
    );
}

async fn client_routes_get_the_ui_and_never_shadow_the_api(b: Backend) {
    let app = TestApp::spawn(b).await;
    let built = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../web/dist/index.html")
        .exists();
    for path in ["/", "/ui", "/ui/", "/ui/runs/42", "/ui/jobs/7/versions"] {
        let resp = app.call(Method::GET, path, None, None).await;
        let cache = resp.headers().get("cache-control").cloned();
        let status = resp.status();
        let text = resp.text().await.expect("body");
        if built {
            assert_eq!(status, StatusCode::OK, "{path}");
            assert!(
                text.contains("<title>OpsConductor</title>"),
                "{path}: {text}"
            );
            assert_eq!(
                cache.as_ref().and_then(|c| c.to_str().ok()),
                Some("no-cache")
            );
        } else {
            assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
            assert!(text.contains("npm run build"), "{text}");
        }
    }
    // API paths keep answering as the API, also for a browser.
    let resp = app.call(Method::GET, "/runs", None, None).await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let (status, body) = json_of(
        app.call(Method::GET, "/assets/no-such-file.js", None, None)
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["detail"], "Not Found");
}
