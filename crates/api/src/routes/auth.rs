//! `/api/login`, `/api/refresh`, `/api/verify`, `/api/revoke-all`, `/api/register` (contract §2).

use axum::extract::State;
use axum::http::StatusCode;
use opsconductor_core::Error;
use opsconductor_core::auth::{self as auth_service, TokenPair};
use opsconductor_core::types::Role;
use opsconductor_core::users::{self, CreateUser, User};
use serde::{Deserialize, Serialize};

use crate::audit_layer::AuditSlot;
use crate::authn::{AuthUser, ClientInfo};
use crate::error::ApiResult;
use crate::extract::Json;
use crate::routes::Message;
use crate::state::AppState;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct RegisterRequest {
    pub email: String,
    pub username: String,
    pub password: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct VerifiedUser {
    pub id: i64,
    pub username: String,
    pub email: String,
    pub role: Role,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct VerifyResponse {
    pub valid: bool,
    pub user: VerifiedUser,
}

/// Longest password we will spend a hash on; anything longer cannot be a stored password.
const MAX_PASSWORD_BYTES: usize = 1024;

/// Sign in with a username and password.
#[utoipa::path(post, path = "/api/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = TokenPair), (status = 401, description = "Invalid username or password"),
              (status = 429, description = "Too many failed attempts; see Retry-After")))]
pub async fn login(
    State(state): State<AppState>,
    client: ClientInfo,
    audit: AuditSlot,
    Json(body): Json<LoginRequest>,
) -> ApiResult<Json<TokenPair>> {
    audit.set_actor_name(&body.username);
    if body.username.len() > 256 || body.password.len() > MAX_PASSWORD_BYTES {
        return Err(Error::Unauthorized("Invalid username or password".into()).into());
    }
    let pair = auth_service::login(
        &state.core,
        &body.username,
        &body.password,
        client.ip.as_deref(),
    )
    .await?;
    audit.set_actor(pair.user.id, &pair.user.username);
    audit.set_resource_id(pair.user.id);
    Ok(Json(pair))
}

/// Exchange a refresh token (single use) for a new token pair.
#[utoipa::path(post, path = "/api/refresh", tag = "auth", request_body = RefreshRequest,
    responses((status = 200, body = TokenPair), (status = 401, description = "Invalid, expired, reused or revoked")))]
pub async fn refresh(
    State(state): State<AppState>,
    audit: AuditSlot,
    Json(body): Json<RefreshRequest>,
) -> ApiResult<Json<TokenPair>> {
    let pair = auth_service::refresh(&state.core, &body.refresh_token).await?;
    audit.set_actor(pair.user.id, &pair.user.username);
    Ok(Json(pair))
}

/// Check an access token and return its user with the current role.
#[utoipa::path(get, path = "/api/verify", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = VerifyResponse), (status = 401, description = "Invalid token")))]
pub async fn verify(AuthUser(caller): AuthUser) -> Json<VerifyResponse> {
    Json(VerifyResponse {
        valid: true,
        user: VerifiedUser {
            id: caller.id,
            username: caller.username,
            email: caller.email,
            role: caller.role,
        },
    })
}

/// Sign out this session: its refresh token (used or not) and every token renewed from the same
/// sign-in stop working. No bearer token is needed (an expired session can still sign out);
/// an unknown token gets the same answer. Access tokens already issued expire on their own
/// (`auth.access_token_ttl_secs`); `/api/revoke-all` ends those too.
#[utoipa::path(post, path = "/api/logout", tag = "auth", request_body = RefreshRequest,
    responses((status = 200, body = Message)))]
pub async fn logout(
    State(state): State<AppState>,
    audit: AuditSlot,
    Json(body): Json<RefreshRequest>,
) -> ApiResult<Json<Message>> {
    if let Some((user_id, username)) =
        auth_service::logout(&state.core, &body.refresh_token).await?
    {
        audit.set_actor(user_id, &username);
        audit.set_resource_id(user_id);
    }
    Ok(Json(Message::new("Signed out")))
}

/// Sign out everywhere: every token issued to the caller so far stops working.
#[utoipa::path(post, path = "/api/revoke-all", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = Message), (status = 401, description = "Invalid token")))]
pub async fn revoke_all(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
) -> ApiResult<Json<Message>> {
    auth_service::revoke_all(&state.core, caller.id).await?;
    Ok(Json(Message::new("All tokens revoked successfully")))
}

/// Create a viewer account (only when `auth.allow_registration` is on).
#[utoipa::path(post, path = "/api/register", tag = "auth", request_body = RegisterRequest,
    responses((status = 201, body = User), (status = 403, description = "Registration is disabled"),
              (status = 409, description = "Duplicate"), (status = 422, description = "Invalid field")))]
pub async fn register(
    State(state): State<AppState>,
    audit: AuditSlot,
    Json(body): Json<RegisterRequest>,
) -> ApiResult<(StatusCode, Json<User>)> {
    if !state.core.config.auth.allow_registration {
        return Err(Error::Forbidden("Self-registration is disabled".into()).into());
    }
    audit.set_actor_name(&body.username);
    let input = CreateUser {
        email: body.email,
        username: body.username,
        password: body.password,
        role: None,
    };
    let user = users::create_with_role(&state.core, &input, Some(Role::Viewer)).await?;
    audit.set_actor(user.id, &user.username);
    audit.set_resource_id(user.id);
    Ok((StatusCode::CREATED, Json(user)))
}
