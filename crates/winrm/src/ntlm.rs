//! The NTLM client context of one connection, from `sspi::Ntlm`: the two handshake legs, then
//! sealing (RC4 + HMAC-MD5 signature) of every request and unsealing of every response.
//!
//! Raw NTLMSSP tokens go under the `Negotiate` scheme, as pywinrm sends them (SPNEGO would need a
//! third leg that some servers never send; see shared/WINRM-NOTES.md). The context keeps one RC4
//! stream and one sequence number per direction, so every sealed message must be unsealed exactly
//! once and in order: the caller treats any failure here as the end of the connection.

use sspi::{
    AuthIdentity, BufferType, ClientRequestFlags, CredentialUse, DataRepresentation,
    EncryptionFlags, Ntlm, SecurityBuffer, SecurityBufferRef, SecurityStatus, Sspi, SspiImpl,
    Username,
};

use crate::error::{WinrmError, WinrmErrorKind};

/// The NTLM message signature: version 1, 8 bytes of sealed checksum, sequence number.
pub(crate) const SIGNATURE_LEN: usize = 16;

/// One client security context.
pub(crate) struct NtlmContext {
    ntlm: Ntlm,
    credentials: Option<sspi::AuthIdentityBuffers>,
    /// `HTTP/<host>`: NTLM puts it in the type 3 target info (it matters only to servers that
    /// check it, which Windows does when "extended protection" is on).
    target_name: String,
}

impl std::fmt::Debug for NtlmContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NtlmContext")
            .field("target_name", &self.target_name)
            .finish_non_exhaustive()
    }
}

/// `CONFIDENTIALITY` is what makes sspi negotiate SEAL and KEY_EXCH (its first ISC call replaces
/// the context's sealing setting from these flags); `INTEGRITY` asks for SIGN.
fn request_flags() -> ClientRequestFlags {
    ClientRequestFlags::CONFIDENTIALITY | ClientRequestFlags::INTEGRITY
}

impl NtlmContext {
    /// `username` may be `DOMAIN\user` or `user@domain`; a separate `domain` (if not empty)
    /// qualifies a bare user name.
    pub(crate) fn new(
        username: &str,
        domain: &str,
        password: &str,
        host: &str,
    ) -> Result<Self, WinrmError> {
        let bad_name = |e: &dyn std::fmt::Display| {
            WinrmError::new(
                WinrmErrorKind::Auth,
                format!("the user name '{username}' cannot be used for NTLM: {e}"),
            )
        };
        let user = if domain.is_empty() || username.contains('\\') || username.contains('@') {
            Username::parse(username).map_err(|e| bad_name(&e))?
        } else {
            Username::new(username, Some(domain)).map_err(|e| bad_name(&e))?
        };
        let identity = AuthIdentity {
            username: user,
            password: password.to_owned().into(),
        };
        let mut ntlm = Ntlm::new();
        let acquired = ntlm
            .acquire_credentials_handle()
            .with_credential_use(CredentialUse::Outbound)
            .with_auth_data(&identity)
            .execute(&mut ntlm)
            .map_err(|e| sspi_failure("acquiring NTLM credentials", &e))?;
        Ok(Self {
            ntlm,
            credentials: acquired.credentials_handle,
            target_name: format!("HTTP/{host}"),
        })
    }

    /// The type 1 (NEGOTIATE) message.
    pub(crate) fn negotiate(&mut self) -> Result<Vec<u8>, WinrmError> {
        let (status, token) = self.step(None)?;
        if status != SecurityStatus::ContinueNeeded {
            return Err(WinrmError::protocol(format!(
                "NTLM produced no negotiate message (status {status:?})"
            )));
        }
        Ok(token)
    }

    /// The type 3 (AUTHENTICATE) message answering the server's type 2 `challenge`.
    pub(crate) fn authenticate(&mut self, challenge: Vec<u8>) -> Result<Vec<u8>, WinrmError> {
        let (status, token) = self.step(Some(challenge))?;
        if status != SecurityStatus::Ok && status != SecurityStatus::CompleteNeeded {
            return Err(WinrmError::protocol(format!(
                "NTLM did not complete after the server's challenge (status {status:?})"
            )));
        }
        Ok(token)
    }

