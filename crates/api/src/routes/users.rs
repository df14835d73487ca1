//! `/users` (contract §3).

use axum::extract::State;
use axum::http::StatusCode;
use opsconductor_core::users::{self, CreateUser, UpdateUser, User};
use serde::{Deserialize, Serialize};

use crate::audit_layer::AuditSlot;
use crate::authn::{Admin, AuthUser};
use crate::error::ApiResult;
use crate::extract::{Json, Page, Path, Query};
use crate::routes::Message;
use crate::state::AppState;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UserList {
    pub users: Vec<User>,
    pub total: i64,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct RoleRequest {
    pub role: String,
}

/// Admins list everyone; others get themselves.
#[utoipa::path(get, path = "/users", tag = "users", params(Page), security(("bearer" = [])),
    responses((status = 200, body = UserList)))]
pub async fn list(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    Query(page): Query<Page>,
) -> ApiResult<Json<UserList>> {
    let (skip, limit) = page.resolve(100)?;
    let (users, total) = users::list(&state.core, &caller, skip, limit).await?;
    Ok(Json(UserList { users, total }))
}

#[utoipa::path(post, path = "/users", tag = "users", request_body = CreateUser, security(("bearer" = [])),
    responses((status = 201, body = User), (status = 409, description = "Duplicate email or username"),
              (status = 422, description = "Invalid field")))]
pub async fn create(
    State(state): State<AppState>,
    Admin(_admin): Admin,
    audit: AuditSlot,
    Json(body): Json<CreateUser>,
) -> ApiResult<(StatusCode, Json<User>)> {
    let user = users::create(&state.core, &body).await?;
    audit.set_resource_id(user.id);
    audit.detail("username", user.username.clone());
    audit.detail("role", user.role.as_str());
    Ok((StatusCode::CREATED, Json(user)))
}

#[utoipa::path(get, path = "/users/{id}", tag = "users", security(("bearer" = [])),
    responses((status = 200, body = User), (status = 403, description = "Not yours"), (status = 404)))]
pub async fn get(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    Path(id): Path<i64>,
) -> ApiResult<Json<User>> {
    Ok(Json(users::get(&state.core, &caller, id).await?))
}

#[utoipa::path(put, path = "/users/{id}", tag = "users", request_body = UpdateUser, security(("bearer" = [])),
    responses((status = 200, body = User), (status = 403), (status = 404), (status = 409), (status = 422)))]
pub async fn update(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    Path(id): Path<i64>,
    audit: AuditSlot,
    Json(body): Json<UpdateUser>,
) -> ApiResult<Json<User>> {
    let changed: Vec<&str> = [
        ("email", &body.email),
        ("username", &body.username),
        ("password", &body.password),
        ("role", &body.role),
    ]
    .iter()
    .filter(|(_, v)| v.as_deref().is_some_and(|v| !v.is_empty()))
    .map(|(k, _)| *k)
    .collect();
    audit.detail("fields", changed);
    Ok(Json(users::update(&state.core, &caller, id, &body).await?))
}

#[utoipa::path(delete, path = "/users/{id}", tag = "users", security(("bearer" = [])),
    responses((status = 200, body = Message), (status = 400, description = "Yourself"), (status = 404),
              (status = 409, description = "Referenced")))]
pub async fn delete(
    State(state): State<AppState>,
    Admin(caller): Admin,
    Path(id): Path<i64>,
) -> ApiResult<Json<Message>> {
    users::delete(&state.core, &caller, id).await?;
    Ok(Json(Message::new("User deleted successfully")))
}

#[utoipa::path(post, path = "/users/{id}/roles", tag = "users", request_body = RoleRequest, security(("bearer" = [])),
    responses((status = 200, body = Message), (status = 400, description = "Unknown role"), (status = 404)))]
pub async fn assign_role(
    State(state): State<AppState>,
    Admin(caller): Admin,
    Path(id): Path<i64>,
    audit: AuditSlot,
    Json(body): Json<RoleRequest>,
) -> ApiResult<Json<Message>> {
    let role = users::assign_role(&state.core, &caller, id, &body.role).await?;
    audit.detail("role", role.as_str());
    Ok(Json(Message::new(format!(
        "Role '{role}' assigned successfully"
    ))))
}
