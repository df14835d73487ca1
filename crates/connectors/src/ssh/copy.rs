//! Writing a file on the target over the session: the content goes to a small `/bin/sh` script
//! on stdin, which writes a temporary file next to the destination, checks its SHA-256 and
//! renames it into place, so the destination never holds a partial or corrupted file.

use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;

use super::error::{SshError, SshErrorKind};
use super::exec::ExecOptions;
use super::session::SshSession;
use super::shell::shell_quote;

/// The script's exit status when the destination exists and overwriting is off (EEXIST).
const EXISTS_STATUS: i32 = 17;
/// How much of the script's stderr goes into an error message.
const MAX_ERROR_DETAIL: usize = 1000;

/// What [`SshSession::copy`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyOutcome {
    /// The file's size.
    pub bytes: u64,
    /// The content's SHA-256 in lower-case hex, as computed here and confirmed on the target.
    pub sha256: String,
}

impl SshSession {
    /// Writes `content` to `dest_path` on the target, byte for byte.
    ///
    /// A relative path is relative to the user's home directory. The file is first written
    /// under a temporary name in the destination's directory (with umask 077), its SHA-256 is
    /// checked with `sha256sum`, `shasum -a 256` or `openssl dgst -sha256` (the copy fails if
    /// the target has none of them), `mode` (e.g. `0o644`) is applied, and it is renamed into
    /// place, replacing an existing file atomically. Without `mode` the file is `0600`; it
    /// belongs to the SSH user. With `overwrite` off an existing destination (even a dangling
    /// symlink) fails with [`SshErrorKind::Exists`] and is not touched.
    ///
    /// Timeout and cancel stop the transfer as they stop [`SshSession::exec_streaming`]
    /// commands; the temporary file is removed when the script is stopped with `TERM`.
    pub async fn copy(
        &self,
        dest_path: &str,
        content: &[u8],
        mode: Option<u32>,
        overwrite: bool,
        timeout: Duration,
        cancel: &CancellationToken,
    ) -> Result<CopyOutcome, SshError> {
        let plan = CopyPlan::new(dest_path, mode, overwrite, content)
            .map_err(|why| SshError::new(SshErrorKind::CopyFailed, why))?;
        let command = format!("exec /bin/sh -c {}", shell_quote(&plan.script()));
        let opts = ExecOptions {
            timeout,
            cancel,
            stdin: Some(content),
        };
        let out = self.exec_collect(&command, opts).await.map_err(|e| {
            SshError::new(e.kind, format!("copying to '{dest_path}': {}", e.message))
        })?;
        match out.exit_code {
            Some(0) => Ok(CopyOutcome {
                bytes: u64::try_from(content.len()).unwrap_or(u64::MAX),
                sha256: plan.sha256,
            }),
            Some(EXISTS_STATUS) => Err(SshError::new(
                SshErrorKind::Exists,
                format!(
                    "'{dest_path}' already exists on {} and overwriting is off; it was left as it was",
                    self.endpoint
                ),
            )),
            code => {
                let detail = error_detail(&out.stderr);
                let status = match (code, &out.exit_signal) {
                    (Some(code), _) => format!("exit status {code}"),
                    (None, Some(signal)) => format!("signal {signal}"),
                    (None, None) => "no exit status".to_owned(),
                };
                Err(SshError::new(
                    SshErrorKind::CopyFailed,
                    if detail.is_empty() {
                        format!(
                            "copying to '{dest_path}' on {} failed ({status})",
                            self.endpoint
                        )
                    } else {
                        format!(
                            "copying to '{dest_path}' on {} failed: {detail}",
                            self.endpoint
                        )
                    },
                ))
            }
        }
    }
}

/// The checked inputs of one copy.
#[derive(Debug)]
struct CopyPlan {
    dest: String,
    /// The destination's directory, never starting with `-` (so no tool takes it for an option).
    dir: String,
    mode: Option<u32>,
    overwrite: bool,
    sha256: String,
}

impl CopyPlan {
    fn new(dest: &str, mode: Option<u32>, overwrite: bool, content: &[u8]) -> Result<Self, String> {
        if dest.is_empty() {
            return Err("no destination path was given".to_owned());
        }
        if dest.contains('\0') {
            return Err("the destination path contains a NUL byte".to_owned());
        }
        let (dir, name) = match dest.rsplit_once('/') {
            None => (".".to_owned(), dest),
            Some(("", name)) => ("/".to_owned(), name),
            Some((dir, name)) if dir.starts_with('/') => (dir.to_owned(), name),
            Some((dir, name)) => (format!("./{dir}"), name),
        };
        if name.is_empty() || name == "." || name == ".." {
            return Err(format!("'{dest}' does not name a file"));
        }
        if let Some(mode) = mode
            && mode > 0o7777
        {
            return Err(format!("{mode:#o} is not a file mode (at most 0o7777)"));
        }
        Ok(Self {
            dest: dest.to_owned(),
            dir,
            mode,
            overwrite,
            sha256: sha256_hex(content),
        })
    }

