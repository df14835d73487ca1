//! Masks secrets in run output: the single place output is redacted before it is stored or
//! streamed, so no other module has to think about leaking a password into a log.
//!
//! A [`Redactor`] is built once per run from the secrets resolved for it (credentials, keys,
//! tokens, secret job parameters). Besides each raw value it masks the encodings a script is
//! likely to print: base64 (also as part of a longer base64 stream such as a `Basic` auth
//! header), percent-encoding and JSON string escaping. A [`StreamRedactor`] applies it to one
//! output stream that arrives in arbitrary chunks, so a secret split across two reads is still
//! masked.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::fmt;

use aho_corasick::{AhoCorasick, MatchKind};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// What every masked occurrence is replaced with. Fixed length, so the output does not reveal
/// how long the secret was.
pub const MASK: &str = "********";

/// Secrets shorter than this many bytes are not masked at all: masking a two-letter password
/// everywhere it occurs would destroy the logs while protecting almost nothing. Derived forms
/// (encodings, single lines) shorter than this many characters are skipped for the same reason.
pub const MIN_SECRET_LEN: usize = 4;

/// Lines of a multi-line secret (a private key) at least this long are also masked on their own,
/// so a key printed line by line, or with a prefix on every line, is still masked. Shorter lines
/// (`-----END…` is longer; a short last base64 line is not) are too likely to occur by chance.
const MIN_SECRET_LINE_LEN: usize = 16;

/// RFC 3986 unreserved characters stay as they are: what curl, Python's `quote`/`quote_plus`
/// and most HTTP clients produce.
const URL_UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// JavaScript's `encodeURIComponent` additionally leaves `!*'()` alone.
const URL_JS_COMPONENT: &AsciiSet = &URL_UNRESERVED
    .remove(b'!')
    .remove(b'*')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')');

/// Masks every known form of a run's secrets in a single pass over the text.
///
/// Cheap to clone (the automaton is shared), so one instance can serve every stream of a run.
/// `Debug` shows only pattern statistics, never the patterns.
#[derive(Clone)]
pub struct Redactor {
    matcher: Matcher,
    pattern_count: usize,
    max_len: usize,
    max_single_line_len: usize,
}

#[derive(Clone)]
enum Matcher {
    /// No secret was long enough to mask: output passes through untouched.
    Empty,
    Patterns(AhoCorasick),
    /// The automaton could not be built (only conceivable with gigabytes of secrets). We fail
    /// closed: all output is replaced by [`MASK`] rather than risking a leak.
    Unbuildable,
}

impl Redactor {
    /// Builds a redactor for the given secret values, deriving the encoded forms of each.
    ///
    /// Values shorter than [`MIN_SECRET_LEN`] bytes are ignored. A value with surrounding
    /// whitespace (typically a trailing newline from a secret file) is masked both as given and
    /// trimmed.
    pub fn new(secrets: impl IntoIterator<Item = String>) -> Self {
        let mut patterns = BTreeSet::new();
        for secret in secrets {
            add_derived_forms(&secret, &mut patterns);
            let trimmed = secret.trim();
            if trimmed.len() != secret.len() {
                add_derived_forms(trimmed, &mut patterns);
            }
        }
        let max_len = patterns.iter().map(String::len).max().unwrap_or(0);
        let max_single_line_len = patterns
            .iter()
            .filter(|p| !p.contains('\n'))
            .map(String::len)
            .max()
            .unwrap_or(0);
        let matcher = if patterns.is_empty() {
            Matcher::Empty
        } else {
            AhoCorasick::builder()
                // Leftmost-longest: when one secret is a prefix of another (or an encoding's
                // core is a prefix of the full encoding) the longer one is masked whole.
                .match_kind(MatchKind::LeftmostLongest)
                .build(&patterns)
                .map_or(Matcher::Unbuildable, Matcher::Patterns)
        };
        Self {
            matcher,
            pattern_count: patterns.len(),
            max_len,
            max_single_line_len,
        }
    }

    /// True when there is nothing to mask (no secrets, or all of them too short).
    pub fn is_empty(&self) -> bool {
        self.pattern_count == 0
    }

