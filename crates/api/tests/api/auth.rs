//! Contract §2: login, refresh, verify, revoke-all, registration, throttling.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::*;

both_backends!(
    login_returns_tokens_and_the_user,
    wrong_password_and_unknown_user_get_the_same_401,
    login_bad_inputs_are_422_naming_the_field,
    repeated_failures_lock_the_username_even_for_the_right_password,
    locking_unknown_and_known_users_looks_the_same,
    one_ip_guessing_many_usernames_is_locked,
    a_lock_lifts_once_its_time_has_passed,
    refresh_returns_a_new_pair_and_each_refresh_token_works_once,
    refresh_token_reuse_revokes_the_family,
    refresh_bad_inputs_are_refused,
    logout_ends_that_session_only_and_is_audited,
    a_renewal_racing_a_sign_out_never_outlives_it,
    verify_returns_the_user_with_the_current_role,
    bad_bearer_tokens_are_401_with_www_authenticate,
    expired_and_tampered_access_tokens_are_401,
    revoke_all_invalidates_access_and_refresh_tokens,
    verify_only_answers_get,
    registration_is_off_by_default,
    registration_creates_viewers_when_enabled,
    legacy_bcrypt_hash_is_accepted_and_rehashed,
);

async fn login_returns_tokens_and_the_user(b: Backend) {
    let app = TestApp::spawn(b).await;
    let resp = app.login_response("admin", ADMIN_PASSWORD).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let text = resp.text().await.expect("body");
    assert!(
        text.starts_with(r#"{"access_token":"#),
        "compact JSON: {text}"
    );
    let body: Value = serde_json::from_str(&text).expect("json");
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["expires_in"], 900);
    assert!(
        body["refresh_token"]
            .as_str()
            .is_some_and(|t| t.len() >= 43)
    );
    assert_eq!(body["user"]["username"], "admin");
    assert_eq!(body["user"]["role"], "admin");
    assert!(body["user"]["id"].is_i64());
    assert!(body["user"].get("pwd_hash").is_none() && !text.contains("argon2"));
    // The legacy alias answers the same way.
    let alias = app
        .call(
            Method::POST,
            "/auth/login",
            None,
            Some(json!({"username": "admin", "password": ADMIN_PASSWORD})),
        )
        .await;
    assert_eq!(alias.status(), StatusCode::OK);
}

async fn wrong_password_and_unknown_user_get_the_same_401(b: Backend) {
    let app = TestApp::spawn(b).await;
    let (s1, b1) = json_of(app.login_response("admin", "wrong-password").await).await;
    let (s2, b2) = json_of(app.login_response("nobody", "wrong-password").await).await;
    assert_eq!(
        (s1, s2),
        (StatusCode::UNAUTHORIZED, StatusCode::UNAUTHORIZED)
    );
    assert_eq!(b1, json!({"detail": "Invalid username or password"}));
    assert_eq!(b1, b2);
}