    fn step(&mut self, input: Option<Vec<u8>>) -> Result<(SecurityStatus, Vec<u8>), WinrmError> {
        let mut output = vec![SecurityBuffer::new(Vec::new(), BufferType::Token)];
        let mut input = input.map(|token| vec![SecurityBuffer::new(token, BufferType::Token)]);
        let leg = if input.is_some() {
            "answering the NTLM challenge"
        } else {
            "starting NTLM"
        };
        let mut builder = self
            .ntlm
            .initialize_security_context()
            .with_credentials_handle(&mut self.credentials)
            .with_context_requirements(request_flags())
            .with_target_data_representation(DataRepresentation::Native)
            .with_target_name(&self.target_name)
            .with_output(&mut output);
        if let Some(input) = input.as_mut() {
            builder = builder.with_input(input);
        }
        let result = self
            .ntlm
            .initialize_security_context_impl(&mut builder)
            .and_then(|mut generator| generator.resolve_to_result())
            .map_err(|e| sspi_failure(leg, &e))?;
        let token = output.pop().map(|b| b.buffer).unwrap_or_default();
        Ok((result.status, token))
    }

    /// Seals `plaintext`: returns the 16-byte signature and the RC4 ciphertext (same length).
    pub(crate) fn seal(
        &mut self,
        plaintext: &[u8],
    ) -> Result<([u8; SIGNATURE_LEN], Vec<u8>), WinrmError> {
        let mut signature = [0u8; SIGNATURE_LEN];
        let mut data = plaintext.to_vec();
        let mut buffers = [
            SecurityBufferRef::token_buf(&mut signature),
            SecurityBufferRef::data_buf(&mut data),
        ];
        self.ntlm
            .encrypt_message(EncryptionFlags::empty(), &mut buffers)
            .map_err(|e| sspi_failure("sealing a request", &e))?;
        Ok((signature, data))
    }

    /// Checks and unseals a response. A failure leaves the context unusable (its receive RC4
    /// stream and sequence number have moved on).
    pub(crate) fn unseal(
        &mut self,
        signature: &[u8],
        ciphertext: &[u8],
    ) -> Result<Vec<u8>, WinrmError> {
        let mut signature = signature.to_vec();
        let mut data = ciphertext.to_vec();
        let mut buffers = [
            SecurityBufferRef::token_buf(&mut signature),
            SecurityBufferRef::data_buf(&mut data),
        ];
        self.ntlm
            .decrypt_message(&mut buffers)
            .map_err(|e| sspi_failure("unsealing a response", &e))?;
        let plaintext = buffers[1].data().to_vec();
        Ok(plaintext)
    }
}

/// sspi's errors describe the step and the NTLM problem; they never carry the password.
fn sspi_failure(what: &str, e: &sspi::Error) -> WinrmError {
    WinrmError::protocol(format!("{what} failed: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiate_message_asks_for_sealing() {
        let mut ctx = NtlmContext::new("Administrator", "WINTEST", "secret", "host").expect("ctx");
        let token = ctx.negotiate().expect("type 1");
        assert!(token.starts_with(b"NTLMSSP\0\x01\0\0\0"), "{token:?}");
        let flags = u32::from_le_bytes(token[12..16].try_into().expect("flags"));
        const SEAL: u32 = 0x0000_0020;
        const SIGN: u32 = 0x0000_0010;
        const KEY_EXCH: u32 = 0x4000_0000;
        assert_eq!(flags & (SEAL | SIGN | KEY_EXCH), SEAL | SIGN | KEY_EXCH);
    }

    #[test]
    fn user_name_forms_are_accepted() {
        for (user, domain) in [
            ("WINTEST\\Administrator", ""),
            ("Administrator@wintest.local", ""),
            ("Administrator", "WINTEST"),
            ("Administrator", ""),
        ] {
            NtlmContext::new(user, domain, "pw", "h").expect(user);
        }
    }
}