    /// Length in bytes of the longest masked pattern; a stream must hold back one byte less
    /// than this to catch a secret split across reads.
    pub fn max_pattern_len(&self) -> usize {
        self.max_len
    }

    /// Returns `text` with every occurrence of a secret form replaced by [`MASK`]; borrowed
    /// when nothing matched, so the common case costs no allocation.
    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        match &self.matcher {
            Matcher::Empty => Cow::Borrowed(text),
            Matcher::Unbuildable if text.is_empty() => Cow::Borrowed(text),
            Matcher::Unbuildable => Cow::Owned(MASK.to_owned()),
            Matcher::Patterns(automaton) => match mask_matches(automaton, text, text.len()) {
                Some((masked, _)) => Cow::Owned(masked),
                None => Cow::Borrowed(text),
            },
        }
    }

    /// Creates a stream redactor for one output stream (stdout or stderr of one target).
    pub fn stream(&self) -> StreamRedactor {
        StreamRedactor::new(self.clone())
    }

    /// Redacts the longest prefix of `text` that can be decided now and returns it with the
    /// byte length consumed. Any match starting before `limit` must end within `text`; the
    /// prefix ends at `limit` or, when a match straddles it, at that match's end.
    fn redact_prefix(&self, text: &str, limit: usize) -> (String, usize) {
        match &self.matcher {
            Matcher::Patterns(automaton) => mask_matches(automaton, text, limit)
                .unwrap_or_else(|| (text[..limit].to_owned(), limit)),
            // Callers never ask for a prefix in these cases (see `holdback`), but the answers
            // are well defined anyway.
            Matcher::Empty => (text[..limit].to_owned(), limit),
            Matcher::Unbuildable => (String::new(), 0),
        }
    }

    /// How many trailing bytes a stream must keep back: (for an unterminated tail, for text
    /// after the last newline). Complete lines are always released at once, so live output
    /// stays live: a multi-line secret (a private key) printed across reads is caught by its
    /// individually masked lines rather than by holding whole lines back for its length.
    fn holdback(&self) -> (usize, usize) {
        match self.matcher {
            Matcher::Empty => (0, 0),
            Matcher::Patterns(_) => (self.max_single_line_len.saturating_sub(1), 0),
            // Fail closed: keep everything until `finish`, which masks it all.
            Matcher::Unbuildable => (usize::MAX, usize::MAX),
        }
    }
}

impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Redactor")
            .field("patterns", &self.pattern_count)
            .field("max_pattern_len", &self.max_len)
            .finish_non_exhaustive()
    }
}

/// Replaces the leftmost-longest matches that start before `limit` with [`MASK`]. Returns the
/// masked text up to `max(limit, end of the last such match)` and that length, or `None` when
/// no match starts before `limit`.
fn mask_matches(automaton: &AhoCorasick, text: &str, limit: usize) -> Option<(String, usize)> {
    let mut out: Option<String> = None;
    let mut copied = 0;
    for found in automaton.find_iter(text) {
        if found.start() >= limit {
            break;
        }
        let out = out.get_or_insert_with(|| String::with_capacity(limit + MASK.len()));
        out.push_str(&text[copied..found.start()]);
        out.push_str(MASK);
        copied = found.end();
    }
    let mut out = out?;
    let end = limit.max(copied);
    out.push_str(&text[copied..end]);
    Some((out, end))
}

