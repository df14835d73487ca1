//! Login, refresh, verify and revoke: the auth service of contract §2.

use opsconductor_store::{UtcTime, tokens as token_store, users as user_store};
use serde::Serialize;

use crate::tokens::{hash_refresh_token, new_refresh_token};
use crate::types::Role;
use crate::users::User;
use crate::{Core, Error, Result, throttle};

/// The token pair returned by login and refresh, with the user it belongs to.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TokenPair {
    pub access_token: String,
    pub refresh_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    pub user: User,
}

/// The authenticated caller of a request, with the role as stored now.
#[derive(Debug, Clone)]
pub struct Caller {
    pub id: i64,
    pub username: String,
    pub email: String,
    pub role: Role,
}

const INVALID_LOGIN: &str = "Invalid username or password";

/// Checks a username and password; on success issues a new token family.
pub async fn login(
    core: &Core,
    username: &str,
    password: &str,
    ip: Option<&str>,
) -> Result<TokenPair> {
    throttle::check(core, username, ip).await?;
    let user = user_store::by_username(&core.db, username.trim()).await?;
    let Some(user) = user else {
        core.passwords.verify_dummy(password).await?;
        throttle::record_failure(core, username, ip).await?;
        return Err(Error::Unauthorized(INVALID_LOGIN.into()));
    };
    let verified = core.passwords.verify(password, &user.pwd_hash).await?;
    if !verified.ok {
        throttle::record_failure(core, username, ip).await?;
        return Err(Error::Unauthorized(INVALID_LOGIN.into()));
    }
    throttle::record_success(core, username).await?;
    if verified.needs_rehash {
        let fresh = core.passwords.hash(password).await?;
        let changes = user_store::UserChanges {
            pwd_hash: Some(fresh),
            ..Default::default()
        };
        user_store::update(&core.db, user.id, &changes).await?;
        tracing::info!(
            user_id = user.id,
            "re-hashed a legacy password hash with argon2id"
        );
    }
    let family = uuid::Uuid::new_v4().to_string();
    issue_pair(core, User::try_from(user)?, &family).await
}

async fn issue_pair(core: &Core, user: User, family: &str) -> Result<TokenPair> {
    let refresh = new_refresh_token();
    token_store::insert(&core.db, &stored(core, &user, family, &refresh.hash)).await?;
    pair(core, user, refresh.token)
}

/// The stored form of a new refresh token of `family` for `user`.
fn stored<'a>(
    core: &Core,
    user: &User,
    family: &'a str,
    hash: &'a str,
) -> token_store::NewRefreshToken<'a> {
    let ttl = i64::try_from(core.config.auth.refresh_token_ttl_secs).unwrap_or(i64::MAX / 4);
    token_store::NewRefreshToken {
        user_id: user.id,
        family_id: family,
        token_hash: hash,
        token_version: user.token_version,
        expires_at: UtcTime::now().plus_secs(ttl),
    }
}

fn pair(core: &Core, user: User, refresh_token: String) -> Result<TokenPair> {
    let access =
        core.tokens
            .issue_access(user.id, &user.username, user.role, user.token_version)?;
    Ok(TokenPair {
        access_token: access,
        refresh_token,
        token_type: "bearer",
        expires_in: core.tokens.access_ttl_secs(),
        user,
    })
}

/// Exchanges a refresh token for a new pair. Each refresh token works once; presenting a
/// used one revokes every token of its family, since one of the two holders is a thief.
pub async fn refresh(core: &Core, refresh_token: &str) -> Result<TokenPair> {
    let invalid = || Error::Unauthorized("Invalid refresh token".into());
    let record = token_store::find_by_hash(&core.db, &hash_refresh_token(refresh_token))
        .await?
        .ok_or_else(invalid)?;
    if record.used_at.is_some() || record.revoked_at.is_some() {
        let revoked = token_store::revoke_family(&core.db, &record.family_id).await?;
        tracing::warn!(
            user_id = record.user_id,
            revoked,
            "refresh token reuse: token family revoked"
        );
        return Err(Error::Unauthorized(
            "Refresh token already used; every session from that login was revoked".into(),
        ));
    }
    if record.expires_at <= UtcTime::now() {
        return Err(Error::Unauthorized("Refresh token expired".into()));
    }
    let user = user_store::get(&core.db, record.user_id)
        .await?
        .ok_or_else(|| Error::Unauthorized("User not found".into()))?;
    if user.token_version != record.token_version {
        return Err(Error::Unauthorized("Token revoked".into()));
    }
    let user = User::try_from(user)?;
    let next = new_refresh_token();
    // Spending this token and storing its successor is one step, serialised with sign-outs
    // of the same sign-in: a concurrent reuse or sign-out leaves nothing usable behind.
    if !token_store::rotate(
        &core.db,
        record.id,
        &stored(core, &user, &record.family_id, &next.hash),
    )
    .await?
    {
        token_store::revoke_family(&core.db, &record.family_id).await?;
        return Err(Error::Unauthorized(
            "Refresh token already used; every session from that login was revoked".into(),
        ));
    }
    pair(core, user, next.token)
}

/// Resolves an access token to its user, with role and token version as stored now (or at
/// most `auth.user_cache_ttl_ms` ago when another node changed them).
pub async fn authenticate(core: &Core, access_token: &str) -> Result<Caller> {
    let claims = core
        .tokens
        .verify_access(access_token)
        .ok_or_else(|| Error::Unauthorized("Invalid token".into()))?;
    let (caller, token_version) = match core.sessions.get(claims.user_id) {
        Some(hit) => hit,
        None => {
            let epoch = core.sessions.epoch();
            let user = user_store::get(&core.db, claims.user_id)
                .await?
                .ok_or_else(|| Error::Unauthorized("User not found".into()))?;
            let role = user.role.parse::<Role>().map_err(|_| {
                anyhow::anyhow!("user {} has an unknown role in the database", user.id)
            })?;
            let caller = Caller {
                id: user.id,
                username: user.username,
                email: user.email,
                role,
            };
            core.sessions.put(epoch, caller.clone(), user.token_version);
            (caller, user.token_version)
        }
    };
    if token_version != claims.token_version {
        return Err(Error::Unauthorized("Token revoked".into()));
    }
    Ok(caller)
}

/// Signs one session out: every refresh token of the presented token's family stops working
/// (the token itself may already be used). Returns the session's user (id, name) for the
/// audit trail, or `None` for an unknown token; the caller answers the same either way.
pub async fn logout(core: &Core, refresh_token: &str) -> Result<Option<(i64, String)>> {
    let Some(record) =
        token_store::find_by_hash(&core.db, &hash_refresh_token(refresh_token)).await?
    else {
        return Ok(None);
    };
    token_store::revoke_family(&core.db, &record.family_id).await?;
    let name = user_store::get(&core.db, record.user_id)
        .await?
        .map(|u| u.username)
        .unwrap_or_default();
    Ok(Some((record.user_id, name)))
}

/// Invalidates every access and refresh token issued to the user so far.
pub async fn revoke_all(core: &Core, user_id: i64) -> Result<()> {
    let bumped = user_store::bump_token_version(&core.db, user_id).await;
    core.sessions.invalidate(user_id);
    bumped?.ok_or_else(|| Error::Unauthorized("User not found".into()))?;
    Ok(())
}
