//! How to reach a target with its credential: the connector settings an SSH or WinRM target
//! and its decrypted credential stand for. The engine's steps and the API's connection tests
//! both use these, so a target connects the same way in both.

use std::time::Duration;

use opsconductor_connectors::ssh::{SshAuth, SshTarget};
use opsconductor_core::credentials::{CredentialType, Resolved};
use opsconductor_core::targets::Target;
use opsconductor_winrm::{RemoteFlavor, WinrmAuth, WinrmTarget};
use serde_json::Value;

/// The longest an SSH connection may take to open, within the caller's own timeout.
const SSH_CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// The longest a WinRM connection (with its NTLM handshake) may take, within the caller's timeout.
const WINRM_CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// SSH settings: password or private key (with passphrase), the pinned host key, and a connect
/// deadline of `timeout` (at most 15 s). An error says what is wrong with the credential.
pub fn ssh_target(
    target: &Target,
    cred: &Resolved,
    timeout: Duration,
) -> Result<SshTarget, String> {
    if !cred.credential_type.is_ssh() {
        return Err(format!(
            "Credential '{}' is of type {}; an SSH target needs an ssh credential",
            cred.name,
            cred.credential_type.as_str()
        ));
    }
    let username = cred.get("username").unwrap_or_default().to_string();
    let auth = match (cred.get("private_key"), cred.get("password")) {
        (Some(pem), _) => SshAuth::PrivateKey {
            pem: pem.to_string(),
            passphrase: cred.get("passphrase").map(str::to_string),
        },
        (None, Some(password)) => SshAuth::Password(password.to_string()),
        (None, None) => {
            return Err(format!(
                "Credential '{}' has no password or private key",
                cred.name
            ));
        }
    };
    let port = u16::try_from(target.port)
        .map_err(|_| format!("target port {} is out of range", target.port))?;
    let mut ssh_target = SshTarget::new(target.hostname.clone(), port, username, auth);
    ssh_target.pinned_fingerprint = target.host_key_fingerprint.clone();
    ssh_target.connect_timeout = timeout.min(SSH_CONNECT_TIMEOUT);
    Ok(ssh_target)
}

/// Where and how to reach a WinRM target with its credential: HTTPS when the target's
/// `metadata.winrm_use_https` says so (or the port is 5986), certificates validated unless
/// `metadata.winrm_validate_cert` is false, an extra CA from `metadata.winrm_ca_pem`, and
/// `metadata.winrm_remote_os: "posix"` for WS-Man servers whose shell is `/bin/sh` (the test
/// server): only `winrm.copy` differs, its receiving program being a POSIX script.
pub fn winrm_target(
    target: &Target,
    cred: &Resolved,
    timeout: Duration,
) -> Result<WinrmTarget, String> {
    let username = cred.get("username").unwrap_or_default().to_string();
    let password = cred.get("password").unwrap_or_default().to_string();
    let auth = match cred.credential_type {
        CredentialType::Winrm | CredentialType::WinrmNtlm => WinrmAuth::Ntlm {
            username,
            domain: cred.get("domain").unwrap_or_default().to_string(),
            password,
        },
        CredentialType::WinrmBasic => WinrmAuth::Basic { username, password },
        CredentialType::WinrmKerberos => {
            return Err(format!(
                "Credential '{}' uses Kerberos, which the WinRM connector does not support yet; use an NTLM or Basic credential",
                cred.name
            ));
        }
        other => {
            return Err(format!(
                "Credential '{}' is of type {}; a WinRM target needs a winrm credential",
                cred.name,
                other.as_str()
            ));
        }
    };
    let meta = &target.metadata;
    let port = u16::try_from(target.port)
        .map_err(|_| format!("target port {} is out of range", target.port))?;
    let https = meta
        .get("winrm_use_https")
        .and_then(Value::as_bool)
        .unwrap_or(port == 5986);
    let mut winrm = WinrmTarget::new(target.hostname.clone(), port, https, auth);
    winrm.validate_certs = meta
        .get("winrm_validate_cert")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    winrm.ca_pem = meta
        .get("winrm_ca_pem")
        .and_then(Value::as_str)
        .map(str::to_string);
    if meta.get("winrm_remote_os").and_then(Value::as_str) == Some("posix") {
        winrm.remote_flavor = RemoteFlavor::PosixStandIn;
    }
    winrm.connect_timeout = timeout.min(WINRM_CONNECT_TIMEOUT);
    Ok(winrm)
}
