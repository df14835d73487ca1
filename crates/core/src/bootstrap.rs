//! First start: create the first admin. There is never a default password.

use opsconductor_store::users as user_store;

use crate::secrets::{random_token, write_private_file};
use crate::types::Role;
use crate::users::{CreateUser, create_with_role};
use crate::{Core, Error, Result};

/// What happened at bootstrap, so the caller can say it once.
#[derive(Debug, PartialEq, Eq)]
pub enum FirstAdmin {
    /// Users already exist: nothing was done.
    NotNeeded,
    /// Created with the configured `admin_password`.
    FromConfig,
    /// Created with a generated password, written to the returned file.
    Generated {
        password: String,
        file: std::path::PathBuf,
    },
}

/// Creates `admin` when the database has no users.
pub async fn ensure_first_admin(core: &Core) -> Result<FirstAdmin> {
    if user_store::count(&core.db).await? > 0 {
        return Ok(FirstAdmin::NotNeeded);
    }
    let (password, generated) = match &core.config.admin_password {
        Some(p) => (p.expose().to_string(), false),
        None => (random_token(18), true),
    };
    let input = CreateUser {
        email: "admin@localhost".into(),
        username: "admin".into(),
        password: password.clone(),
        role: None,
    };
    match create_with_role(core, &input, Some(Role::Admin)).await {
        Ok(_) => {}
        // Another node created it first.
        Err(Error::Conflict(_)) => return Ok(FirstAdmin::NotNeeded),
        Err(Error::Validation(_)) => {
            return Err(anyhow::anyhow!(
                "OPSCONDUCTOR_ADMIN_PASSWORD must be at least {} characters long",
                core.config.auth.min_password_length
            )
            .into());
        }
        Err(e) => return Err(e),
    }
    if !generated {
        return Ok(FirstAdmin::FromConfig);
    }
    let file = core.config.data_dir.join("initial-admin-password");
    write_private_file(&file, format!("{password}\n").as_bytes())
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", file.display()))?;
    Ok(FirstAdmin::Generated { password, file })
}
