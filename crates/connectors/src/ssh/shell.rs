//! What the connector says to the remote shell: quoting, the process-group marker that makes a
//! command stoppable, and the script that stops it.
//!
//! OpenSSH refuses `signal` requests for root sessions and a closed channel without a terminal
//! does not stop its command, so the only reliable way to stop a command is `kill` on its
//! process group from a second channel. sshd makes each session's shell a session (and so
//! process-group) leader; the wrapper has that shell print its PID before the command runs.

/// The marker line's start: an ASCII record separator (never in normal text) and a tag.
const MARKER: &[u8] = b"\x1eopsc-pgid:";
/// Longest marker line: the tag, ten digits (`u32::MAX`), the newline.
const MAX_MARKER_LINE: usize = MARKER.len() + 10 + 1;
/// The marker is looked for only this far into stderr. It comes before the command's own output;
/// only a chatty shell start-up file can print before it.
const MARKER_SCAN_LIMIT: usize = 4096;
/// How long the stop script lets the process group take `TERM` before it sends `KILL`.
pub(crate) const KILL_AFTER_SECS: u32 = 2;

/// Quotes `s` as one word for a POSIX shell: wrapped in single quotes, each `'` written as `'\''`.
/// Nothing inside single quotes is special, so any string (spaces, `$`, backquotes, newlines)
/// arrives as it is.
pub fn shell_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        if c == '\'' {
            out.push_str("'\\''");
        } else {
            out.push(c);
        }
    }
    out.push('\'');
    out
}

/// `command` preceded by a line that prints the shell's PID (its process group) to stderr.
///
/// The marker is a line of its own, so the shell has run it before it parses the command: a
/// syntax error in the command is reported as usual (exit status 2) and `exit 3` still exits 3.
pub(crate) fn with_pgid_marker(command: &str) -> String {
    format!("printf '\\036opsc-pgid:%s\\n' \"$$\" >&2\n{command}")
}

/// A command for a second channel that sends `TERM` to process group `pgid` and, from a
/// background job that outlives the channel, `KILL` after [`KILL_AFTER_SECS`] if the group is
/// still there. `kill -SIG -PGID` is the form every POSIX shell's built-in takes (dash rejects
/// `--`); `/bin/sh` pins the syntax whatever the login shell is.
pub(crate) fn stop_group_command(pgid: u32) -> String {
    let ticks = (1..=KILL_AFTER_SECS * 10)
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(" ");
    let script = format!(
        "kill -TERM -{pgid} 2>/dev/null || exit 0\n\
         (for i in {ticks}; do kill -0 -{pgid} 2>/dev/null || exit 0; sleep 0.1; done; \
         kill -KILL -{pgid} 2>/dev/null) </dev/null >/dev/null 2>&1 &\n"
    );
    format!("exec /bin/sh -c {}", shell_quote(&script))
}

/// Takes the marker line out of a command's stderr and remembers the process group it names.
///
/// The marker may arrive split across chunks and, if a start-up file printed first, after other
/// lines; those are passed on as they complete. If no marker shows up within
/// [`MARKER_SCAN_LIMIT`] bytes, everything is passed on untouched.
#[derive(Debug)]
pub(crate) struct StderrFilter {
    scanning: bool,
    /// True when the next byte starts a line (only then can a marker begin).
    at_line_start: bool,
    /// The start of a line that may still turn out to be the marker.
    held: Vec<u8>,
    scanned: usize,
    pgid: Option<u32>,
}

impl Default for StderrFilter {
    fn default() -> Self {
        Self {
            scanning: true,
            at_line_start: true,
            held: Vec::new(),
            scanned: 0,
            pgid: None,
        }
    }
}

impl StderrFilter {
    /// The command's process group, once the marker was seen.
    pub(crate) fn pgid(&self) -> Option<u32> {
        self.pgid
    }

    /// Feeds a chunk of stderr; returns what to pass on (possibly empty).
    pub(crate) fn push(&mut self, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut rest = data;
        while !rest.is_empty() {
            if !self.scanning || self.scanned >= MARKER_SCAN_LIMIT {
                self.stop_scanning(&mut out);
                out.extend_from_slice(rest);
                break;
            }
            let newline = rest.iter().position(|&b| b == b'\n');
            let line_end = newline.map_or(rest.len(), |i| i + 1);
            let (piece, tail) = rest.split_at(line_end);
            self.scanned += piece.len();
            rest = tail;
            if !self.at_line_start {
                out.extend_from_slice(piece);
                self.at_line_start = newline.is_some();
                continue;
            }
            self.held.extend_from_slice(piece);
            if newline.is_some() {
                if let Some(pgid) = parse_marker(&self.held) {
                    self.pgid = Some(pgid);
                    self.scanning = false;
                    self.held.clear();
                } else {
                    out.append(&mut self.held);
                }
            } else if !could_become_marker(&self.held) {
                out.append(&mut self.held);
                self.at_line_start = false;
            }
        }
        out
    }

