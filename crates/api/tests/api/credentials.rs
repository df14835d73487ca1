//! Contract §4 and the vault: per-type validation, secrets never returned, masking, rotation,
//! tampering, master keys.

use opsconductor_store::Db;
use opsconductor_store::sqlx;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::*;

both_backends!(
    credentials_of_every_type_are_stored_and_never_returned,
    required_fields_per_type_are_422_naming_the_field,
    ssh_private_keys_are_parsed_on_save,
    duplicate_names_are_409,
    rotate_unwraps_legacy_bodies_and_stamps_rotated_at,
    decrypt_is_admin_only_masked_and_audited,
    credentials_in_use_cannot_be_deleted,
    tampered_or_moved_ciphertext_fails_to_decrypt,
    master_key_rotation_keeps_every_credential_readable_without_restart,
    a_wrong_master_key_stops_start_up,
);

const SECRET: &str = "Sup3r-S3cret-Passw0rd!";

async fn credentials_of_every_type_are_stored_and_never_returned(b: Backend) {
    let app = TestApp::spawn(b).await;
    let admin = app.admin_token().await;
    let (_, operator) = app.user_with_role(&admin, "oper", "operator").await;
    let cases = [
        (
            "win",
            "winrm",
            json!({"username": "Administrator", "password": SECRET, "domain": "CORP"}),
        ),
        (
            "win-ntlm",
            "winrm_ntlm",
            json!({"username": "svc", "password": SECRET}),
        ),
        (
            "linux",
            "ssh",
            json!({"username": "root", "password": SECRET}),
        ),
        ("api", "api_key", json!({"api_key": SECRET})),
        ("tok", "token", json!({"token": SECRET})),
    ];
    for (name, kind, data) in cases {
        let resp = app
            .post("/credentials", &operator, json!({"name": name, "description": "d", "credential_type": kind, "credential_data": data}))
            .await;
        assert_eq!(resp.status(), StatusCode::CREATED, "{name}");
        let text = resp.text().await.expect("body");
        assert!(text.starts_with(r#"{"id":"#), "{text}");
        assert!(
            !text.contains(SECRET) && !text.contains("credential_data"),
            "{text}"
        );
    }
    let list = app
        .get("/credentials", &operator)
        .await
        .text()
        .await
        .expect("body");
    assert!(!list.contains(SECRET));
    let (_, body) = json_of(app.get("/credentials", &operator).await).await;
    assert_eq!(body["total"], 5);
    assert_eq!(body["credentials"][0]["name"], "tok");
    // Viewers may list but not create.
    let (_, viewer) = app.user_with_role(&admin, "vic", "viewer").await;
    assert_eq!(
        app.get("/credentials", &viewer).await.status(),
        StatusCode::OK
    );
    let resp = app
        .post(
            "/credentials",
            &viewer,
            json!({"name": "x", "credential_type": "token", "credential_data": {"token": "t"}}),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    // At rest only ciphertext.
    let stored = raw_ciphertexts(&app.db).await;
    assert_eq!(stored.len(), 5);
    assert!(
        stored
            .iter()
            .all(|c| !c.windows(SECRET.len()).any(|w| w == SECRET.as_bytes()))
    );
}

async fn raw_ciphertexts(db: &Db) -> Vec<Vec<u8>> {
    match db {
        Db::Sqlite(p) => {
            sqlx::query_scalar("SELECT data_ciphertext FROM credentials")
                .fetch_all(p)
                .await
        }
        Db::Postgres(p) => {
            sqlx::query_scalar("SELECT data_ciphertext FROM credentials")
                .fetch_all(p)
                .await
        }
    }
    .expect("ciphertexts")
}

async fn create_status(app: &TestApp, token: &str, kind: &str, data: Value) -> (StatusCode, Value) {
    json_of(
        app.post(
            "/credentials",
            token,
            json!({"name": format!("c-{kind}"), "credential_type": kind, "credential_data": data}),
        )
        .await,
    )
    .await
}

async fn required_fields_per_type_are_422_naming_the_field(b: Backend) {
    let app = TestApp::spawn(b).await;
    let admin = app.admin_token().await;
    let cases = [
        (
            "winrm",
            json!({"username": "a"}),
            vec!["body.credential_data.password"],
        ),
        (
            "winrm_basic",
            json!({"password": "p"}),
            vec!["body.credential_data.username"],
        ),
        (
            "ssh",
            json!({"username": "a"}),
            vec!["body.credential_data.password"],
        ),
        (
            "api_key",
            json!({"token": "x"}),
            vec!["body.credential_data.api_key"],
        ),
        ("token", json!({}), vec!["body.credential_data.token"]),
        (
            "winrm",
            json!({"username": 5, "password": "p"}),
            vec!["body.credential_data.username"],
        ),
        ("ssh", json!("not an object"), vec!["body.credential_data"]),
        ("kerberos5", json!({}), vec!["body.credential_type"]),
    ];
    for (kind, data, locs) in cases {
        let (status, body) = create_status(&app, &admin, kind, data.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{kind} {data}");
        assert_eq!(error_locs(&body), locs, "{kind} {data}: {body}");
    }
    let (status, body) = json_of(
        app.post(
            "/credentials",
            &admin,
            json!({"name": "n", "credential_type": "token"}),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_locs(&body), vec!["body.credential_data"]);
    let (status, _) = json_of(app.get("/credentials", &admin).await).await;
    assert_eq!(status, StatusCode::OK);
}

async fn ssh_private_keys_are_parsed_on_save(b: Backend) {
    let app = TestApp::spawn(b).await;
    let admin = app.admin_token().await;
    let sshd = crate::sshd::Sshd::start();
    let key = sshd.root_key().pem.clone();
    let enc = sshd.encrypted_key().clone();
    let (status, _) = create_status(
        &app,
        &admin,
        "ssh",
        json!({"username": "root", "private_key": key}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = create_status(
        &app,
        &admin,
        "ssh_key",
        json!({"username": "root", "private_key": enc.pem, "passphrase": enc.passphrase}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    for (data, needle) in [
        (
            json!({"username": "root", "private_key": enc.pem}),
            "passphrase",
        ),
        (
            json!({"username": "root", "private_key": enc.pem, "passphrase": "wrong one"}),
            "passphrase",
        ),
        (
            json!({"username": "root", "private_key": "-----BEGIN OPENSSH PRIVATE KEY-----\ngarbage\n"}),
            "could not be read",
        ),
    ] {
        let resp = app
            .post(
                "/credentials",
                &admin,
                json!({"name": "bad-key", "credential_type": "ssh", "credential_data": data}),
            )
            .await;
        assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let text = resp.text().await.expect("body");
        assert!(
            text.contains("body\",\"credential_data\",\"private_key"),
            "{text}"
        );
        assert!(text.to_lowercase().contains(needle), "{text}");
        assert!(
            !text.contains("BEGIN") && !text.contains("wrong one"),
            "no key material or passphrase echoed: {text}"
        );
    }
}

async fn duplicate_names_are_409(b: Backend) {
    let app = TestApp::spawn(b).await;
    let admin = app.admin_token().await;
    credential(&app, &admin, "dup", "token", json!({"token": "t"})).await;
    let other = credential(&app, &admin, "other", "token", json!({"token": "t"})).await;
    let (status, body) = create_status(&app, &admin, "token", json!({"token": "t"})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = json_of(
        app.post(
            "/credentials",
            &admin,
            json!({"name": "dup", "credential_type": "token", "credential_data": {"token": "t"}}),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["detail"], "Credential with this name already exists");
    let (status, _) = json_of(
        app.put(
            &format!("/credentials/{other}"),
            &admin,
            json!({"name": "dup"}),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
}

async fn rotate_unwraps_legacy_bodies_and_stamps_rotated_at(b: Backend) {
    let app = TestApp::spawn(b).await;
    let admin = app.admin_token().await;
    let id = credential(
        &app,
        &admin,
        "rot",
        "winrm",
        json!({"username": "a", "password": "one"}),
    )
    .await;
    let path = format!("/credentials/{id}/rotate");
    for (body, expected) in [
        (
            json!({"payload": {"username": "a", "password": "two"}}),
            "two",
        ),
        (
            json!({"credential_data": {"username": "b", "password": "three"}}),
            "three",
        ),
        (json!({"username": "c", "password": "four"}), "four"),
    ] {
        let (status, resp) = json_of(app.post(&path, &admin, body).await).await;
        assert_eq!(status, StatusCode::OK, "{resp}");
        assert_eq!(resp["message"], "Credential rotated successfully");
        assert!(
            resp["rotated_at"]
                .as_str()
                .is_some_and(|t| t.ends_with('Z'))
        );
        // The secret really changed: the engine-side decrypt sees the new value.
        let core_password = open_secret(&app, id, "password").await;
        assert_eq!(core_password, expected);
    }
    let (status, body) = json_of(
        app.post(&path, &admin, json!({"payload": {"username": "a"}}))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_locs(&body), vec!["body.credential_data.password"]);
    assert_eq!(
        app.post("/credentials/99999/rotate", &admin, json!({"token": "x"}))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    let (_, got) = json_of(app.get(&format!("/credentials/{id}"), &admin).await).await;
    assert!(got["rotated_at"].is_string());
}

/// Opens a credential the way the engine does (in-process), for assertions only.
async fn open_secret(app: &TestApp, id: i64, field: &str) -> String {
    let core = opsconductor_core::Core::open(app.config.clone())
        .await
        .expect("core");
    let resolved =
        opsconductor_core::credentials::resolve_for_use(&core, id, "test assertion", None)
            .await
            .expect("resolve");
    resolved.get(field).unwrap_or_default().to_string()
}

async fn decrypt_is_admin_only_masked_and_audited(b: Backend) {
    let app = TestApp::spawn(b).await;
    let admin = app.admin_token().await;
    let (_, operator) = app.user_with_role(&admin, "olga", "operator").await;
    let id = credential(
        &app,
        &admin,
        "win",
        "winrm",
        json!({"username": "Administrator", "password": SECRET, "domain": "CORP"}),
    )
    .await;
    let path = format!("/credentials/{id}/decrypt");
    assert_eq!(
        app.get(&path, &operator).await.status(),
        StatusCode::FORBIDDEN
    );
    let resp = app.get(&path, &admin).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let text = resp.text().await.expect("body");
    assert!(!text.contains(SECRET), "{text}");
    let body: Value = serde_json::from_str(&text).expect("json");
    assert_eq!(body["id"], id);
    assert_eq!(
        body["credential_data"],
        json!({"username": "Administrator", "password": "********", "domain": "CORP"})
    );
    let (_, audit) = json_of(app.get("/audit?action=credential.decrypt", &admin).await).await;
    assert_eq!(audit["total"], 1);
    assert_eq!(audit["entries"][0]["actor"], "admin");
    assert_eq!(audit["entries"][0]["resource_id"], id.to_string());
    assert_eq!(
        app.get("/credentials/424242/decrypt", &admin)
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
}

async fn credentials_in_use_cannot_be_deleted(b: Backend) {
    let app = TestApp::spawn(b).await;
    let admin = app.admin_token().await;
    let id = credential(
        &app,
        &admin,
        "used",
        "ssh",
        json!({"username": "root", "password": "p"}),
    )
    .await;
    let t = target(&app, &admin, json!({"name": "box", "hostname": "box.example.com", "protocol": "ssh", "credential_ref": id})).await;
    for path in [
        format!("/credentials/{id}"),
        "/credentials/by-name/used".to_string(),
    ] {
        let (status, body) = json_of(app.delete(&path, &admin).await).await;
        assert_eq!(status, StatusCode::CONFLICT, "{path}");
        assert_eq!(
            body["detail"],
            "Cannot delete credential: it is in use by targets"
        );
    }
    app.delete(&format!("/targets/{}", t["id"]), &admin).await;
    let (status, body) = json_of(app.delete("/credentials/by-name/used", &admin).await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"message": "Credential deleted successfully"}));
    assert_eq!(
        app.delete(&format!("/credentials/{id}"), &admin)
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.delete("/credentials/by-name/nothing", &admin)
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.call(Method::DELETE, "/credentials/1", None, None)
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
}

async fn execute(db: &Db, sql: &'static str) {
    match db {
        Db::Sqlite(p) => sqlx::query(sql).execute(p).await.map(|_| ()),
        Db::Postgres(p) => sqlx::query(sql).execute(p).await.map(|_| ()),
    }
    .expect("statement");
}

async fn tampered_or_moved_ciphertext_fails_to_decrypt(b: Backend) {
    let app = TestApp::spawn(b).await;
    let admin = app.admin_token().await;
    let a = credential(&app, &admin, "a", "token", json!({"token": "token-a"})).await;
    let bb = credential(&app, &admin, "b", "token", json!({"token": "token-b"})).await;
    assert_eq!(
        app.get(&format!("/credentials/{a}/decrypt"), &admin)
            .await
            .status(),
        StatusCode::OK
    );
    // Move a's sealed secret into b's row: b's id in the AAD no longer matches.
    execute(
        &app.db,
        "UPDATE credentials SET dek_nonce = (SELECT dek_nonce FROM credentials WHERE name = 'a'), \
         dek_wrapped = (SELECT dek_wrapped FROM credentials WHERE name = 'a'), \
         data_nonce = (SELECT data_nonce FROM credentials WHERE name = 'a'), \
         data_ciphertext = (SELECT data_ciphertext FROM credentials WHERE name = 'a') WHERE name = 'b'",
    )
    .await;
    let (status, body) =
        json_of(app.get(&format!("/credentials/{bb}/decrypt"), &admin).await).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(
        body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("integrity")),
        "{body}"
    );
    // Relabel a's type: the type is in the AAD too.
    execute(
        &app.db,
        "UPDATE credentials SET credential_type = 'api_key' WHERE name = 'a'",
    )
    .await;
    assert_eq!(
        app.get(&format!("/credentials/{a}/decrypt"), &admin)
            .await
            .status(),
        StatusCode::CONFLICT
    );
    // Rotating stores a fresh secret and heals it.
    app.post(
        &format!("/credentials/{bb}/rotate"),
        &admin,
        json!({"token": "new"}),
    )
    .await;
    assert_eq!(
        app.get(&format!("/credentials/{bb}/decrypt"), &admin)
            .await
            .status(),
        StatusCode::OK
    );
}

async fn master_key_rotation_keeps_every_credential_readable_without_restart(b: Backend) {
    let app = TestApp::spawn(b).await;
    let admin = app.admin_token().await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(
            credential(
                &app,
                &admin,
                &format!("c{i}"),
                "winrm",
                json!({"username": "u", "password": format!("pw-{i}")}),
            )
            .await,
        );
    }
    let key_file = app.data_dir.join("master.key");
    let old_key = std::fs::read_to_string(&key_file).expect("generated master key");
    let rotation = opsconductor_core::vault::rotate(&app.config, &app.db, None)
        .await
        .expect("rotate");
    assert_eq!(rotation.rewrapped, 5);
    assert_ne!(rotation.old_key_id, rotation.new_key_id);
    assert_ne!(
        std::fs::read_to_string(&key_file).expect("new key"),
        old_key
    );
    assert!(!app.data_dir.join("master.key.previous").exists());
    // The running server picks the new key up on its own.
    for (i, id) in ids.iter().enumerate() {
        assert_eq!(
            app.get(&format!("/credentials/{id}/decrypt"), &admin)
                .await
                .status(),
            StatusCode::OK
        );
        assert_eq!(open_secret(&app, *id, "password").await, format!("pw-{i}"));
    }
    let fresh = credential(&app, &admin, "after", "token", json!({"token": "t"})).await;
    assert_eq!(
        app.get(&format!("/credentials/{fresh}/decrypt"), &admin)
            .await
            .status(),
        StatusCode::OK
    );
}

async fn a_wrong_master_key_stops_start_up(b: Backend) {
    let app = TestApp::spawn(b).await;
    let admin = app.admin_token().await;
    credential(&app, &admin, "c", "token", json!({"token": "t"})).await;
    let mut config = app.config.clone();
    config.listen = "127.0.0.1:0".into();
    config.master_key = Some(opsconductor_core::secrets::Secret::new(
        opsconductor_core::vault::MasterKey::generate().1,
    ));
    let err = opsconductor_api::Application::build(config.clone())
        .await
        .err()
        .expect("refused");
    let msg = format!("{err:#}");
    assert!(msg.contains("wrong master key"), "{msg}");
    // And with the key file gone and no key configured.
    std::fs::remove_file(app.data_dir.join("master.key")).expect("remove key");
    config.master_key = None;
    let err = opsconductor_api::Application::build(config)
        .await
        .err()
        .expect("refused");
    let msg = format!("{err:#}");
    assert!(msg.contains("no master key is configured"), "{msg}");
}
