use std::path::PathBuf;

use opsconductor_api::Application;
use opsconductor_core::config::Config;
use opsconductor_core::secrets::Secret;
use opsconductor_store::Db;
use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};

pub const ADMIN_PASSWORD: &str = "admin-password-1";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The PostgreSQL admin URL, or `None` to skip (never skipped under CI).
pub fn postgres_admin_url() -> Option<String> {
    match std::env::var("OPSCONDUCTOR_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var("CI").is_err(),
                "CI must set OPSCONDUCTOR_TEST_POSTGRES_URL so the PostgreSQL half of the suite runs"
            );
            None
        }
    }
}

/// Generates one `#[tokio::test]` per backend for each listed `async fn name(Backend)`.
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::common::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if $crate::common::postgres_admin_url().is_none() {
                        eprintln!("skipped: OPSCONDUCTOR_TEST_POSTGRES_URL is not set");
                        return;
                    }
                    super::$name($crate::common::Backend::Postgres).await
                }
            )*
        }
    };
}

/// A fresh PostgreSQL database for one test, created through the admin URL.
async fn fresh_postgres_database() -> String {
    let admin_url = postgres_admin_url().expect("PostgreSQL URL");
    let name = format!("oc_test_{}", uuid_like());
    let admin = Db::connect(&admin_url, 1)
        .await
        .expect("connect to PostgreSQL admin URL");
    let Db::Postgres(pool) = &admin else {
        panic!("not a PostgreSQL URL")
    };
    opsconductor_store::sqlx::query(opsconductor_store::sqlx::AssertSqlSafe(format!(
        "CREATE DATABASE {name}"
    )))
    .execute(pool)
    .await
    .expect("create test database");
    admin.close().await;
    let (base, _) = admin_url.rsplit_once('/').expect("URL has a database path");
    format!("{base}/{name}")
}

fn uuid_like() -> String {
    opsconductor_core::secrets::random_token(12)
        .to_ascii_lowercase()
        .replace(['-', '_'], "x")
}

/// `TEST_LOG=debug cargo test` shows the server's logs.
pub fn init_test_log() {
    if let Ok(filter) = std::env::var("TEST_LOG") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_test_writer()
            .try_init();
    }
}

/// A running server and a client that trusts its generated CA.
pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub data_dir: PathBuf,
    pub db: Db,
    pub redirect_addr: Option<std::net::SocketAddr>,
    /// The configuration the server was started with (same data dir and database).
    pub config: Config,
    _dir: tempfile::TempDir,
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> TestApp {
        Self::spawn_with(backend, |_| {}).await
    }

    /// Starts a server with a config adjusted by `customize`.
    pub async fn spawn_with(backend: Backend, customize: impl FnOnce(&mut Config)) -> TestApp {
        init_test_log();
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = Config::with_data_dir(dir.path());
        config.listen = "127.0.0.1:0".into();
        config.http_listen = "off".into();
        config.admin_password = Some(Secret::new(ADMIN_PASSWORD));
        if backend == Backend::Postgres {
            config.database_url = Some(fresh_postgres_database().await);
        }
        customize(&mut config);
        let tls = config.tls.mode == opsconductor_core::config::TlsMode::On;
        let started_with = config.clone();
        let app = Application::build(config).await.expect("server builds");
        let port = app.local_addr().port();
        let redirect_addr = app.redirect_addr();
        let db = app.core().db.clone();
        tokio::spawn(app.run(std::future::pending()));
        let mut builder = reqwest::Client::builder()
            .user_agent("opsconductor-tests")
            .redirect(reqwest::redirect::Policy::none());
        if tls {
            let pem = std::fs::read(dir.path().join("tls/ca.pem")).expect("generated CA");
            builder =
                builder.tls_certs_only([reqwest::Certificate::from_pem(&pem).expect("CA PEM")]);
        }
        let scheme = if tls { "https" } else { "http" };
        TestApp {
            base: format!("{scheme}://localhost:{port}"),
            client: builder.build().expect("client"),
            data_dir: dir.path().to_path_buf(),
            db,
            redirect_addr,
            config: started_with,
            _dir: dir,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends a request with an optional bearer token and JSON body.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Response {
        let mut req = self.client.request(method, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        req.send().await.expect("request sent")
    }

    pub async fn get(&self, path: &str, token: &str) -> Response {
        self.call(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Response {
        self.call(Method::POST, path, Some(token), Some(body)).await
    }

    pub async fn put(&self, path: &str, token: &str, body: Value) -> Response {
        self.call(Method::PUT, path, Some(token), Some(body)).await
    }

    pub async fn delete(&self, path: &str, token: &str) -> Response {
        self.call(Method::DELETE, path, Some(token), None).await
    }

    /// Raw login response.
    pub async fn login_response(&self, username: &str, password: &str) -> Response {
        self.call(
            Method::POST,
            "/api/login",
            None,
            Some(json!({"username": username, "password": password})),
        )
        .await
    }

    /// Logs in and returns the whole token body.
    pub async fn login(&self, username: &str, password: &str) -> Value {
        let resp = self.login_response(username, password).await;
        assert_eq!(resp.status(), StatusCode::OK, "login of {username} failed");
        resp.json().await.expect("login JSON")
    }

    /// The access token of the bootstrap admin.
    pub async fn admin_token(&self) -> String {
        token_of(&self.login("admin", ADMIN_PASSWORD).await)
    }

    /// Creates a user with `role` (as admin) and returns (id, access token).
    pub async fn user_with_role(&self, admin: &str, username: &str, role: &str) -> (i64, String) {
        let password = format!("{username}-password");
        let resp = self
            .post(
                "/users",
                admin,
                json!({"email": format!("{username}@example.com"), "username": username, "password": password, "role": role}),
            )
            .await;
        assert_eq!(resp.status(), StatusCode::CREATED, "create {username}");
        let user: Value = resp.json().await.expect("user JSON");
        let id = user["id"].as_i64().expect("id");
        (id, token_of(&self.login(username, &password).await))
    }
}

/// Creates a credential (as `token`) and returns its id.
pub async fn credential(app: &TestApp, token: &str, name: &str, kind: &str, data: Value) -> i64 {
    let (status, body) = json_of(
        app.post(
            "/credentials",
            token,
            json!({"name": name, "credential_type": kind, "credential_data": data}),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["id"].as_i64().expect("id")
}

/// Creates a target (as `token`) and returns its JSON.
pub async fn target(app: &TestApp, token: &str, body: Value) -> Value {
    let (status, created) = json_of(app.post("/targets", token, body).await).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    created
}

pub fn token_of(body: &Value) -> String {
    body["access_token"]
        .as_str()
        .expect("access_token")
        .to_string()
}

/// Status and JSON body of a response.
pub async fn json_of(resp: Response) -> (StatusCode, Value) {
    let status = resp.status();
    let text = resp.text().await.expect("body");
    let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, value)
}

/// The `loc` paths of a 422 body, joined with dots.
pub fn error_locs(body: &Value) -> Vec<String> {
    body["detail"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .map(|e| {
                    e["loc"]
                        .as_array()
                        .map(|l| {
                            l.iter()
                                .map(|p| p.as_str().unwrap_or("").to_string())
                                .collect::<Vec<_>>()
                                .join(".")
                        })
                        .unwrap_or_default()
                })
                .collect()
        })
        .unwrap_or_default()
}