/// Adds `secret` and the forms it takes when a script encodes it before printing.
fn add_derived_forms(secret: &str, patterns: &mut BTreeSet<String>) {
    if secret.len() < MIN_SECRET_LEN {
        return;
    }
    // The raw value's limit is in bytes (checked above), its forms' in characters.
    patterns.insert(secret.to_owned());
    let mut add = |form: String| {
        if form.chars().count() >= MIN_SECRET_LEN {
            patterns.insert(form);
        }
    };

    let bytes = secret.as_bytes();
    for engine in [&STANDARD, &STANDARD_NO_PAD, &URL_SAFE, &URL_SAFE_NO_PAD] {
        add(engine.encode(bytes));
    }
    for core in base64_cores(bytes) {
        add(core);
    }

    for set in [URL_UNRESERVED, URL_JS_COMPONENT] {
        let encoded = utf8_percent_encode(secret, set).to_string();
        if encoded != secret {
            // Form encoding writes spaces as `+`.
            let plus = encoded.replace("%20", "+");
            if plus != encoded {
                add(plus);
            }
            add(encoded);
        }
    }

    if let Ok(quoted) = serde_json::to_string(secret) {
        let escaped = quoted
            .strip_prefix('"')
            .and_then(|s| s.strip_suffix('"'))
            .unwrap_or(&quoted);
        if escaped != secret {
            add(escaped.to_owned());
        }
    }

    if secret.contains('\n') {
        for line in secret.lines().map(str::trim) {
            if line.len() >= MIN_SECRET_LINE_LEN {
                add(line.to_owned());
            }
        }
    }
}

/// The base64 characters that depend only on the secret when it sits at byte offset 0, 1 or 2
/// of a longer encoded message (`base64("user:" + password)`): the characters straddling its
/// first and last byte depend on the neighbours and are left out, the rest is fixed.
fn base64_cores(secret: &[u8]) -> Vec<String> {
    let mut cores = Vec::with_capacity(6);
    for offset in 0..3 {
        let mut message = vec![0_u8; offset];
        message.extend_from_slice(secret);
        // Character i encodes bits [6i, 6i + 6); the secret occupies bits
        // [8 * offset, 8 * (offset + len)).
        let first = (8 * offset).div_ceil(6);
        let end = 8 * message.len() / 6;
        for engine in [&STANDARD_NO_PAD, &URL_SAFE_NO_PAD] {
            if let Some(core) = engine.encode(&message).get(first..end) {
                cores.push(core.to_owned());
            }
        }
    }
    cores
}

/// Redacts one output stream that arrives in chunks of arbitrary size.
///
/// Complete lines are released as soon as they arrive; an unterminated tail is released except
/// for its last `max_pattern_len - 1` bytes, so a long line without newline (a progress bar)
/// still streams while a secret split across reads is caught. (With a multi-line secret, whose
/// raw form contains newlines, lines are held back up to that secret's length too.) The
/// concatenation of everything returned equals redacting the whole output at once. Invalid
/// UTF-8 becomes U+FFFD, but a character split across reads decodes correctly.
#[derive(Debug, Clone)]
pub struct StreamRedactor {
    redactor: Redactor,
    /// Start of a UTF-8 sequence cut off by the end of the last read (at most 3 bytes).
    undecoded: Vec<u8>,
    /// Decoded text not yet released.
    pending: String,
}

impl StreamRedactor {
    /// Creates a stream redactor; see also [`Redactor::stream`].
    pub fn new(redactor: Redactor) -> Self {
        Self {
            redactor,
            undecoded: Vec::new(),
            pending: String::new(),
        }
    }

    /// Feeds the next chunk of raw output and returns the redacted text that is safe to emit
    /// now (possibly empty).
    pub fn push(&mut self, bytes: &[u8]) -> String {
        self.decode(bytes);
        let (hold_tail, hold_lines) = self.redactor.holdback();
        let len = self.pending.len();
        let mut ready = len.saturating_sub(hold_tail);
        if let Some(newline) = self.pending.rfind('\n') {
            // Lines can only be straddled by a pattern that contains a newline.
            ready = ready.max((newline + 1).min(len.saturating_sub(hold_lines)));
        }
        while !self.pending.is_char_boundary(ready) {
            ready -= 1;
        }
        if ready == 0 {
            return String::new();
        }
        let (out, consumed) = self.redactor.redact_prefix(&self.pending, ready);
        self.pending.drain(..consumed);
        out
    }

    /// Ends the stream and returns the redacted rest of the output. The redactor is then empty
    /// and could start a new stream.
    pub fn finish(&mut self) -> String {
        if !self.undecoded.is_empty() {
            self.pending
                .push_str(&String::from_utf8_lossy(&std::mem::take(
                    &mut self.undecoded,
                )));
        }
        let rest = std::mem::take(&mut self.pending);
        self.redactor.redact(&rest).into_owned()
    }

