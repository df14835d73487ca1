//! Writing a file on the target: the content goes over stdin as base64 lines (a Send of about
//! 256 KiB at a time) to a small program on the target, which writes a temporary file next to
//! the destination, checks its SHA-256 and moves it into place, so the destination never holds
//! a partial or corrupted file.
//!
//! The program is a PowerShell script on Windows. The test server runs "PowerShell" with
//! `/bin/sh`, so with [`RemoteFlavor::PosixStandIn`] the same protocol (same command kind,
//! same stdin framing, same exit codes) is served by an equivalent sh script; the PowerShell
//! script itself is only exercised by the live tests against a real Windows host.

use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;

use crate::RemoteFlavor;
use crate::error::{WinrmError, WinrmErrorKind};
use crate::exec::{Command, Run, Stdin};
use crate::session::WinrmSession;

/// The program's exit status when the destination exists and overwriting is off.
const EXISTS_STATUS: i32 = 17;
/// How much of the program's stderr goes into an error message.
const MAX_ERROR_DETAIL: usize = 1000;

/// What [`WinrmSession::copy`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyOutcome {
    /// The file's size.
    pub bytes: u64,
    /// The content's SHA-256 in lower-case hex, as computed here and confirmed on the target.
    pub sha256: String,
}

impl WinrmSession {
    /// Writes `content` to `dest_path` on the target, byte for byte.
    ///
    /// A relative path is relative to the shell's working directory (the user's profile on
    /// Windows). The file is first written under a temporary name in the destination's
    /// directory, its SHA-256 is checked there, and it is moved into place. With `overwrite`
    /// off an existing destination fails with [`WinrmErrorKind::Exists`] and is not touched.
    /// Timeout and cancel stop the transfer as they stop [`WinrmSession::exec_streaming`]
    /// commands.
    pub async fn copy(
        &self,
        dest_path: &str,
        content: &[u8],
        overwrite: bool,
        timeout: Duration,
        cancel: &CancellationToken,
    ) -> Result<CopyOutcome, WinrmError> {
        check_path(dest_path).map_err(|why| WinrmError::new(WinrmErrorKind::CopyFailed, why))?;
        let sha256 = sha256_hex(content);
        let script = match self.flavor {
            RemoteFlavor::Windows => powershell_script(dest_path, &sha256, overwrite),
            RemoteFlavor::PosixStandIn => sh_script(dest_path, &sha256, overwrite),
        };
        let command = Command::PowerShell(script);
        let out = self
            .exec_collect(Run {
                command: &command,
                stdin: Stdin::Base64Lines(content),
                timeout,
                cancel,
            })
            .await
            .map_err(|e| e.context(format!("copying to '{dest_path}'")))?;
        match out.exit_code {
            Some(0) => Ok(CopyOutcome {
                bytes: u64::try_from(content.len()).unwrap_or(u64::MAX),
                sha256,
            }),
            Some(EXISTS_STATUS) => Err(WinrmError::new(
                WinrmErrorKind::Exists,
                format!(
                    "'{dest_path}' already exists on {} and overwriting is off; it was left as it was",
                    self.endpoint
                ),
            )),
            code => {
                let detail = error_detail(&out.stderr);
                let status = code.map_or_else(
                    || "no exit status".to_owned(),
                    |c| format!("exit status {c}"),
                );
                Err(WinrmError::new(
                    WinrmErrorKind::CopyFailed,
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

fn check_path(dest: &str) -> Result<(), String> {
    if dest.trim().is_empty() {
        return Err("no destination path was given".to_owned());
    }
    if dest.chars().any(|c| c == '\0' || c == '\n' || c == '\r') {
        return Err("the destination path contains a NUL or line break".to_owned());
    }
    if dest.ends_with(['/', '\\']) {
        return Err(format!("'{dest}' does not name a file"));
    }
    Ok(())
}

/// A PowerShell single-quoted string. PowerShell also takes the typographic quotes as quote
/// characters, so they are doubled too.
fn ps_quote(text: &str) -> String {
    let mut quoted = String::with_capacity(text.len() + 2);
    quoted.push('\'');
    for c in text.chars() {
        if matches!(c, '\'' | '\u{2018}' | '\u{2019}' | '\u{201A}' | '\u{201B}') {
            quoted.push(c);
        }
        quoted.push(c);
    }
    quoted.push('\'');
    quoted
}

/// The Windows program (Windows PowerShell 5.1 and later). It reads stdin as a pipe
/// ([`Stdin::Base64Lines`] makes the command's stdin one), decoding a line at a time.
fn powershell_script(dest: &str, sha256: &str, overwrite: bool) -> String {
    format!(
        r#"$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
$dest = {dest}; $want = {want}; $overwrite = ${overwrite}; $tmp = $null
function Fail([int]$code, [string]$why) {{
  [Console]::Error.WriteLine($why)
  if ($tmp) {{ Remove-Item -LiteralPath $tmp -Force -ErrorAction SilentlyContinue }}
  exit $code
}}
try {{
  $dest = [System.IO.Path]::GetFullPath($dest)
  if ([System.IO.Directory]::Exists($dest)) {{ Fail 1 "$dest is a directory" }}
  if (-not $overwrite -and [System.IO.File]::Exists($dest)) {{ Fail {exists} "$dest already exists" }}
  $dir = [System.IO.Path]::GetDirectoryName($dest)
  $tmp = [System.IO.Path]::Combine($dir, '.opsc-copy-' + [Guid]::NewGuid().ToString('N') + '.tmp')
  $sha = [System.Security.Cryptography.SHA256]::Create()
  $fs = New-Object System.IO.FileStream($tmp, [System.IO.FileMode]::CreateNew, [System.IO.FileAccess]::Write)
  try {{
    $in = [Console]::In
    while ($null -ne ($line = $in.ReadLine())) {{
      if ($line.Length -eq 0) {{ continue }}
      $bytes = [Convert]::FromBase64String($line)
      $fs.Write($bytes, 0, $bytes.Length)
      [void]$sha.TransformBlock($bytes, 0, $bytes.Length, $null, 0)
    }}
    [void]$sha.TransformFinalBlock((New-Object byte[] 0), 0, 0)
  }} finally {{ $fs.Close() }}
  $got = -join ($sha.Hash | ForEach-Object {{ $_.ToString('x2') }})
  if ($got -ne $want) {{ Fail 1 "the copy arrived damaged: SHA-256 $got, expected $want" }}
  if ($overwrite) {{
    Move-Item -LiteralPath $tmp -Destination $dest -Force
  }} else {{
    try {{ [System.IO.File]::Move($tmp, $dest) }}
    catch {{ if ([System.IO.File]::Exists($dest)) {{ Fail {exists} "$dest already exists" }} else {{ throw }} }}
  }}
  $tmp = $null
  exit 0
}} catch {{
  Fail 1 $_.Exception.Message
}}
"#,
        dest = ps_quote(dest),
        want = ps_quote(sha256),
        overwrite = if overwrite { "true" } else { "false" },
        exists = EXISTS_STATUS,
    )
}

/// A POSIX single-quoted string.
fn sh_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// The stand-in program for [`RemoteFlavor::PosixStandIn`]: the same steps with coreutils.
fn sh_script(dest: &str, sha256: &str, overwrite: bool) -> String {
    format!(
        r#"set -u
umask 077
dest={dest}; want={want}; overwrite={overwrite}
case "$dest" in */*) dir=${{dest%/*}}; dir=${{dir:-/}};; *) dir=.;; esac
fail() {{ printf '%s\n' "$2" >&2; exit "$1"; }}
if [ -d "$dest" ]; then fail 1 "$dest is a directory"; fi
if [ "$overwrite" = 0 ] && {{ [ -e "$dest" ] || [ -L "$dest" ]; }}; then fail {exists} "$dest already exists"; fi
tmp=$(mktemp "$dir/.opsc-copy.XXXXXXXX") || fail 1 "cannot create a temporary file in $dir"
trap 'rm -f -- "$tmp"' EXIT
base64 -d > "$tmp" || fail 1 "cannot decode or write $tmp"
sum=$(sha256sum < "$tmp") || fail 1 "computing the SHA-256 of $tmp failed"
case "$sum" in "$want "*) ;; *) fail 1 "the copy arrived damaged: SHA-256 ${{sum%% *}}, expected $want";; esac
if [ "$overwrite" = 1 ]; then
  mv -f -- "$tmp" "$dest" || fail 1 "cannot move the file into place"
elif ln -- "$tmp" "$dest" 2>/dev/null; then
  :
elif [ -e "$dest" ] || [ -L "$dest" ]; then
  fail {exists} "$dest already exists"
else
  fail 1 "cannot move the file into place"
fi
"#,
        dest = sh_quote(dest),
        want = sh_quote(sha256),
        overwrite = u8::from(overwrite),
        exists = EXISTS_STATUS,
    )
}

fn sha256_hex(content: &[u8]) -> String {
    hex::encode(Sha256::digest(content))
}

/// The program's stderr, trimmed and cut to a length that fits in a message.
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
    fn powershell_quoting_doubles_every_kind_of_single_quote() {
        assert_eq!(ps_quote("C:\\it's"), "'C:\\it''s'");
        assert_eq!(ps_quote("a\u{2019}b"), "'a\u{2019}\u{2019}b'");
        assert_eq!(sh_quote("it's"), r"'it'\''s'");
    }

    #[test]
    fn scripts_carry_the_checksum_and_the_overwrite_choice() {
        let ps = powershell_script("C:\\x.txt", "abc", false);
        assert!(
            ps.contains("$dest = 'C:\\x.txt'; $want = 'abc'; $overwrite = $false"),
            "{ps}"
        );
        assert!(ps.contains("Fail 17"));
        let sh = sh_script("/tmp/x", "abc", true);
        assert!(
            sh.contains("dest='/tmp/x'; want='abc'; overwrite=1"),
            "{sh}"
        );
    }

    #[test]
    fn paths_that_name_no_file_are_refused() {
        for dest in ["", "  ", "C:\\dir\\", "/tmp/", "a\0b", "a\nb"] {
            assert!(check_path(dest).is_err(), "{dest:?}");
        }
        assert!(check_path("C:\\Windows\\Temp\\x.ps1").is_ok());
    }

    #[test]
    fn sha256_is_lower_case_hex() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn the_windows_script_fits_in_a_command_line() {
        let long = format!("C:\\{}", "d".repeat(200));
        let script = powershell_script(&long, &"a".repeat(64), true);
        assert!(Command::PowerShell(script).command_line().is_ok());
    }
}
