//! Contract §3: users, roles, self-service rules.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::*;

both_backends!(
    admin_lists_everyone_and_others_see_only_themselves,
    created_user_has_the_contract_shape,
    create_user_reports_every_bad_field,
    duplicate_username_or_email_is_409,
    only_admins_create_users,
    users_are_readable_by_themselves_and_admins,
    unknown_and_malformed_ids,
    self_service_needs_the_current_password_and_never_changes_own_role,
    admin_updates_others_and_a_password_change_signs_out,
    update_to_a_taken_name_is_409,
    delete_rules,
    role_assignment,
    list_paging_is_checked_and_capped,
    oversize_bodies_are_413,
);

async fn admin_lists_everyone_and_others_see_only_themselves(b: Backend) {
    let app = TestApp::spawn(b).await;
    let admin = app.admin_token().await;
    let (viewer_id, viewer) = app.user_with_role(&admin, "vera", "viewer").await;
    app.user_with_role(&admin, "otto", "operator").await;
    let (status, body) = json_of(app.get("/users", &admin).await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["total"], 3);
    let names: Vec<&str> = body["users"]
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|u| u["username"].as_str())
        .collect();
    assert_eq!(names, vec!["otto", "vera", "admin"], "newest first");
    let (_, mine) = json_of(app.get("/users", &viewer).await).await;
    assert_eq!(mine["total"], 1);
    assert_eq!(mine["users"][0]["id"], viewer_id);
}

