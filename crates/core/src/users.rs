//! User management: contract §3 with the rebuild's rules (validation, self-service limits,
//! no lockout of the last admin).

use opsconductor_store::users::{self as store, NewUser, UserChanges, UserRecord};
use serde::{Deserialize, Serialize};

use crate::auth::Caller;
use crate::types::{Checks, Email, NewPassword, Role, Username};
use crate::{Core, Error, FieldError, Result};
use opsconductor_store::UtcTime;

/// A user as the API shows it (never the hash).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct User {
    pub id: i64,
    pub email: String,
    pub username: String,
    pub role: Role,
    pub created_at: UtcTime,
    pub token_version: i64,
}

impl TryFrom<UserRecord> for User {
    type Error = Error;
    fn try_from(r: UserRecord) -> Result<Self> {
        let role = r
            .role
            .parse()
            .map_err(|_| anyhow::anyhow!("user {} has an unknown role in the database", r.id))?;
        Ok(User {
            id: r.id,
            email: r.email,
            username: r.username,
            role,
            created_at: r.created_at,
            token_version: r.token_version,
        })
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct CreateUser {
    pub email: String,
    pub username: String,
    pub password: String,
    #[serde(default)]
    pub role: Option<String>,
}

/// Changes to a user; absent or empty fields stay as they are.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct UpdateUser {
    pub email: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub role: Option<String>,
    /// Required when users change their own account.
    pub current_password: Option<String>,
}

fn parse_role(field: &str, raw: &str) -> std::result::Result<Role, FieldError> {
    raw.parse().map_err(|_| {
        FieldError::body(
            field,
            "enum",
            "Invalid role. Must be one of: admin, operator, viewer",
        )
    })
}

fn duplicate(err: opsconductor_store::StoreError, msg: &str) -> Error {
    match err {
        opsconductor_store::StoreError::UniqueViolation => Error::Conflict(msg.into()),
        other => other.into(),
    }
}

fn not_found() -> Error {
    Error::NotFound("User not found".into())
}

/// Admins see every user; everyone else sees only themselves.
pub async fn list(core: &Core, caller: &Caller, skip: i64, limit: i64) -> Result<(Vec<User>, i64)> {
    if caller.role != Role::Admin {
        let me = get(core, caller, caller.id).await?;
        return Ok((vec![me], 1));
    }
    let (rows, total) = store::list(&core.db, skip, limit).await?;
    let users = rows
        .into_iter()
        .map(User::try_from)
        .collect::<Result<Vec<_>>>()?;
    Ok((users, total))
}

/// Creates a user (admin only, checked by the caller's extractor).
pub async fn create(core: &Core, input: &CreateUser) -> Result<User> {
    create_with_role(core, input, None).await
}

/// Creates a user; `forced_role` overrides the requested role (self-registration).
pub async fn create_with_role(
    core: &Core,
    input: &CreateUser,
    forced_role: Option<Role>,
) -> Result<User> {
    let mut checks = Checks::default();
    let email = checks.take(Email::parse("email", &input.email));
    let username = checks.take(Username::parse("username", &input.username));
    let password = checks.take(NewPassword::parse(
        "password",
        &input.password,
        core.config.auth.min_password_length,
    ));
    let role = match (forced_role, input.role.as_deref()) {
        (Some(role), _) => Some(role),
        (None, None | Some("")) => Some(Role::Viewer),
        (None, Some(raw)) => checks.take(parse_role("role", raw)),
    };
    checks.finish()?;
    let (Some(email), Some(username), Some(password), Some(role)) =
        (email, username, password, role)
    else {
        return Err(anyhow::anyhow!("validated user fields missing").into());
    };
    let pwd_hash = core.passwords.hash(password.expose()).await?;
    let record = store::insert(
        &core.db,
        &NewUser {
            email: email.as_str(),
            username: username.as_str(),
            pwd_hash: &pwd_hash,
            role: role.as_str(),
        },
    )
    .await
    .map_err(|e| duplicate(e, "User with this email or username already exists"))?;
    User::try_from(record)
}

/// Admins read anyone; others only themselves.
pub async fn get(core: &Core, caller: &Caller, id: i64) -> Result<User> {
    if caller.role != Role::Admin && caller.id != id {
        return Err(Error::Forbidden("Access denied".into()));
    }
    let record = store::get(&core.db, id).await?.ok_or_else(not_found)?;
    User::try_from(record)
}

fn non_empty(value: &Option<String>) -> Option<&str> {
    value.as_deref().filter(|v| !v.is_empty())
}

/// Updates a user. Admins may change anyone (but not their own role); others may change only
/// their own email, username and password, and must confirm with their current password.
/// A password change bumps the token version: the user is signed out everywhere. (Roles are
/// re-read on every request, so a role change applies at once without that.)
pub async fn update(core: &Core, caller: &Caller, id: i64, input: &UpdateUser) -> Result<User> {
    let is_self = caller.id == id;
    if caller.role != Role::Admin && !is_self {
        return Err(Error::Forbidden("Access denied".into()));
    }
    let existing = store::get(&core.db, id).await?.ok_or_else(not_found)?;
    let mut checks = Checks::default();
    let email = non_empty(&input.email).and_then(|v| checks.take(Email::parse("email", v)));
    let username =
        non_empty(&input.username).and_then(|v| checks.take(Username::parse("username", v)));
    let password = non_empty(&input.password).and_then(|v| {
        checks.take(NewPassword::parse(
            "password",
            v,
            core.config.auth.min_password_length,
        ))
    });
    let role = non_empty(&input.role).and_then(|v| checks.take(parse_role("role", v)));
    checks.finish()?;

    let role_changes = role.is_some_and(|r| r.as_str() != existing.role);
    if is_self && role_changes {
        return Err(Error::Forbidden("Cannot change your own role".into()));
    }
    let changes_anything =
        email.is_some() || username.is_some() || password.is_some() || role_changes;
    if is_self && changes_anything {
        let Some(current) = non_empty(&input.current_password) else {
            return Err(Error::field(
                "current_password",
                "missing",
                "Your current password is required to change your own account",
            ));
        };
        if !core.passwords.verify(current, &existing.pwd_hash).await?.ok {
            return Err(Error::Forbidden("Current password is incorrect".into()));
        }
    }
    if role_changes && existing.role == Role::Admin.as_str() {
        ensure_another_admin(core).await?;
    }
    let pwd_hash = match &password {
        Some(p) => Some(core.passwords.hash(p.expose()).await?),
        None => None,
    };
    let changes = UserChanges {
        email: email.map(|e| e.as_str().to_string()),
        username: username.map(|u| u.as_str().to_string()),
        pwd_hash,
        role: role
            .filter(|_| role_changes)
            .map(|r| r.as_str().to_string()),
    };
    let revoke = changes.pwd_hash.is_some();
    store::update(&core.db, id, &changes)
        .await
        .map_err(|e| duplicate(e, "Email or username already exists"))?
        .ok_or_else(not_found)?;
    if revoke {
        store::bump_token_version(&core.db, id).await?;
    }
    core.sessions.invalidate(id);
    let record = store::get(&core.db, id).await?.ok_or_else(not_found)?;
    User::try_from(record)
}

async fn ensure_another_admin(core: &Core) -> Result<()> {
    if store::count_with_role(&core.db, Role::Admin.as_str()).await? <= 1 {
        return Err(Error::Conflict("Cannot remove the last admin".into()));
    }
    Ok(())
}

/// Deletes a user (admin only); never yourself; 409 while other records reference the user.
pub async fn delete(core: &Core, caller: &Caller, id: i64) -> Result<()> {
    if caller.id == id {
        return Err(Error::BadRequest("Cannot delete your own account".into()));
    }
    let existing = store::get(&core.db, id).await?.ok_or_else(not_found)?;
    if existing.role == Role::Admin.as_str() {
        ensure_another_admin(core).await?;
    }
    let deleted = store::delete(&core.db, id).await.map_err(|e| match e {
        opsconductor_store::StoreError::ForeignKeyViolation => {
            Error::Conflict("Cannot delete user: it is referenced by jobs or runs".into())
        }
        other => other.into(),
    })?;
    core.sessions.invalidate(id);
    if !deleted {
        return Err(not_found());
    }
    Ok(())
}

/// Assigns a role (admin only). Contract: an unknown role is a 400 with the allowed list.
pub async fn assign_role(core: &Core, caller: &Caller, id: i64, raw_role: &str) -> Result<Role> {
    let role: Role = raw_role.parse().map_err(|_| {
        Error::BadRequest("Invalid role. Must be one of: admin, operator, viewer".into())
    })?;
    let existing = store::get(&core.db, id).await?.ok_or_else(not_found)?;
    if existing.role == role.as_str() {
        return Ok(role);
    }
    if caller.id == id {
        return Err(Error::Forbidden("Cannot change your own role".into()));
    }
    if existing.role == Role::Admin.as_str() {
        ensure_another_admin(core).await?;
    }
    let changes = UserChanges {
        role: Some(role.as_str().to_string()),
        ..Default::default()
    };
    store::update(&core.db, id, &changes)
        .await?
        .ok_or_else(not_found)?;
    core.sessions.invalidate(id);
    Ok(role)
}

/// Sets a new password for `username` (operator tooling) and signs the user out everywhere.
pub async fn reset_password(core: &Core, username: &str, password: &str) -> Result<User> {
    let password = NewPassword::parse("password", password, core.config.auth.min_password_length)
        .map_err(|e| Error::Validation(vec![e]))?;
    let existing = store::by_username(&core.db, username)
        .await?
        .ok_or_else(not_found)?;
    let changes = UserChanges {
        pwd_hash: Some(core.passwords.hash(password.expose()).await?),
        ..Default::default()
    };
    store::update(&core.db, existing.id, &changes)
        .await?
        .ok_or_else(not_found)?;
    store::bump_token_version(&core.db, existing.id).await?;
    core.sessions.invalidate(existing.id);
    let record = store::get(&core.db, existing.id)
        .await?
        .ok_or_else(not_found)?;
    User::try_from(record)
}
