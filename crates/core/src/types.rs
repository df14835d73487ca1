//! Validated domain values: once constructed they are known to be well-formed.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::{Error, FieldError};

/// What a user may do. Ordered: admin > operator > viewer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    Operator,
    Viewer,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Admin, Role::Operator, Role::Viewer];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Operator => "operator",
            Role::Viewer => "viewer",
        }
    }

    /// True when this role may do what `required` may.
    pub fn at_least(self, required: Role) -> bool {
        self.rank() >= required.rank()
    }

    fn rank(self) -> u8 {
        match self {
            Role::Viewer => 0,
            Role::Operator => 1,
            Role::Admin => 2,
        }
    }
}

impl FromStr for Role {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "admin" => Ok(Role::Admin),
            "operator" => Ok(Role::Operator),
            "viewer" => Ok(Role::Viewer),
            _ => Err(()),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A login name: 1–64 characters from letters, digits and `. _ - @`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username(String);

impl Username {
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        let value = raw.trim();
        if value.is_empty() || value.chars().count() > 64 {
            return Err(FieldError::body(
                field,
                "string_length",
                "Username must be 1 to 64 characters long",
            ));
        }
        if !value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'))
        {
            return Err(FieldError::body(
                field,
                "string_pattern",
                "Username may contain only letters, digits and . _ - @",
            ));
        }
        Ok(Self(value.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An e-mail address, syntax-checked and stored lowercase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        let value = raw.trim().to_ascii_lowercase();
        if value.len() > 254 || !email_address::EmailAddress::is_valid(&value) {
            return Err(FieldError::body(
                field,
                "value_error",
                "value is not a valid email address",
            ));
        }
        Ok(Self(value))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A new password that meets the policy (minimum length, at most 1024 bytes).
#[derive(Clone)]
pub struct NewPassword(String);

impl NewPassword {
    pub fn parse(field: &str, raw: &str, min_length: usize) -> Result<Self, FieldError> {
        if raw.chars().count() < min_length {
            return Err(FieldError::body(
                field,
                "string_too_short",
                format!("Password must be at least {min_length} characters long"),
            ));
        }
        if raw.len() > 1024 {
            return Err(FieldError::body(
                field,
                "string_too_long",
                "Password must be at most 1024 bytes long",
            ));
        }
        Ok(Self(raw.to_string()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for NewPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NewPassword(***)")
    }
}

/// Collects field errors so a request reports every bad field at once.
#[derive(Debug, Default)]
pub struct Checks(Vec<FieldError>);

impl Checks {
    /// Keeps the value, or records the error and yields `None`.
    pub fn take<T>(&mut self, result: Result<T, FieldError>) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(e) => {
                self.0.push(e);
                None
            }
        }
    }

    pub fn push(&mut self, error: FieldError) {
        self.0.push(error);
    }

    /// `Ok` when nothing failed.
    pub fn finish(self) -> Result<(), Error> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(Error::Validation(self.0))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_reject_spaces_and_overlong_names() {
        assert!(Username::parse("u", "alice.ops").is_ok());
        assert!(Username::parse("u", "al ice").is_err());
        assert!(Username::parse("u", "").is_err());
        assert!(Username::parse("u", &"a".repeat(65)).is_err());
    }

    #[test]
    fn emails_are_lowercased_and_checked() {
        assert_eq!(
            Email::parse("e", "Ops@Example.COM").map(|e| e.0).ok(),
            Some("ops@example.com".into())
        );
        assert!(Email::parse("e", "not-an-email").is_err());
        assert!(Email::parse("e", "admin@localhost").is_ok());
    }

    #[test]
    fn password_policy_counts_characters() {
        assert!(NewPassword::parse("p", "short", 8).is_err());
        assert!(NewPassword::parse("p", "long enough", 8).is_ok());
        assert!(NewPassword::parse("p", &"x".repeat(1025), 8).is_err());
    }

    #[test]
    fn roles_are_ordered() {
        assert!(Role::Admin.at_least(Role::Operator));
        assert!(!Role::Viewer.at_least(Role::Operator));
        assert_eq!("operator".parse::<Role>(), Ok(Role::Operator));
        assert!("root".parse::<Role>().is_err());
    }
}