async fn created_user_has_the_contract_shape(b: Backend) {
    let app = TestApp::spawn(b).await;
    let admin = app.admin_token().await;
    let resp = app
        .post(
            "/users",
            &admin,
            json!({"email": "Ann@Example.com", "username": "ann", "password": "ann-password"}),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let text = resp.text().await.expect("body");
    assert!(text.starts_with(r#"{"id":"#), "id first: {text}");
    let user: Value = serde_json::from_str(&text).expect("json");
    let keys: Vec<&String> = user.as_object().expect("object").keys().collect();
    assert_eq!(keys.len(), 6, "{keys:?}");
    assert_eq!(user["email"], "ann@example.com");
    assert_eq!(user["role"], "viewer", "default role");
    assert_eq!(user["token_version"], 1);
    assert!(
        user["created_at"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z'))
    );
    assert!(!text.contains("password") && !text.contains("argon2"));
}

async fn create_user_reports_every_bad_field(b: Backend) {
    let app = TestApp::spawn(b).await;
    let admin = app.admin_token().await;
    let (status, body) = json_of(
        app.post("/users", &admin, json!({"email": "not-an-email", "username": "bad name", "password": "pw7!x", "role": "root"}))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let mut locs = error_locs(&body);
    locs.sort();
    assert_eq!(
        locs,
        vec!["body.email", "body.password", "body.role", "body.username"]
    );
    assert!(
        !body.to_string().contains("pw7!x"),
        "the password is not echoed"
    );

    let (status, body) = json_of(
        app.post(
            "/users",
            &admin,
            json!({"username": "x", "password": "long-enough"}),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_locs(&body), vec!["body.email"]);
    let (status, body) = json_of(
        app.post(
            "/users",
            &admin,
            json!({"email": "a@b.co", "username": ["x"], "password": "long-enough"}),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_locs(&body), vec!["body.username"]);
}

async fn duplicate_username_or_email_is_409(b: Backend) {
    let app = TestApp::spawn(b).await;
    let admin = app.admin_token().await;
    app.user_with_role(&admin, "dup", "viewer").await;
    for body in [
        json!({"email": "other@example.com", "username": "dup", "password": "long-enough"}),
        json!({"email": "DUP@example.com", "username": "other", "password": "long-enough"}),
    ] {
        let (status, err) = json_of(app.post("/users", &admin, body).await).await;
        assert_eq!(status, StatusCode::CONFLICT);
        assert_eq!(
            err["detail"],
            "User with this email or username already exists"
        );
    }
}

async fn only_admins_create_users(b: Backend) {
    let app = TestApp::spawn(b).await;
    let admin = app.admin_token().await;
    let (_, operator) = app.user_with_role(&admin, "op", "operator").await;
    let (_, viewer) = app.user_with_role(&admin, "vi", "viewer").await;
    let body = json!({"email": "x@example.com", "username": "x", "password": "long-enough"});
    for token in [&operator, &viewer] {
        let (status, err) = json_of(app.post("/users", token, body.clone()).await).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_eq!(err["detail"], "Admin role required");
    }
    let anonymous = app.call(Method::POST, "/users", None, Some(body)).await;
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
}

async fn users_are_readable_by_themselves_and_admins(b: Backend) {
    let app = TestApp::spawn(b).await;
    let admin = app.admin_token().await;
    let (a_id, a) = app.user_with_role(&admin, "alice", "operator").await;
    let (b_id, _) = app.user_with_role(&admin, "bob", "viewer").await;
    assert_eq!(
        app.get(&format!("/users/{a_id}"), &a).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        app.get(&format!("/users/{b_id}"), &admin).await.status(),
        StatusCode::OK
    );
    let (status, body) = json_of(app.get(&format!("/users/{b_id}"), &a).await).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["detail"], "Access denied");
}

async fn unknown_and_malformed_ids(b: Backend) {
    let app = TestApp::spawn(b).await;
    let admin = app.admin_token().await;
    let (status, body) = json_of(app.get("/users/999999", &admin).await).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["detail"], "User not found");
    let (status, body) = json_of(app.get("/users/abc", &admin).await).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_locs(&body), vec!["path.id"]);
    assert_eq!(body["detail"][0]["type"], "int_parsing");
    assert_eq!(
        app.put("/users/999999", &admin, json!({"email": "z@example.com"}))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.delete("/users/999999", &admin).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.post("/users/999999/roles", &admin, json!({"role": "viewer"}))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.delete("/users/99999999999999999999", &admin)
            .await
            .status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );
}

async fn self_service_needs_the_current_password_and_never_changes_own_role(b: Backend) {
    let app = TestApp::spawn(b).await;
    let admin = app.admin_token().await;
    let (id, token) = app.user_with_role(&admin, "sam", "viewer").await;
    let path = format!("/users/{id}");
    let (status, body) = json_of(
        app.put(&path, &token, json!({"email": "sam2@example.com"}))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_locs(&body), vec!["body.current_password"]);
    let (status, body) = json_of(
        app.put(
            &path,
            &token,
            json!({"email": "sam2@example.com", "current_password": "wrong-one"}),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["detail"], "Current password is incorrect");
    let (status, body) = json_of(
        app.put(
            &path,
            &token,
            json!({"email": "sam2@example.com", "current_password": "sam-password"}),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["email"], "sam2@example.com");
    let (status, body) = json_of(
        app.put(
            &path,
            &token,
            json!({"role": "admin", "current_password": "sam-password"}),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["detail"], "Cannot change your own role");
    // Empty strings mean "unchanged" and need no password.
    let (status, body) = json_of(
        app.put(&path, &token, json!({"email": "", "username": ""}))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["username"], "sam");
    // Admins cannot change their own role either.
    let me = app.login("admin", ADMIN_PASSWORD).await;
    let admin_id = me["user"]["id"].as_i64().expect("id");
    let resp = app
        .put(
            &format!("/users/{admin_id}"),
            &admin,
            json!({"role": "viewer", "current_password": ADMIN_PASSWORD}),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    // Other users' records are off limits.
    assert_eq!(
        app.put(
            &format!("/users/{admin_id}"),
            &token,
            json!({"email": "x@example.com"})
        )
        .await
        .status(),
        StatusCode::FORBIDDEN
    );
}

async fn admin_updates_others_and_a_password_change_signs_out(b: Backend) {
    let app = TestApp::spawn(b).await;
    let admin = app.admin_token().await;
    let (id, token) = app.user_with_role(&admin, "pat", "viewer").await;
    let (status, body) = json_of(
        app.put(
            &format!("/users/{id}"),
            &admin,
            json!({"role": "operator", "password": "brand-new-password"}),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["role"], "operator");
    assert_eq!(body["token_version"], 2);
    assert_eq!(
        app.get("/api/verify", &token).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.login_response("pat", "pat-password").await.status(),
        StatusCode::UNAUTHORIZED
    );
    app.login("pat", "brand-new-password").await;
    let (status, body) = json_of(
        app.put(
            &format!("/users/{id}"),
            &admin,
            json!({"password": "short"}),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_locs(&body), vec!["body.password"]);
}

async fn update_to_a_taken_name_is_409(b: Backend) {
    let app = TestApp::spawn(b).await;
    let admin = app.admin_token().await;
    let (id, _) = app.user_with_role(&admin, "first", "viewer").await;
    app.user_with_role(&admin, "second", "viewer").await;
    let (status, body) = json_of(
        app.put(
            &format!("/users/{id}"),
            &admin,
            json!({"username": "second"}),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["detail"], "Email or username already exists");
}

async fn delete_rules(b: Backend) {
    let app = TestApp::spawn(b).await;
    let admin = app.admin_token().await;
    let me = app.login("admin", ADMIN_PASSWORD).await["user"]["id"]
        .as_i64()
        .expect("id");
    let (status, body) = json_of(app.delete(&format!("/users/{me}"), &admin).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["detail"], "Cannot delete your own account");
    let (id, token) = app.user_with_role(&admin, "gone", "operator").await;
    assert_eq!(
        app.delete(&format!("/users/{id}"), &token).await.status(),
        StatusCode::FORBIDDEN
    );
    let (status, body) = json_of(app.delete(&format!("/users/{id}"), &admin).await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"message": "User deleted successfully"}));
    let (status, body) = json_of(app.get("/api/verify", &token).await).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["detail"], "User not found");
    assert_eq!(
        app.delete(&format!("/users/{id}"), &admin).await.status(),
        StatusCode::NOT_FOUND
    );
}

async fn role_assignment(b: Backend) {
    let app = TestApp::spawn(b).await;
    let admin = app.admin_token().await;
    let (id, token) = app.user_with_role(&admin, "rita", "viewer").await;
    let path = format!("/users/{id}/roles");
    let (status, body) = json_of(app.post(&path, &admin, json!({"role": "superuser"})).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body["detail"],
        "Invalid role. Must be one of: admin, operator, viewer"
    );
    let (status, body) = json_of(app.post(&path, &admin, json!({})).await).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_locs(&body), vec!["body.role"]);
    assert_eq!(
        app.post(&path, &token, json!({"role": "admin"}))
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    let (status, body) = json_of(app.post(&path, &admin, json!({"role": "operator"})).await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!({"message": "Role 'operator' assigned successfully"})
    );
    // The role applies at once to the existing token.
    let (_, verify) = json_of(app.get("/api/verify", &token).await).await;
    assert_eq!(verify["user"]["role"], "operator");
}

async fn list_paging_is_checked_and_capped(b: Backend) {
    let app = TestApp::spawn(b).await;
    let admin = app.admin_token().await;
    for i in 0..3 {
        app.user_with_role(&admin, &format!("u{i}"), "viewer").await;
    }
    let (_, body) = json_of(app.get("/users?skip=1&limit=2", &admin).await).await;
    assert_eq!(body["total"], 4);
    assert_eq!(body["users"].as_array().map(Vec::len), Some(2));
    assert_eq!(body["users"][0]["username"], "u1");
    let (_, body) = json_of(app.get("/users?skip=10", &admin).await).await;
    assert_eq!(body["total"], 4, "a page past the end still counts");
    assert_eq!(body["users"].as_array().map(Vec::len), Some(0));
    let (_, body) = json_of(app.get("/users?limit=100000", &admin).await).await;
    assert_eq!(body["users"].as_array().map(Vec::len), Some(4));
    for bad in ["skip=-1", "limit=-5", "limit=abc"] {
        let (status, body) = json_of(app.get(&format!("/users?{bad}"), &admin).await).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        assert_eq!(body["detail"][0]["loc"][0], "query");
    }
}

async fn oversize_bodies_are_413(b: Backend) {
    let app = TestApp::spawn_with(b, |c| c.http.body_limit_bytes = 64 * 1024).await;
    let admin = app.admin_token().await;
    let huge = "x".repeat(100 * 1024);
    let resp = app
        .post(
            "/users",
            &admin,
            json!({"email": "a@b.co", "username": "big", "password": huge}),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["detail"], "Request body is too large");
    let resp = app
        .call(
            Method::POST,
            "/api/login",
            None,
            Some(json!({"username": "admin", "password": huge})),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
}