    /// The `/bin/sh` script. Every value is a quoted literal; `ln` (which refuses to replace)
    /// makes "do not overwrite" hold even against a file that appears during the transfer.
    fn script(&self) -> String {
        let mode = self.mode.map(|m| format!("{m:o}")).unwrap_or_default();
        format!(
            r#"set -u
umask 077
dest={dest}; dir={dir}; want={want}; mode={mode}; overwrite={overwrite}
fail() {{ printf '%s\n' "$2" >&2; exit "$1"; }}
if [ -d "$dest" ] && [ ! -L "$dest" ]; then fail 1 "$dest is a directory"; fi
if [ "$overwrite" = 0 ] && {{ [ -e "$dest" ] || [ -L "$dest" ]; }}; then fail {exists} "$dest already exists"; fi
tmp=$(mktemp "$dir/.opsc-copy.XXXXXXXX") || fail 1 "cannot create a temporary file in $dir"
trap 'rm -f -- "$tmp"' EXIT
trap 'exit 143' TERM; trap 'exit 130' INT; trap 'exit 129' HUP
cat > "$tmp" || fail 1 "cannot write $tmp"
if command -v sha256sum >/dev/null 2>&1; then sum=$(sha256sum < "$tmp")
elif command -v shasum >/dev/null 2>&1; then sum=$(shasum -a 256 < "$tmp")
elif command -v openssl >/dev/null 2>&1; then sum=$(openssl dgst -sha256 < "$tmp")
else fail 1 "cannot verify the copy: the target has none of sha256sum, shasum or openssl"
fi || fail 1 "computing the SHA-256 of $tmp failed"
case "$sum" in *"$want"*) ;; *) fail 1 "the copy arrived damaged: SHA-256 $sum, expected $want";; esac
if [ -n "$mode" ]; then chmod "$mode" "$tmp" || fail 1 "cannot set mode $mode"; fi
if [ "$overwrite" = 1 ]; then
  mv -f -- "$tmp" "$dest" || fail 1 "cannot move the file into place"
elif ln -- "$tmp" "$dest" 2>/dev/null; then
  :
elif [ -e "$dest" ] || [ -L "$dest" ]; then
  fail {exists} "$dest already exists"
else
  mv -- "$tmp" "$dest" || fail 1 "cannot move the file into place"
fi
"#,
            dest = shell_quote(&self.dest),
            dir = shell_quote(&self.dir),
            want = shell_quote(&self.sha256),
            mode = shell_quote(&mode),
            overwrite = u8::from(self.overwrite),
            exists = EXISTS_STATUS,
        )
    }
}

fn sha256_hex(content: &[u8]) -> String {
    hex::encode(Sha256::digest(content))
}

/// The script's stderr, trimmed and cut to a length that fits in a message.
fn error_detail(stderr: &str) -> String {
    let detail = stderr.trim();
    match detail.char_indices().nth(MAX_ERROR_DETAIL) {
        Some((cut, _)) => format!("{}...", &detail[..cut]),
        None => detail.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_is_lower_case_hex() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn directory_of_the_destination_is_safe_to_pass_to_tools() {
        let dir = |dest: &str| CopyPlan::new(dest, None, false, b"").map(|p| p.dir);
        assert_eq!(dir("/etc/motd"), Ok("/etc".to_owned()));
        assert_eq!(dir("/motd"), Ok("/".to_owned()));
        assert_eq!(dir("motd"), Ok(".".to_owned()));
        assert_eq!(dir("-x/motd"), Ok("./-x".to_owned()));
        assert_eq!(dir("a b/it's"), Ok("./a b".to_owned()));
    }

    #[test]
    fn paths_that_name_no_file_and_bad_modes_are_refused() {
        for dest in ["", "/etc/", "/tmp/.", "..", "a\0b"] {
            assert!(CopyPlan::new(dest, None, true, b"").is_err(), "{dest:?}");
        }
        let err = CopyPlan::new("/tmp/x", Some(0o10000), true, b"").expect_err("mode");
        assert!(err.contains("0o10000"), "{err}");
        assert!(CopyPlan::new("/tmp/x", Some(0o4755), true, b"").is_ok());
    }

    #[test]
    fn error_detail_is_trimmed_and_bounded() {
        assert_eq!(error_detail("  no space\n"), "no space");
        let long = "é".repeat(MAX_ERROR_DETAIL + 5);
        assert_eq!(error_detail(&long).chars().count(), MAX_ERROR_DETAIL + 3);
    }
}