    /// Appends `bytes` to `pending`, decoding lossily except for an incomplete trailing
    /// sequence, which waits in `undecoded` for the next read.
    fn decode(&mut self, bytes: &[u8]) {
        let joined;
        let input = if self.undecoded.is_empty() {
            bytes
        } else {
            let mut buffer = std::mem::take(&mut self.undecoded);
            buffer.extend_from_slice(bytes);
            joined = buffer;
            &joined[..]
        };
        let mut chunks = input.utf8_chunks().peekable();
        while let Some(chunk) = chunks.next() {
            self.pending.push_str(chunk.valid());
            let invalid = chunk.invalid();
            if invalid.is_empty() {
                continue;
            }
            let incomplete = chunks.peek().is_none()
                && std::str::from_utf8(invalid).is_err_and(|e| e.error_len().is_none());
            if incomplete {
                self.undecoded.extend_from_slice(invalid);
            } else {
                self.pending.push(char::REPLACEMENT_CHARACTER);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redactor(secrets: &[&str]) -> Redactor {
        Redactor::new(secrets.iter().map(|s| (*s).to_owned()))
    }

    fn stream_all(redactor: &Redactor, chunks: &[&[u8]]) -> String {
        let mut stream = redactor.stream();
        let mut out = String::new();
        for chunk in chunks {
            out.push_str(&stream.push(chunk));
        }
        out.push_str(&stream.finish());
        out
    }

    const KEY: &str = "-----BEGIN OPENSSH PRIVATE KEY-----\n\
        b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n\
        QyNTUxOQAAACDx7Q1fIuTiFvIbBqkGq2H0u8m5d0rQz2Zq9x3z8E2fOQAAAJhYk1nzWJNZ\n\
        Rw==\n\
        -----END OPENSSH PRIVATE KEY-----\n";

    #[test]
    fn masks_raw_secret_everywhere() {
        let r = redactor(&["hunter22"]);
        assert_eq!(
            r.redact("pw=hunter22; again hunter22"),
            format!("pw={MASK}; again {MASK}")
        );
    }

    #[test]
    fn text_without_secrets_is_passed_through_borrowed() {
        let none = Redactor::new(Vec::new());
        assert!(none.is_empty());
        assert_eq!(none.max_pattern_len(), 0);
        assert!(matches!(none.redact("anything"), Cow::Borrowed("anything")));

        let some = redactor(&["hunter22"]);
        assert!(matches!(
            some.redact("nothing secret here"),
            Cow::Borrowed("nothing secret here")
        ));
    }

    #[test]
    fn secrets_shorter_than_four_bytes_are_skipped() {
        let r = redactor(&["abc", "", "xy"]);
        assert!(r.is_empty());
        assert_eq!(r.redact("abc xy abc"), "abc xy abc");
        // Four bytes is enough, even if that is fewer than four characters.
        assert_eq!(redactor(&["äö"]).redact("[äö]"), format!("[{MASK}]"));
    }

    #[test]
    fn masks_base64_of_the_secret_alone() {
        // `>>>` and `???` make the standard and URL-safe alphabets differ.
        let secret = "s3cr>>>t???x";
        let r = redactor(&[secret]);
        for engine in [&STANDARD, &STANDARD_NO_PAD, &URL_SAFE, &URL_SAFE_NO_PAD] {
            let encoded = engine.encode(secret);
            let text = format!("token: {encoded} end");
            assert_eq!(r.redact(&text), format!("token: {MASK} end"), "{encoded}");
        }
        assert_ne!(STANDARD.encode(secret), URL_SAFE.encode(secret));
    }

    #[test]
    fn masks_password_inside_basic_auth_header_at_every_alignment() {
        let password = "correct horse battery";
        let r = redactor(&[password]);
        // "ab:", "abc:" and "abcd:" put the password at byte offsets 0, 1 and 2 (mod 3).
        for user in ["ab", "abc", "abcd", "deploy-user"] {
            let encoded = STANDARD.encode(format!("{user}:{password}"));
            let header = format!("Authorization: Basic {encoded}\r\n");
            let redacted = r.redact(&header);

            let offset = user.len() + 1;
            let visible_head = &encoded[..(8 * offset).div_ceil(6)];
            let expected_start = format!("Authorization: Basic {visible_head}{MASK}");
            assert!(
                redacted.starts_with(&expected_start),
                "{user}: {redacted} should start with {expected_start}"
            );
            // Only the characters straddling the password's last byte, plus padding, remain.
            let visible_tail = redacted[expected_start.len()..].trim_end_matches("\r\n");
            assert!(visible_tail.len() <= 3, "{user}: tail {visible_tail:?}");
        }
    }

    #[test]
    fn masks_url_encoded_secret_with_both_space_forms() {
        let secret = "p@ss w/rd&x";
        let r = redactor(&[secret]);
        assert_eq!(
            r.redact("curl -d 'pw=p%40ss%20w%2Frd%26x'"),
            format!("curl -d 'pw={MASK}'")
        );
        assert_eq!(
            r.redact("pw=p%40ss+w%2Frd%26x&u=1"),
            format!("pw={MASK}&u=1")
        );
    }

    #[test]
    fn masks_json_escaped_secret_with_quote_and_backslash() {
        let secret = r#"pa"ss\word"#;
        let r = redactor(&[secret]);
        let json = serde_json::json!({ "password": secret }).to_string();
        assert_eq!(json, r#"{"password":"pa\"ss\\word"}"#);
        assert_eq!(r.redact(&json), format!(r#"{{"password":"{MASK}"}}"#));
    }

    #[test]
    fn masks_multiline_key_whole_and_line_by_line() {
        let r = redactor(&[KEY]);
        assert_eq!(
            r.redact(&format!("key:\n{KEY}done")),
            format!("key:\n{MASK}done")
        );

        // Printed with a prefix on every line, the key as a whole no longer matches.
        let prefixed: String = KEY.lines().map(|l| format!("remote: {l}\n")).collect();
        let redacted = r.redact(&prefixed);
        for line in KEY.lines().filter(|l| l.len() >= MIN_SECRET_LINE_LEN) {
            assert!(!redacted.contains(line), "{line} leaked:\n{redacted}");
        }
        assert_eq!(redacted.matches(MASK).count(), 4);
    }

    #[test]
    fn secret_with_trailing_newline_is_also_masked_trimmed() {
        let r = redactor(&["s3cret-from-file\n"]);
        assert_eq!(r.redact("echo s3cret-from-file;"), format!("echo {MASK};"));
    }

    #[test]
    fn longest_secret_wins_when_one_is_a_prefix_of_another() {
        let r = redactor(&["hunter", "hunter2-extra"]);
        assert_eq!(r.redact("a hunter2-extra b"), format!("a {MASK} b"));
        assert_eq!(r.redact("a hunter2 b"), format!("a {MASK}2 b"));
    }

    #[test]
    fn debug_output_does_not_contain_secrets() {
        let r = redactor(&["hunter22", KEY]);
        let debug = format!("{r:?} {:?}", r.stream());
        assert!(!debug.contains("hunter22"));
        assert!(!debug.contains("PRIVATE"));
        assert!(!debug.contains(&STANDARD.encode("hunter22")));
    }

    fn stream_test_redactor() -> Redactor {
        redactor(&["hunter", "hunter2-extra", "p@ss w/rd"])
    }

    fn stream_test_text() -> String {
        format!(
            "hunter2-extra at start\nline with hunter and {b64} and p%40ss+w%2Frd\n\
             a long line without secrets that keeps going and going\ntail hunter",
            b64 = STANDARD.encode("hunter2-extra"),
        )
    }

    #[test]
    fn stream_masks_every_line_of_a_key_printed_across_reads_without_holding_lines_back() {
        let r = redactor(&[KEY]);
        let text = format!("before\n{KEY}after\n");
        for split in 0..=text.len() {
            let (a, b) = text.as_bytes().split_at(split);
            let out = stream_all(&r, &[a, b]);
            for line in KEY.lines().filter(|l| l.trim().len() >= 16) {
                assert!(!out.contains(line), "split at {split}: {out}");
            }
            assert!(out.starts_with("before\n") && out.ends_with("after\n"));
        }
        // Complete lines are released at once: live output stays live.
        let mut stream = r.stream();
        assert_eq!(stream.push(b"started\n"), "started\n");
    }

    #[test]
    fn stream_output_equals_whole_redaction_for_every_split_point() {
        let r = stream_test_redactor();
        let text = stream_test_text();
        let expected = r.redact(&text).into_owned();
        assert!(expected.contains(MASK));
        for split in 0..=text.len() {
            let (a, b) = text.as_bytes().split_at(split);
            assert_eq!(stream_all(&r, &[a, b]), expected, "split at {split}");
        }
    }

    #[test]
    fn stream_output_equals_whole_redaction_for_every_pair_of_split_points() {
        let r = redactor(&["hunter", "hunter2-extra", "p@ss w/rd"]);
        let text = "x hunter2-extra\nhunter2 p%40ss%20w%2Frd\nhuntehunter2-extr";
        let expected = r.redact(text).into_owned();
        let bytes = text.as_bytes();
        for first in 0..=bytes.len() {
            for second in first..=bytes.len() {
                let chunks = [&bytes[..first], &bytes[first..second], &bytes[second..]];
                assert_eq!(
                    stream_all(&r, &chunks),
                    expected,
                    "splits {first}, {second}"
                );
            }
        }
    }

    #[test]
    fn stream_output_equals_whole_redaction_byte_by_byte() {
        let r = stream_test_redactor();
        let text = stream_test_text();
        let chunks: Vec<&[u8]> = text.as_bytes().chunks(1).collect();
        assert_eq!(stream_all(&r, &chunks), r.redact(&text));
    }

    #[test]
    fn stream_decodes_multibyte_chars_split_across_pushes() {
        let text = "héllo wörld 🦀 pässwörd ✓\n";
        for r in [Redactor::new(Vec::new()), redactor(&["pässwörd"])] {
            let expected = r.redact(text).into_owned();
            for split in 0..=text.len() {
                let (a, b) = text.as_bytes().split_at(split);
                assert_eq!(stream_all(&r, &[a, b]), expected, "split at {split}");
            }
            let chunks: Vec<&[u8]> = text.as_bytes().chunks(1).collect();
            assert_eq!(stream_all(&r, &chunks), expected);
        }
    }

    #[test]
    fn stream_replaces_invalid_utf8_like_lossy_decoding() {
        let bytes: &[u8] = b"a\xffb\xe2\x28c\xf0\x9f\x98";
        let expected = String::from_utf8_lossy(bytes).into_owned();
        let r = Redactor::new(Vec::new());
        for split in 0..=bytes.len() {
            let (a, b) = bytes.split_at(split);
            assert_eq!(stream_all(&r, &[a, b]), expected, "split at {split}");
        }
    }

    #[test]
    fn stream_emits_complete_lines_immediately() {
        let r = redactor(&["hunter22"]);
        let mut stream = r.stream();
        assert_eq!(
            stream.push(b"first line\nsecond hunter22\nthird"),
            format!("first line\nsecond {MASK}\n")
        );
        assert_eq!(stream.finish(), "third");
    }

    #[test]
    fn stream_releases_long_unterminated_line_holding_back_less_than_a_pattern() {
        let r = redactor(&["hunter22"]);
        let mut stream = r.stream();
        let out = stream.push(&[b'#'; 10_000]);
        assert_eq!(out.len(), 10_000 - (r.max_pattern_len() - 1));
        assert_eq!(stream.finish().len(), r.max_pattern_len() - 1);
    }

    #[test]
    fn stream_without_secrets_holds_back_nothing() {
        let mut stream = Redactor::new(Vec::new()).stream();
        assert_eq!(stream.push(b"progress 42%"), "progress 42%");
        assert_eq!(stream.finish(), "");
    }
}
