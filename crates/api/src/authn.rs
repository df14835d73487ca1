//! Who is calling: roles as extractor types, so a handler's signature says who may call it.
//!
//! Any missing, malformed, expired or revoked token is a 401 with `WWW-Authenticate: Bearer`;
//! a valid token with too little role is a 403.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header;
use axum::http::request::Parts;
use opsconductor_core::Error;
use opsconductor_core::auth::{self, Caller};
use opsconductor_core::types::Role;

use crate::audit_layer::AuditSlot;
use crate::error::ApiError;
use crate::state::AppState;

/// Any signed-in user.
pub struct AuthUser(pub Caller);
/// An admin or an operator.
pub struct Operator(pub Caller);
/// An admin.
pub struct Admin(pub Caller);

/// The bearer token of a request, if it carries one.
fn bearer(parts: &Parts) -> Result<&str, ApiError> {
    let value = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| ApiError(Error::Unauthorized("Not authenticated".into())))?;
    let (scheme, token) = value
        .split_once(' ')
        .ok_or_else(|| ApiError(Error::Unauthorized("Not authenticated".into())))?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(ApiError(Error::Unauthorized("Not authenticated".into())));
    }
    Ok(token.trim())
}

async fn caller(parts: &mut Parts, state: &AppState) -> Result<Caller, ApiError> {
    if let Some(caller) = parts.extensions.get::<Caller>() {
        return Ok(caller.clone());
    }
    let token = bearer(parts)?;
    let caller = auth::authenticate(&state.core, token).await?;
    if let Some(slot) = parts.extensions.get::<AuditSlot>() {
        slot.set_actor(caller.id, &caller.username);
    }
    parts.extensions.insert(caller.clone());
    Ok(caller)
}

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        caller(parts, state).await.map(AuthUser)
    }
}

impl FromRequestParts<AppState> for Operator {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let caller = caller(parts, state).await?;
        if !caller.role.at_least(Role::Operator) {
            return Err(ApiError(Error::Forbidden(
                "Admin or operator role required".into(),
            )));
        }
        Ok(Operator(caller))
    }
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let caller = caller(parts, state).await?;
        if caller.role != Role::Admin {
            return Err(ApiError(Error::Forbidden("Admin role required".into())));
        }
        Ok(Admin(caller))
    }
}

/// Where a request came from: the peer address, or the first `X-Forwarded-For` hop when
/// the operator said a trusted proxy sits in front.
#[derive(Debug, Clone)]
pub struct ClientInfo {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

impl ClientInfo {
    pub fn from_parts(parts: &Parts, trust_forwarded_for: bool) -> Self {
        let forwarded = trust_forwarded_for
            .then(|| parts.headers.get("x-forwarded-for"))
            .flatten()
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .map(|v| v.trim().to_string())
            .filter(|v| v.parse::<std::net::IpAddr>().is_ok());
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ci| ci.0.ip().to_string());
        let user_agent = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.chars().take(512).collect());
        ClientInfo {
            ip: forwarded.or(peer),
            user_agent,
        }
    }
}

impl FromRequestParts<AppState> for ClientInfo {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(ClientInfo::from_parts(
            parts,
            state.core.config.http.trust_forwarded_for,
        ))
    }
}
