//! Appends one audit entry for every mutating request (and every login), whatever its outcome:
//! the route decides the action name, the auth extractor fills in the actor, handlers may add
//! the resource id and details, and error responses leave their message.

use std::sync::{Arc, Mutex};

use axum::extract::{MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use opsconductor_core::audit::{self, Event};
use serde_json::{Map, Value};

use crate::authn::ClientInfo;
use crate::error::ErrorMessage;
use crate::state::AppState;

#[derive(Debug, Default)]
struct Note {
    actor_id: Option<i64>,
    actor_name: Option<String>,
    resource_id: Option<String>,
    details: Map<String, Value>,
}

/// Per-request scratchpad that handlers and extractors fill in for the audit entry.
#[derive(Debug, Clone, Default)]
pub struct AuditSlot(Arc<Mutex<Note>>);

impl AuditSlot {
    fn with<R>(&self, f: impl FnOnce(&mut Note) -> R) -> R {
        let mut guard = match self.0.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        f(&mut guard)
    }

    pub fn set_actor(&self, id: i64, name: &str) {
        self.with(|n| {
            n.actor_id = Some(id);
            n.actor_name = Some(name.to_string());
        });
    }

    /// The name someone tried to act as (a login attempt), without an id.
    pub fn set_actor_name(&self, name: &str) {
        self.with(|n| n.actor_name = Some(name.chars().take(128).collect()));
    }

    pub fn set_resource_id(&self, id: impl ToString) {
        self.with(|n| n.resource_id = Some(id.to_string()));
    }

    /// Adds a detail; never pass a secret.
    pub fn detail(&self, key: &str, value: impl Into<Value>) {
        self.with(|n| {
            n.details.insert(key.to_string(), value.into());
        });
    }

    fn take(&self) -> Note {
        self.with(std::mem::take)
    }
}

fn is_mutation(method: &Method) -> bool {
    matches!(
        *method,
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    )
}

/// The action name and resource type of a route: one table for the whole API.
fn describe(method: &Method, route: &str) -> (String, Option<String>) {
    let named = |action: &str, resource: &str| (action.to_string(), Some(resource.to_string()));
    match (method.as_str(), route) {
        ("POST", "/api/login" | "/auth/login") => named("auth.login", "session"),
        ("POST", "/api/refresh" | "/refresh" | "/auth/refresh") => named("auth.refresh", "session"),
        ("POST", "/api/logout" | "/auth/logout") => named("auth.logout", "session"),
        ("POST", "/api/revoke-all" | "/revoke-all" | "/auth/revoke-all") => {
            named("auth.revoke_all", "session")
        }
        ("POST", "/api/register") => named("auth.register", "user"),
        ("POST", "/users") => named("user.create", "user"),
        ("PUT", "/users/{id}") => named("user.update", "user"),
        ("DELETE", "/users/{id}") => named("user.delete", "user"),
        ("POST", "/users/{id}/roles") => named("user.assign_role", "user"),
        ("POST", "/credentials") => named("credential.create", "credential"),
        ("PUT", "/credentials/{id}") => named("credential.update", "credential"),
        ("POST", "/credentials/{id}/rotate") => named("credential.rotate", "credential"),
        ("DELETE", "/credentials/{id}") => named("credential.delete", "credential"),
        ("DELETE", "/credentials/by-name/{name}") => named("credential.delete", "credential"),
        ("POST", "/targets") => named("target.create", "target"),
        ("POST", "/targets/import") => named("target.import", "target"),
        ("PUT", "/targets/{id}") => named("target.update", "target"),
        ("DELETE", "/targets/{id}") => named("target.delete", "target"),
        ("DELETE", "/targets/by-name/{name}") => named("target.delete", "target"),
        ("POST", "/targets/{id}/test" | "/targets/{id}/test-winrm") => {
            named("target.test", "target")
        }
        ("POST", "/targets/{id}/host-key/reset") => named("target.host_key_reset", "target"),
        ("POST", "/jobs") => named("job.create", "job"),
        ("PUT", "/jobs/{id}") => named("job.update", "job"),
        ("DELETE", "/jobs/{id}") => named("job.delete", "job"),
        ("POST", "/jobs/{id}/plan") => named("job.plan", "job"),
        ("POST", "/jobs/{id}/run") => named("job.run", "job"),
        ("POST", "/runs/{id}/cancel") => named("run.cancel", "run"),
        ("POST", "/runs/{id}/rerun") => named("run.rerun", "run"),
        _ => {
            let resource = route
                .trim_start_matches('/')
                .trim_start_matches("api/")
                .split('/')
                .next()
                .unwrap_or("")
                .to_string();
            (
                format!("{} {route}", method.as_str()),
                (!resource.is_empty()).then_some(resource),
            )
        }
    }
}

/// The value of the first `{param}` segment of `route` in `path`: the resource id.
fn path_resource_id(route: &str, path: &str) -> Option<String> {
    route
        .split('/')
        .zip(path.split('/'))
        .find(|(template, _)| template.starts_with('{'))
        .map(|(_, value)| value.chars().take(128).collect())
}

fn outcome(status: u16) -> &'static str {
    match status {
        200..=399 => "success",
        401 | 403 | 429 => "denied",
        _ => "failure",
    }
}