    /// The end of stderr: whatever was held back.
    pub(crate) fn finish(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        self.stop_scanning(&mut out);
        out
    }

    fn stop_scanning(&mut self, out: &mut Vec<u8>) {
        self.scanning = false;
        out.append(&mut self.held);
    }
}

/// A complete marker line, newline included, naming a process group that is safe to signal:
/// `kill -SIG -1` (or `-0`) would reach every process the user may signal.
fn parse_marker(line: &[u8]) -> Option<u32> {
    let digits = line.strip_prefix(MARKER)?.strip_suffix(b"\n")?;
    if digits.is_empty() || digits.len() > 10 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let pgid: u32 = std::str::from_utf8(digits).ok()?.parse().ok()?;
    (pgid > 1).then_some(pgid)
}

/// Whether an unfinished line (no newline yet) is still a possible marker.
fn could_become_marker(partial: &[u8]) -> bool {
    if partial.len() >= MAX_MARKER_LINE {
        return false;
    }
    match partial.strip_prefix(MARKER) {
        Some(digits) => digits.iter().all(u8::is_ascii_digit),
        None => MARKER.starts_with(partial),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter_in_pieces(input: &[u8], split_every: usize) -> (Vec<u8>, Option<u32>) {
        let mut filter = StderrFilter::default();
        let mut out = Vec::new();
        for piece in input.chunks(split_every) {
            out.extend(filter.push(piece));
        }
        out.extend(filter.finish());
        (out, filter.pgid())
    }

    #[test]
    fn shell_quote_makes_one_literal_word() {
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("plain"), "'plain'");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
        assert_eq!(shell_quote("'"), "''\\'''");
        assert_eq!(shell_quote("$HOME `id` \"x\"\n*"), "'$HOME `id` \"x\"\n*'");
    }

    #[test]
    fn shell_quote_round_trips_through_sh() {
        let nasty = "a b 'c' \"d\" $e `f` \\g\nh*; rm -rf / ; '\\''";
        let out = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(format!("printf %s {}", shell_quote(nasty)))
            .output()
            .expect("run /bin/sh");
        assert_eq!(String::from_utf8_lossy(&out.stdout), nasty);
    }

    #[test]
    fn marker_is_removed_and_read_however_the_chunks_fall() {
        let input = b"\x1eopsc-pgid:4242\nreal error\nmore";
        for split in 1..=input.len() {
            let (out, pgid) = filter_in_pieces(input, split);
            assert_eq!(out, b"real error\nmore", "split every {split}");
            assert_eq!(pgid, Some(4242), "split every {split}");
        }
    }

    #[test]
    fn lines_before_the_marker_pass_through() {
        let input = b"start-up noise\n\x1eopsc-pgid:77\nerr\n";
        for split in 1..=input.len() {
            let (out, pgid) = filter_in_pieces(input, split);
            assert_eq!(out, b"start-up noise\nerr\n", "split every {split}");
            assert_eq!(pgid, Some(77));
        }
    }

    #[test]
    fn without_a_marker_everything_passes_untouched() {
        for input in [
            &b"sh: 1: Syntax error: end of file unexpected\n"[..],
            b"\x1eopsc-pgid:",
            b"\x1eopsc-pgid:12x\n",
            b"\x1eopsc-pgid:1\n",
            b"\x1eopsc",
            b"",
        ] {
            for split in 1..=input.len().max(1) {
                let (out, pgid) = filter_in_pieces(input, split);
                assert_eq!(out, input, "split every {split}");
                assert_eq!(pgid, None);
            }
        }
    }

    #[test]
    fn only_the_first_marker_is_taken() {
        let (out, pgid) = filter_in_pieces(b"\x1eopsc-pgid:10\n\x1eopsc-pgid:20\n", 3);
        assert_eq!(out, b"\x1eopsc-pgid:20\n");
        assert_eq!(pgid, Some(10));
    }

    #[test]
    fn a_marker_after_the_scan_limit_is_not_taken() {
        let mut input = vec![b'x'; MARKER_SCAN_LIMIT];
        input.extend_from_slice(b"\n\x1eopsc-pgid:10\n");
        let (out, pgid) = filter_in_pieces(&input, 1000);
        assert_eq!(out, input);
        assert_eq!(pgid, None);
    }

    #[test]
    fn marker_mid_line_is_ordinary_text() {
        let input = b"abc\x1eopsc-pgid:10\n";
        let (out, pgid) = filter_in_pieces(input, 2);
        assert_eq!(out, input);
        assert_eq!(pgid, None);
    }

    #[test]
    fn stop_command_targets_the_group_and_escalates() {
        let cmd = stop_group_command(1234);
        assert!(cmd.starts_with("exec /bin/sh -c '"), "{cmd}");
        assert!(cmd.contains("kill -TERM -1234"), "{cmd}");
        assert!(cmd.contains("kill -KILL -1234"), "{cmd}");
        assert!(cmd.contains(" 20; do"), "{cmd}");
    }
}
