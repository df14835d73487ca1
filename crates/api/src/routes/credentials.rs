//! `/credentials` (contract §4): secrets go in, never come out (the admin decrypt route masks them).

use axum::extract::State;
use axum::http::StatusCode;
use opsconductor_core::audit::{self, Event};
use opsconductor_core::credentials::{self, CreateCredential, Credential, UpdateCredential};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::audit_layer::AuditSlot;
use crate::authn::{Admin, AuthUser, ClientInfo, Operator};
use crate::error::ApiResult;
use crate::extract::{Json, Page, Path, Query};
use crate::routes::Message;
use crate::state::AppState;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CredentialList {
    pub credentials: Vec<Credential>,
    pub total: i64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Rotated {
    pub message: &'static str,
    pub rotated_at: opsconductor_store::UtcTime,
}

/// A credential with its data, secret values masked.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MaskedCredential {
    #[serde(flatten)]
    pub credential: Credential,
    #[schema(value_type = Object)]
    pub credential_data: Map<String, Value>,
}

#[utoipa::path(get, path = "/credentials", tag = "credentials", params(Page), security(("bearer" = [])),
    responses((status = 200, body = CredentialList)))]
pub async fn list(
    State(state): State<AppState>,
    AuthUser(_caller): AuthUser,
    Query(page): Query<Page>,
) -> ApiResult<Json<CredentialList>> {
    let (skip, limit) = page.resolve(100)?;
    let (credentials, total) = credentials::list(&state.core, skip, limit).await?;
    Ok(Json(CredentialList { credentials, total }))
}

#[utoipa::path(post, path = "/credentials", tag = "credentials", request_body = CreateCredential,
    security(("bearer" = [])),
    responses((status = 201, body = Credential), (status = 409, description = "Duplicate name"),
              (status = 422, description = "Missing or invalid field for the type")))]
pub async fn create(
    State(state): State<AppState>,
    Operator(caller): Operator,
    audit: AuditSlot,
    Json(body): Json<CreateCredential>,
) -> ApiResult<(StatusCode, Json<Credential>)> {
    let credential = credentials::create(&state.core, &caller, &body).await?;
    audit.set_resource_id(credential.id);
    audit.detail("name", credential.name.clone());
    audit.detail("credential_type", credential.credential_type.clone());
    Ok((StatusCode::CREATED, Json(credential)))
}

#[utoipa::path(get, path = "/credentials/{id}", tag = "credentials", security(("bearer" = [])),
    responses((status = 200, body = Credential), (status = 404)))]
pub async fn get(
    State(state): State<AppState>,
    AuthUser(_caller): AuthUser,
    Path(id): Path<i64>,
) -> ApiResult<Json<Credential>> {
    Ok(Json(credentials::get(&state.core, id).await?))
}

#[utoipa::path(put, path = "/credentials/{id}", tag = "credentials", request_body = UpdateCredential,
    security(("bearer" = [])), responses((status = 200, body = Credential), (status = 404), (status = 409), (status = 422)))]
pub async fn update(
    State(state): State<AppState>,
    Operator(_caller): Operator,
    Path(id): Path<i64>,
    audit: AuditSlot,
    Json(body): Json<UpdateCredential>,
) -> ApiResult<Json<Credential>> {
    audit.detail("secret_changed", body.credential_data.is_some());
    Ok(Json(credentials::update(&state.core, id, &body).await?))
}

/// Replace the secret; the body is the new data, or `{"payload": …}` / `{"credential_data": …}`.
#[utoipa::path(post, path = "/credentials/{id}/rotate", tag = "credentials", security(("bearer" = [])),
    request_body(content = Object), responses((status = 200, body = Rotated), (status = 404), (status = 422)))]
pub async fn rotate(
    State(state): State<AppState>,
    Operator(_caller): Operator,
    Path(id): Path<i64>,
    Json(body): Json<Value>,
) -> ApiResult<Json<Rotated>> {
    let rotated_at = credentials::rotate(&state.core, id, &body).await?;
    Ok(Json(Rotated {
        message: "Credential rotated successfully",
        rotated_at,
    }))
}

#[utoipa::path(delete, path = "/credentials/{id}", tag = "credentials", security(("bearer" = [])),
    responses((status = 200, body = Message), (status = 404), (status = 409, description = "In use by targets")))]
pub async fn delete(
    State(state): State<AppState>,
    Operator(_caller): Operator,
    Path(id): Path<i64>,
) -> ApiResult<Json<Message>> {
    credentials::delete(&state.core, id).await?;
    Ok(Json(Message::new("Credential deleted successfully")))
}

#[utoipa::path(delete, path = "/credentials/by-name/{name}", tag = "credentials", security(("bearer" = [])),
    responses((status = 200, body = Message), (status = 404), (status = 409, description = "In use by targets")))]
pub async fn delete_by_name(
    State(state): State<AppState>,
    Operator(_caller): Operator,
    Path(name): Path<String>,
    audit: AuditSlot,
) -> ApiResult<Json<Message>> {
    let id = credentials::delete_by_name(&state.core, &name).await?;
    audit.set_resource_id(id);
    audit.detail("name", name);
    Ok(Json(Message::new("Credential deleted successfully")))
}

/// The credential with its data; secret values are masked, and every call is audited.
#[utoipa::path(get, path = "/credentials/{id}/decrypt", tag = "credentials", security(("bearer" = [])),
    responses((status = 200, body = MaskedCredential), (status = 403), (status = 404)))]
pub async fn decrypt(
    State(state): State<AppState>,
    Admin(caller): Admin,
    client: ClientInfo,
    Path(id): Path<i64>,
) -> ApiResult<Json<MaskedCredential>> {
    let result = credentials::decrypt_masked(&state.core, id).await;
    let status = match &result {
        Ok(_) => 200,
        Err(opsconductor_core::Error::NotFound(_)) => 404,
        Err(_) => 409,
    };
    audit::record(
        &state.core,
        Event {
            actor_id: Some(caller.id),
            actor_name: Some(caller.username.clone()),
            action: "credential.decrypt".into(),
            resource_type: Some("credential".into()),
            resource_id: Some(id.to_string()),
            ip: client.ip,
            user_agent: client.user_agent,
            outcome: if status == 200 { "success" } else { "failure" }.into(),
            status_code: status,
            ..Default::default()
        },
    )
    .await?;
    let (credential, credential_data) = result?;
    Ok(Json(MaskedCredential {
        credential,
        credential_data,
    }))
}