/// The middleware: see the module docs.
pub async fn record_mutations(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    if !is_mutation(request.method()) {
        return next.run(request).await;
    }
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_else(|| request.uri().path().to_string());
    let (mut parts, body) = request.into_parts();
    let client = ClientInfo::from_parts(&parts, state.core.config.http.trust_forwarded_for);
    let (action, resource_type) = describe(&parts.method, &route);
    let path_id = path_resource_id(&route, parts.uri.path());
    let slot = AuditSlot::default();
    parts.extensions.insert(slot.clone());

    let response = next.run(Request::from_parts(parts, body)).await;

    let status = response.status().as_u16();
    let mut note = slot.take();
    if let Some(ErrorMessage(msg)) = response.extensions().get::<ErrorMessage>() {
        note.details
            .insert("error".into(), Value::String(msg.clone()));
    }
    let event = Event {
        actor_id: note.actor_id,
        actor_name: note.actor_name,
        action,
        resource_type,
        resource_id: note.resource_id.or(path_id),
        ip: client.ip,
        user_agent: client.user_agent,
        outcome: outcome(status).into(),
        status_code: status,
        details: Value::Object(note.details),
    };
    if let Err(err) = audit::record(&state.core, event).await {
        metrics::counter!("opsconductor_audit_write_failures_total").increment(1);
        tracing::error!(error = %err, "could not write the audit entry");
    }
    response
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for AuditSlot {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        // Outside the audit layer (reads), notes go nowhere.
        Ok(parts
            .extensions
            .get::<AuditSlot>()
            .cloned()
            .unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_name_their_action_and_resource() {
        assert_eq!(describe(&Method::POST, "/users").0, "user.create");
        assert_eq!(describe(&Method::POST, "/auth/login").0, "auth.login");
        assert_eq!(
            describe(&Method::POST, "/targets/{id}/test").0,
            "target.test"
        );
        assert_eq!(describe(&Method::POST, "/jobs/{id}/run").0, "job.run");
        let (action, resource) = describe(&Method::POST, "/schedules/{id}/pause");
        assert_eq!(action, "POST /schedules/{id}/pause");
        assert_eq!(resource.as_deref(), Some("schedules"));
    }

    #[test]
    fn resource_id_comes_from_the_first_path_parameter() {
        assert_eq!(
            path_resource_id("/users/{id}/roles", "/users/42/roles").as_deref(),
            Some("42")
        );
        assert_eq!(path_resource_id("/users", "/users"), None);
    }

    #[test]
    fn status_codes_map_to_outcomes() {
        assert_eq!(outcome(201), "success");
        assert_eq!(outcome(429), "denied");
        assert_eq!(outcome(422), "failure");
    }
}
