//! Access tokens (HS256 JWT, short-lived) and refresh tokens (opaque, single use, hashed at rest).

use std::path::Path;

use anyhow::Context;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::Config;
use crate::secrets::{random_token, write_private_file};
use crate::types::Role;

/// Claims of an access token. `user_id`/`username` are kept for clients of the older product.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessClaims {
    pub sub: String,
    pub user_id: i64,
    pub username: String,
    pub role: Role,
    pub token_version: i64,
    pub jti: String,
    pub iat: i64,
    pub exp: i64,
    #[serde(rename = "type")]
    pub kind: String,
}

/// The HS256 signing keys of this deployment.
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    access_ttl_secs: i64,
}

impl TokenKeys {
    pub fn from_secret(secret: &[u8], access_ttl_secs: u64) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 5;
        validation.set_required_spec_claims(&["exp", "sub"]);
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            access_ttl_secs: i64::try_from(access_ttl_secs).unwrap_or(i64::MAX / 2),
        }
    }

    /// Keys from `auth.jwt_secret`, or from `<data_dir>/jwt-secret`, created (0600) on first use.
    pub fn load(config: &Config) -> anyhow::Result<Self> {
        let ttl = config.auth.access_token_ttl_secs;
        if let Some(secret) = &config.auth.jwt_secret {
            anyhow::ensure!(
                secret.expose().len() >= 32,
                "auth.jwt_secret must be at least 32 characters long"
            );
            return Ok(Self::from_secret(secret.expose().as_bytes(), ttl));
        }
        let path = config.data_dir.join("jwt-secret");
        let secret = read_or_create_secret(&path)?;
        Ok(Self::from_secret(secret.as_bytes(), ttl))
    }

    pub fn access_ttl_secs(&self) -> i64 {
        self.access_ttl_secs
    }

    /// Signs a new access token for the user.
    pub fn issue_access(
        &self,
        user_id: i64,
        username: &str,
        role: Role,
        token_version: i64,
    ) -> anyhow::Result<String> {
        let now = chrono::Utc::now().timestamp();
        let claims = AccessClaims {
            sub: user_id.to_string(),
            user_id,
            username: username.to_string(),
            role,
            token_version,
            jti: uuid::Uuid::new_v4().to_string(),
            iat: now,
            exp: now + self.access_ttl_secs,
            kind: "access".into(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .context("cannot sign access token")
    }

    /// The claims of a valid, unexpired access token; `None` for anything else.
    pub fn verify_access(&self, token: &str) -> Option<AccessClaims> {
        let data =
            jsonwebtoken::decode::<AccessClaims>(token, &self.decoding, &self.validation).ok()?;
        (data.claims.kind == "access" && data.claims.sub == data.claims.user_id.to_string())
            .then_some(data.claims)
    }
}

fn read_or_create_secret(path: &Path) -> anyhow::Result<String> {
    match std::fs::read_to_string(path) {
        Ok(text) if text.trim().len() >= 32 => Ok(text.trim().to_string()),
        Ok(_) => anyhow::bail!("{} is too short to be a signing secret", path.display()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("cannot create {}", dir.display()))?;
            }
            let secret = random_token(48);
            write_private_file(path, secret.as_bytes())
                .with_context(|| format!("cannot write {}", path.display()))?;
            Ok(secret)
        }
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// A fresh refresh token: what the client gets and what the database keeps.
pub struct NewRefreshToken {
    pub token: String,
    pub hash: String,
}

pub fn new_refresh_token() -> NewRefreshToken {
    let token = random_token(32);
    let hash = hash_refresh_token(&token);
    NewRefreshToken { token, hash }
}

/// The at-rest form of a refresh token.
pub fn hash_refresh_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_tokens_round_trip_and_reject_tampering() {
        let keys = TokenKeys::from_secret(&[7u8; 32], 900);
        let token = keys
            .issue_access(42, "ops", Role::Operator, 3)
            .expect("sign");
        let claims = keys.verify_access(&token).expect("valid");
        assert_eq!(
            (claims.user_id, claims.role, claims.token_version),
            (42, Role::Operator, 3)
        );
        let other = TokenKeys::from_secret(&[8u8; 32], 900);
        assert!(other.verify_access(&token).is_none());
        assert!(keys.verify_access("not.a.jwt").is_none());
    }

    #[test]
    fn expired_access_tokens_are_refused() {
        let keys = TokenKeys::from_secret(&[7u8; 32], 900);
        let claims = AccessClaims {
            sub: "1".into(),
            user_id: 1,
            username: "a".into(),
            role: Role::Admin,
            token_version: 1,
            jti: "j".into(),
            iat: 0,
            exp: chrono::Utc::now().timestamp() - 60,
            kind: "access".into(),
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &keys.encoding)
            .expect("sign");
        assert!(keys.verify_access(&token).is_none());
    }

    #[test]
    fn refresh_tokens_are_stored_hashed() {
        let t = new_refresh_token();
        assert_ne!(t.token, t.hash);
        assert_eq!(hash_refresh_token(&t.token), t.hash);
        assert!(t.token.len() >= 43);
    }
}