async fn login_bad_inputs_are_422_naming_the_field(b: Backend) {
    let app = TestApp::spawn(b).await;
    let (status, body) = json_of(
        app.call(
            Method::POST,
            "/api/login",
            None,
            Some(json!({"username": "admin"})),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_locs(&body), vec!["body.password"]);
    assert_eq!(body["detail"][0]["type"], "missing");

    let (status, body) = json_of(
        app.call(
            Method::POST,
            "/api/login",
            None,
            Some(json!({"username": 5, "password": "x"})),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_locs(&body), vec!["body.username"]);

    for raw in ["{not json", "", "[]"] {
        let resp = app
            .client
            .post(app.url("/api/login"))
            .header("content-type", "application/json")
            .body(raw)
            .send()
            .await
            .expect("sent");
        assert_eq!(
            resp.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "body {raw:?}"
        );
    }
}

async fn repeated_failures_lock_the_username_even_for_the_right_password(b: Backend) {
    let app = TestApp::spawn(b).await;
    for _ in 0..5 {
        assert_eq!(
            app.login_response("admin", "wrong-password").await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    let resp = app.login_response("admin", ADMIN_PASSWORD).await;
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = resp.headers()["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!(retry > 0 && retry <= 901, "Retry-After {retry}");
    let body: Value = resp.json().await.expect("json");
    assert!(
        body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("Too many failed login attempts"))
    );
}

async fn locking_unknown_and_known_users_looks_the_same(b: Backend) {
    let app = TestApp::spawn_with(b, |c| c.auth.max_failures_per_ip = 100).await;
    let mut answers = Vec::new();
    for user in ["admin", "ghost"] {
        let mut statuses = Vec::new();
        for _ in 0..6 {
            statuses.push(app.login_response(user, "wrong-password").await.status());
        }
        answers.push(statuses);
    }
    assert_eq!(answers[0], answers[1]);
    assert_eq!(answers[0].last(), Some(&StatusCode::TOO_MANY_REQUESTS));
}

async fn one_ip_guessing_many_usernames_is_locked(b: Backend) {
    let app = TestApp::spawn_with(b, |c| {
        c.auth.max_failures_per_ip = 4;
        c.auth.max_failures_per_user = 100;
    })
    .await;
    for i in 0..4 {
        let status = app
            .login_response(&format!("user{i}"), "wrong-password")
            .await
            .status();
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(
        app.login_response("admin", ADMIN_PASSWORD).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
}

async fn a_lock_lifts_once_its_time_has_passed(b: Backend) {
    let app = TestApp::spawn_with(b, |c| {
        c.auth.max_failures_per_user = 2;
        c.auth.lockout_secs = 1;
        c.auth.failure_window_secs = 1;
    })
    .await;
    for _ in 0..2 {
        app.login_response("admin", "wrong-password").await;
    }
    assert_eq!(
        app.login_response("admin", ADMIN_PASSWORD).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let status = app.login_response("admin", ADMIN_PASSWORD).await.status();
        if status == StatusCode::OK {
            break;
        }
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        assert!(tokio::time::Instant::now() < deadline, "lock never lifted");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

async fn refresh(app: &TestApp, token: &str) -> (StatusCode, Value) {
    json_of(
        app.call(
            Method::POST,
            "/api/refresh",
            None,
            Some(json!({"refresh_token": token})),
        )
        .await,
    )
    .await
}

async fn refresh_returns_a_new_pair_and_each_refresh_token_works_once(b: Backend) {
    let app = TestApp::spawn(b).await;
    let first = app.login("admin", ADMIN_PASSWORD).await;
    let r1 = first["refresh_token"].as_str().expect("refresh");
    let (status, second) = refresh(&app, r1).await;
    assert_eq!(status, StatusCode::OK);
    assert_ne!(second["refresh_token"], first["refresh_token"]);
    assert_eq!(second["user"]["username"], "admin");
    assert_eq!(
        app.get("/api/verify", &token_of(&second)).await.status(),
        StatusCode::OK
    );
    let (status, body) = refresh(&app, r1).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("already used"))
    );
}

async fn refresh_token_reuse_revokes_the_family(b: Backend) {
    let app = TestApp::spawn(b).await;
    let first = app.login("admin", ADMIN_PASSWORD).await;
    let other_session = app.login("admin", ADMIN_PASSWORD).await;
    let r1 = first["refresh_token"]
        .as_str()
        .expect("refresh")
        .to_string();
    let (_, second) = refresh(&app, &r1).await;
    let r2 = second["refresh_token"]
        .as_str()
        .expect("refresh")
        .to_string();
    // A thief replays the old token: the whole family dies, including the legitimate r2.
    assert_eq!(refresh(&app, &r1).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(refresh(&app, &r2).await.0, StatusCode::UNAUTHORIZED);
    // Another login (another family) is untouched.
    let other = other_session["refresh_token"].as_str().expect("refresh");
    assert_eq!(refresh(&app, other).await.0, StatusCode::OK);
}

async fn logout_ends_that_session_only_and_is_audited(b: Backend) {
    let app = TestApp::spawn(b).await;
    let first = app.login("admin", ADMIN_PASSWORD).await;
    let other = app.login("admin", ADMIN_PASSWORD).await;
    let r1 = first["refresh_token"].as_str().expect("refresh");
    // Renew once, then sign out with the *spent* token: the renewed one dies with it.
    let (_, renewed) = refresh(&app, r1).await;
    let r2 = renewed["refresh_token"].as_str().expect("refresh");
    let logout = |token: &str| {
        app.call(
            Method::POST,
            "/api/logout",
            None,
            Some(json!({"refresh_token": token})),
        )
    };
    let (status, body) = json_of(logout(r1).await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["message"], "Signed out");
    assert_eq!(refresh(&app, r2).await.0, StatusCode::UNAUTHORIZED);
    // An unknown token gets the same answer; a missing one is a 422 naming the field.
    let (status, same) = json_of(logout("no-such-token").await).await;
    assert_eq!((status, same), (StatusCode::OK, body));
    let (status, bad) = json_of(
        app.call(Method::POST, "/api/logout", None, Some(json!({})))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    assert!(bad.to_string().contains("refresh_token"), "{bad}");
    // The other sign-in is untouched, and the audit trail names who signed out.
    let other_refresh = other["refresh_token"].as_str().expect("refresh");
    let (status, still) = refresh(&app, other_refresh).await;
    assert_eq!(status, StatusCode::OK);
    let (_, audit) = json_of(
        app.get("/audit?action=auth.logout", &token_of(&still))
            .await,
    )
    .await;
    let entries = audit["entries"].as_array().expect("entries");
    // Three attempts are recorded (any outcome); only the real session names its user.
    assert_eq!(entries.len(), 3, "{audit}");
    let named: Vec<_> = entries.iter().filter(|e| e["actor"] == "admin").collect();
    assert_eq!(named.len(), 1, "{audit}");
    assert_eq!(named[0]["status_code"], 200);
}

async fn a_renewal_racing_a_sign_out_never_outlives_it(b: Backend) {
    let app = TestApp::spawn(b).await;
    for _ in 0..8 {
        let session = app.login("admin", ADMIN_PASSWORD).await;
        let token = session["refresh_token"].as_str().expect("refresh");
        let logout = app.call(
            Method::POST,
            "/api/logout",
            None,
            Some(json!({"refresh_token": token})),
        );
        let ((status, renewed), out) = tokio::join!(refresh(&app, token), logout);
        assert_eq!(out.status(), StatusCode::OK);
        // Whichever came first, nothing of that sign-in may work afterwards.
        if status == StatusCode::OK {
            let next = renewed["refresh_token"].as_str().expect("refresh");
            assert_eq!(refresh(&app, next).await.0, StatusCode::UNAUTHORIZED);
        }
    }
}

async fn refresh_bad_inputs_are_refused(b: Backend) {
    let app = TestApp::spawn(b).await;
    let (status, body) = refresh(&app, "garbage").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["detail"], "Invalid refresh token");
    let access = app.admin_token().await;
    assert_eq!(refresh(&app, &access).await.0, StatusCode::UNAUTHORIZED);
    let (status, body) = json_of(
        app.call(Method::POST, "/api/refresh", None, Some(json!({})))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_locs(&body), vec!["body.refresh_token"]);
    let bare = app
        .call(
            Method::POST,
            "/refresh",
            None,
            Some(json!({"refresh_token": "garbage"})),
        )
        .await;
    assert_eq!(bare.status(), StatusCode::UNAUTHORIZED);
}

async fn verify_returns_the_user_with_the_current_role(b: Backend) {
    let app = TestApp::spawn(b).await;
    let admin = app.admin_token().await;
    let (id, token) = app.user_with_role(&admin, "olivia", "operator").await;
    let (status, body) = json_of(app.get("/api/verify", &token).await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!({"valid": true, "user": {"id": id, "username": "olivia", "email": "olivia@example.com", "role": "operator"}})
    );
    assert_eq!(
        app.post(
            &format!("/users/{id}/roles"),
            &admin,
            json!({"role": "viewer"})
        )
        .await
        .status(),
        StatusCode::OK
    );
    let (_, body) = json_of(app.get("/verify", &token).await).await;
    assert_eq!(body["user"]["role"], "viewer");
}

async fn bad_bearer_tokens_are_401_with_www_authenticate(b: Backend) {
    let app = TestApp::spawn(b).await;
    let none = app.call(Method::GET, "/api/verify", None, None).await;
    assert_eq!(none.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(none.headers()["www-authenticate"], "Bearer");
    for header in [
        "Basic YWRtaW46YWRtaW4=",
        "Bearer",
        "Bearer not-a-jwt",
        "garbage",
    ] {
        let resp = app
            .client
            .get(app.url("/users"))
            .header("authorization", header)
            .send()
            .await
            .expect("sent");
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{header}");
        assert_eq!(resp.headers()["www-authenticate"], "Bearer");
    }
}

fn sign(app: &TestApp, claims: &Value) -> String {
    let secret = std::fs::read_to_string(app.data_dir.join("jwt-secret")).expect("jwt secret");
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.trim().as_bytes()),
    )
    .expect("sign")
}

async fn expired_and_tampered_access_tokens_are_401(b: Backend) {
    let app = TestApp::spawn(b).await;
    let now = chrono_now();
    let claims = json!({"sub": "1", "user_id": 1, "username": "admin", "role": "admin", "token_version": 1,
        "jti": "x", "iat": now - 3600, "exp": now - 600, "type": "access"});
    let expired = sign(&app, &claims);
    assert_eq!(
        app.get("/api/verify", &expired).await.status(),
        StatusCode::UNAUTHORIZED
    );

    let mut fresh = claims.clone();
    fresh["exp"] = json!(now + 600);
    let valid = sign(&app, &fresh);
    assert_eq!(
        app.get("/api/verify", &valid).await.status(),
        StatusCode::OK,
        "control: a fresh token works"
    );
    // Flip one character of the signature.
    let mut tampered = valid.clone();
    let last = tampered.pop().expect("char");
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    assert_eq!(
        app.get("/api/verify", &tampered).await.status(),
        StatusCode::UNAUTHORIZED
    );
    // A token signed with another key.
    let forged = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &fresh,
        &jsonwebtoken::EncodingKey::from_secret(b"someone-elses-secret-of-32-bytes!!"),
    )
    .expect("sign");
    assert_eq!(
        app.get("/api/verify", &forged).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

fn chrono_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(0))
        .unwrap_or(0)
}

async fn revoke_all_invalidates_access_and_refresh_tokens(b: Backend) {
    let app = TestApp::spawn(b).await;
    let session = app.login("admin", ADMIN_PASSWORD).await;
    let access = token_of(&session);
    let (status, body) = json_of(
        app.call(Method::POST, "/api/revoke-all", Some(&access), None)
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"message": "All tokens revoked successfully"}));
    let (status, body) = json_of(app.get("/api/verify", &access).await).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["detail"], "Token revoked");
    let (status, _) = refresh(&app, session["refresh_token"].as_str().expect("refresh")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // A new login works.
    let fresh = app.admin_token().await;
    assert_eq!(
        app.get("/api/verify", &fresh).await.status(),
        StatusCode::OK
    );
}

async fn verify_only_answers_get(b: Backend) {
    let app = TestApp::spawn(b).await;
    let token = app.admin_token().await;
    let resp = app
        .call(Method::POST, "/api/verify", Some(&token), None)
        .await;
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
}

async fn registration_is_off_by_default(b: Backend) {
    let app = TestApp::spawn(b).await;
    let resp = app
        .call(
            Method::POST,
            "/api/register",
            None,
            Some(
                json!({"email": "eve@example.com", "username": "eve", "password": "long-password"}),
            ),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        app.login_response("eve", "long-password").await.status(),
        StatusCode::UNAUTHORIZED
    );
}

async fn registration_creates_viewers_when_enabled(b: Backend) {
    let app = TestApp::spawn_with(b, |c| c.auth.allow_registration = true).await;
    let body = json!({"email": "eve@example.com", "username": "eve", "password": "long-password", "role": "admin"});
    let (status, user) = json_of(
        app.call(Method::POST, "/api/register", None, Some(body.clone()))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(user["role"], "viewer", "a requested role is ignored");
    assert_eq!(
        app.call(Method::POST, "/api/register", None, Some(body))
            .await
            .status(),
        StatusCode::CONFLICT
    );
    let (status, err) = json_of(
        app.call(
            Method::POST,
            "/api/register",
            None,
            Some(json!({"email": "bad", "username": "x y", "password": "short"})),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let mut locs = error_locs(&err);
    locs.sort();
    assert_eq!(locs, vec!["body.email", "body.password", "body.username"]);
    app.login("eve", "long-password").await;
}

async fn legacy_bcrypt_hash_is_accepted_and_rehashed(b: Backend) {
    let app = TestApp::spawn(b).await;
    let admin = app.admin_token().await;
    let (id, _) = app.user_with_role(&admin, "legacy", "viewer").await;
    let legacy = bcrypt::hash("admin123-legacy", 4).expect("bcrypt");
    let changes = opsconductor_store::users::UserChanges {
        pwd_hash: Some(legacy),
        ..Default::default()
    };
    opsconductor_store::users::update(&app.db, id, &changes)
        .await
        .expect("store update");
    app.login("legacy", "admin123-legacy").await;
    let stored = opsconductor_store::users::get(&app.db, id)
        .await
        .expect("get")
        .expect("user");
    assert!(
        stored.pwd_hash.starts_with("$argon2id$"),
        "re-hashed: {}",
        &stored.pwd_hash[..10]
    );
    app.login("legacy", "admin123-legacy").await;
    assert_eq!(
        app.login_response("legacy", "wrong").await.status(),
        StatusCode::UNAUTHORIZED
    );
}
