//! MS-WSMV message encryption framing (`multipart/encrypted`, 2.2.9.1.1) around sealed SOAP.
//!
//! The layout is the one Windows and pywinrm use, byte for byte. There is no CRLF between the
//! ciphertext and the closing boundary: Windows (Server 2025) answers one with HTTP 400.

use crate::error::WinrmError;
use crate::ntlm::SIGNATURE_LEN;

/// The request and response `Content-Type` of a sealed body.
pub(crate) const SEALED_CONTENT_TYPE: &str = "multipart/encrypted;protocol=\"application/HTTP-SPNEGO-session-encrypted\";boundary=\"Encrypted Boundary\"";

const HEAD: &[u8] = b"--Encrypted Boundary\r\n\tContent-Type: application/HTTP-SPNEGO-session-encrypted\r\n\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length=";
const MIDDLE: &[u8] = b"\r\n--Encrypted Boundary\r\n\tContent-Type: application/octet-stream\r\n";
const TAIL: &[u8] = b"--Encrypted Boundary--\r\n";

/// Frames a sealed message (RC4 keeps the length, so `Length=` is the ciphertext's).
pub(crate) fn frame(signature: &[u8; SIGNATURE_LEN], ciphertext: &[u8]) -> Vec<u8> {
    let length = ciphertext.len().to_string();
    let mut body = Vec::with_capacity(
        HEAD.len()
            + length.len()
            + MIDDLE.len()
            + 4
            + SIGNATURE_LEN
            + ciphertext.len()
            + TAIL.len(),
    );
    body.extend_from_slice(HEAD);
    body.extend_from_slice(length.as_bytes());
    body.extend_from_slice(MIDDLE);
    // SIGNATURE_LEN is 16: the cast cannot truncate.
    body.extend_from_slice(&(SIGNATURE_LEN as u32).to_le_bytes());
    body.extend_from_slice(signature);
    body.extend_from_slice(ciphertext);
    body.extend_from_slice(TAIL);
    body
}

/// A sealed message taken out of its framing.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Sealed<'a> {
    pub signature: &'a [u8],
    pub ciphertext: &'a [u8],
}

/// Finds the signature and exactly `Length=N` bytes of ciphertext. Where the closing boundary
/// sits is not relied on (servers differ in the line ends around it).
pub(crate) fn unframe(body: &[u8]) -> Result<Sealed<'_>, WinrmError> {
    let bad = |why: &str| WinrmError::protocol(format!("the sealed response is malformed: {why}"));
    let length_at = find(body, b"Length=").ok_or_else(|| bad("no OriginalContent Length"))?;
    let digits_at = length_at + b"Length=".len();
    let digits_len = body[digits_at..]
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .count();
    let length: usize = std::str::from_utf8(&body[digits_at..digits_at + digits_len])
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("the OriginalContent Length is not a number"))?;
    let marker = b"application/octet-stream\r\n";
    let part_at = find(&body[digits_at..], marker)
        .map(|at| digits_at + at + marker.len())
        .ok_or_else(|| bad("no application/octet-stream part"))?;
    let rest = &body[part_at..];
    let sig_len = rest
        .get(..4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .ok_or_else(|| bad("truncated before the signature length"))?;
    if usize::try_from(sig_len).ok() != Some(SIGNATURE_LEN) {
        return Err(bad(&format!(
            "the signature is {sig_len} bytes, NTLM's is {SIGNATURE_LEN}"
        )));
    }
    let signature = &rest[4..]
        .get(..SIGNATURE_LEN)
        .ok_or_else(|| bad("truncated signature"))?;
    let ciphertext = rest[4 + SIGNATURE_LEN..]
        .get(..length)
        .ok_or_else(|| bad("shorter than its OriginalContent Length"))?;
    Ok(Sealed {
        signature,
        ciphertext,
    })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_matches_the_windows_layout_exactly() {
        let body = frame(&[7u8; 16], b"abc");
        let mut want = b"--Encrypted Boundary\r\n\tContent-Type: application/HTTP-SPNEGO-session-encrypted\r\n\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length=3\r\n--Encrypted Boundary\r\n\tContent-Type: application/octet-stream\r\n\x10\0\0\0".to_vec();
        want.extend_from_slice(&[7u8; 16]);
        want.extend_from_slice(b"abc--Encrypted Boundary--\r\n");
        assert_eq!(body, want);
    }

    #[test]
    fn unframe_reads_back_what_frame_wrote_even_with_a_stray_crlf() {
        let mut body = frame(&[1u8; 16], b"\r\n--Encrypted Boundary--\r\nxyz");
        let sealed = unframe(&body).expect("unframe");
        assert_eq!(sealed.signature, &[1u8; 16]);
        assert_eq!(sealed.ciphertext, b"\r\n--Encrypted Boundary--\r\nxyz");
        body.truncate(body.len() - TAIL.len() - 1);
        assert!(unframe(&body).is_err());
    }

    #[test]
    fn unframe_refuses_other_signature_sizes() {
        let body = frame(&[1u8; 16], b"abc");
        let text = String::from_utf8_lossy(&body).replace("\u{10}\0\0\0", "\u{11}\0\0\0");
        let err = unframe(text.as_bytes()).expect_err("17-byte signature");
        assert!(err.message.contains("17 bytes"), "{err}");
    }
}
