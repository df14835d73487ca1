//! The OpenAPI document, served at `/api-docs/openapi.json` and browsed at `/docs`.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::routes;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "OpsConductor API", description = "Operations automation: inventory, vault, jobs, runs."),
    modifiers(&BearerAuth),
    paths(
        routes::auth::login, routes::auth::refresh, routes::auth::verify, routes::auth::revoke_all, routes::auth::logout,
        routes::auth::register,
        routes::users::list, routes::users::create, routes::users::get, routes::users::update,
        routes::users::delete, routes::users::assign_role,
        routes::credentials::list, routes::credentials::create, routes::credentials::get,
        routes::credentials::update, routes::credentials::rotate, routes::credentials::delete,
        routes::credentials::delete_by_name, routes::credentials::decrypt,
        routes::targets::list, routes::targets::create, routes::targets::get, routes::targets::update,
        routes::targets::delete, routes::targets::delete_by_name, routes::targets::import,
        routes::targets::test, routes::targets::reset_host_key,
        routes::jobs::list, routes::jobs::create, routes::jobs::get, routes::jobs::update, routes::jobs::delete,
        routes::jobs::versions, routes::jobs::version, routes::jobs::plan,
        routes::runs::start, routes::runs::list, routes::runs::get, routes::runs::steps, routes::runs::log,
        routes::runs::events, routes::runs::cancel, routes::runs::rerun, routes::runs::executor_status,
        routes::audit::list, routes::audit::verify,
        routes::health::health, routes::health::ready,
    ),
    tags(
        (name = "auth", description = "Sign-in and tokens"),
        (name = "users", description = "User management"),
        (name = "credentials", description = "The credential vault"),
        (name = "targets", description = "The target inventory"),
        (name = "jobs", description = "Job definitions and their versions"),
        (name = "runs", description = "Runs, their live events and output, and the executor"),
        (name = "audit", description = "The hash-chained audit log"),
        (name = "health", description = "Liveness and readiness"),
    )
)]
pub struct ApiDoc;
