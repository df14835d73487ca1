//! PowerShell's CLIXML error stream made readable.
//!
//! `powershell.exe` run without a console writes its error (and warning, verbose, progress)
//! records to stderr as `#< CLIXML` followed by an `<Objs>` document, and it arrives split
//! across Receive answers anywhere. Strings in it are escaped as XML and, for control characters,
//! surrogates and a literal `_x`, as `_xHHHH_` UTF-16 code units (`_x000D__x000A_` for CRLF,
//! `_x005F_` for `_`). This decoder turns that back into text as it streams in; stderr that does
//! not start with the marker passes through untouched.

use quick_xml::escape::unescape;

const MARKER: &[u8] = b"#< CLIXML";
/// The most stderr held back waiting for a record to end. A record that never ends (a broken or
/// hostile remote) must not grow memory without bound: past this, the rest passes through raw.
const MAX_PENDING: usize = 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Not yet enough bytes to tell.
    Sniffing,
    Plain,
    Clixml,
}

/// Streaming stderr decoder: feed it chunks, forward what it returns.
#[derive(Debug)]
pub(crate) struct StderrDecoder {
    mode: Mode,
    pending: Vec<u8>,
}

impl Default for StderrDecoder {
    fn default() -> Self {
        Self {
            mode: Mode::Sniffing,
            pending: Vec::new(),
        }
    }
}

impl StderrDecoder {
    /// Takes the next chunk of stderr; returns the text that is complete so far.
    pub(crate) fn push(&mut self, data: &[u8]) -> Vec<u8> {
        if self.mode == Mode::Plain {
            return data.to_vec();
        }
        self.pending.extend_from_slice(data);
        let out = self.drain(false);
        if self.pending.len() > MAX_PENDING {
            self.mode = Mode::Plain;
            return [out, std::mem::take(&mut self.pending)].concat();
        }
        out
    }

    /// The command ended: whatever is left, decoded where possible and raw otherwise.
    pub(crate) fn finish(&mut self) -> Vec<u8> {
        self.drain(true)
    }

    fn drain(&mut self, end: bool) -> Vec<u8> {
        let mut out = Vec::new();
        loop {
            match self.mode {
                Mode::Sniffing => {
                    let have = self.pending.len().min(MARKER.len());
                    if self.pending[..have] != MARKER[..have] {
                        self.mode = Mode::Plain;
                    } else if have == MARKER.len() {
                        self.pending.drain(..MARKER.len());
                        self.mode = Mode::Clixml;
                    } else if end {
                        self.mode = Mode::Plain;
                    } else {
                        return out;
                    }
                }
                Mode::Plain => {
                    out.append(&mut self.pending);
                    return out;
                }
                Mode::Clixml => {
                    if !self.next_record(&mut out, end) {
                        if end {
                            out.append(&mut self.pending);
                        }
                        return out;
                    }
                }
            }
        }
    }

    /// Consumes one complete piece of the document (writing any text it holds to `out`);
    /// false when the next piece is incomplete.
    fn next_record(&mut self, out: &mut Vec<u8>, end: bool) -> bool {
        let buf = &self.pending;
        let start = buf
            .iter()
            .position(|b| !b.is_ascii_whitespace())
            .unwrap_or(buf.len());
        if start == buf.len() {
            self.pending.clear();
            return false;
        }
        let rest = &buf[start..];
        if rest[0] != b'<' {
            // Text outside any element (not PowerShell's doing): pass it on as it is.
            let len = rest.iter().position(|&b| b == b'<').unwrap_or(rest.len());
            if len == rest.len() && !end {
                // It may be the start of a following `#< CLIXML` document.
                if MARKER.starts_with(rest) {
                    return false;
                }
            }
            if rest.starts_with(MARKER) {
                self.pending.drain(..start);
                self.mode = Mode::Sniffing;
                return true;
            }
            out.extend_from_slice(&rest[..len]);
            self.pending.drain(..start + len);
            return true;
        }
        if rest.starts_with(b"</Objs>") {
            self.pending.drain(..start + b"</Objs>".len());
            // Another PowerShell in the same command starts its own document.
            self.mode = Mode::Sniffing;
            return true;
        }
        if rest.starts_with(b"<S ") || rest.starts_with(b"<S>") {
            let Some(close) = find(rest, b"</S>") else {
                return false;
            };
            let element = &rest[..close];
            let open_end = element
                .iter()
                .position(|&b| b == b'>')
                .unwrap_or(element.len());
            let stream = attribute(&element[..open_end], b"S=\"").unwrap_or_default();
            let text = String::from_utf8_lossy(&element[(open_end + 1).min(element.len())..]);
            out.extend_from_slice(stream_prefix(&stream).as_bytes());
            out.extend_from_slice(decode_string(&text).as_bytes());
            self.pending.drain(..start + close + b"</S>".len());
            return true;
        }
        if rest.starts_with(b"<Obj ") || rest.starts_with(b"<Obj>") {
            let Some(len) = object_len(rest) else {
                return false;
            };
            let object = &rest[..len];
            let open_end = object
                .iter()
                .position(|&b| b == b'>')
                .unwrap_or(object.len());
            let stream = attribute(&object[..open_end], b"S=\"").unwrap_or_default();
            // Progress records are noise once the command has ended; other objects are shown
            // as PowerShell would print them (their ToString).
            if !stream.eq_ignore_ascii_case("progress")
                && let Some(text) = element_text(object, b"<ToString>", b"</ToString>")
            {
                out.extend_from_slice(stream_prefix(&stream).as_bytes());
                out.extend_from_slice(decode_string(&text).as_bytes());
                out.extend_from_slice(b"\r\n");
            }
            self.pending.drain(..start + len);
            return true;
        }
        // Any other tag (`<Objs ...>`, a declaration): skip it.
        let Some(close) = rest.iter().position(|&b| b == b'>') else {
            return false;
        };
        self.pending.drain(..start + close + 1);
        true
    }
}

/// `WARNING: ` and the like, as the PowerShell console prefixes those streams.
fn stream_prefix(stream: &str) -> &'static str {
    match stream.to_ascii_lowercase().as_str() {
        "warning" => "WARNING: ",
        "verbose" => "VERBOSE: ",
        "debug" => "DEBUG: ",
        _ => "",
    }
}

/// The length of the `<Obj>` element at the start of `buf`, nested objects included.
fn object_len(buf: &[u8]) -> Option<usize> {
    let mut depth = 0usize;
    let mut at = 0;
    while at < buf.len() {
        let rest = &buf[at..];
        if rest.starts_with(b"<Obj ") || rest.starts_with(b"<Obj>") {
            let end = rest.iter().position(|&b| b == b'>')?;
            if rest[..end].ends_with(b"/") {
                if depth == 0 {
                    return Some(at + end + 1);
                }
            } else {
                depth += 1;
            }
            at += end + 1;
        } else if rest.starts_with(b"</Obj>") {
            depth = depth.checked_sub(1)?;
            at += b"</Obj>".len();
            if depth == 0 {
                return Some(at);
            }
        } else {
            at += 1;
        }
    }
    None
}

fn attribute(tag: &[u8], prefix: &[u8]) -> Option<String> {
    let at = find(tag, prefix)? + prefix.len();
    let len = tag[at..].iter().position(|&b| b == b'"')?;
    Some(String::from_utf8_lossy(&tag[at..at + len]).into_owned())
}

fn element_text(buf: &[u8], open: &[u8], close: &[u8]) -> Option<String> {
    let from = find(buf, open)? + open.len();
    let len = find(&buf[from..], close)?;
    Some(String::from_utf8_lossy(&buf[from..from + len]).into_owned())
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// A CLIXML string's text: XML entities, then every `_xHHHH_` as a UTF-16 code unit (so
/// escaped surrogate pairs join into one character).
pub(crate) fn decode_string(raw: &str) -> String {
    let text = unescape(raw).map_or_else(|_| raw.to_owned(), |t| t.into_owned());
    let units: Vec<u16> = text.encode_utf16().collect();
    let mut decoded = Vec::with_capacity(units.len());
    let mut i = 0;
    while i < units.len() {
        if let Some(unit) = escaped_unit(&units[i..]) {
            decoded.push(unit);
            i += 7;
        } else {
            decoded.push(units[i]);
            i += 1;
        }
    }
    String::from_utf16_lossy(&decoded)
}

/// `_xHHHH_` at the start of `units`, as its code unit.
fn escaped_unit(units: &[u16]) -> Option<u16> {
    let [u, x, h @ .., end] = units.get(..7)? else {
        return None;
    };
    if *u != u16::from(b'_') || *x != u16::from(b'x') || *end != u16::from(b'_') {
        return None;
    }
    h.iter().try_fold(0u16, |acc, &c| {
        let digit = char::from_u32(u32::from(c))?.to_digit(16)?;
        Some(acc * 16 + u16::try_from(digit).ok()?)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "#< CLIXML\r\n<Objs Version=\"1.1.0.1\" xmlns=\"http://schemas.microsoft.com/powershell/2004/04\"><Obj S=\"progress\" RefId=\"0\"><TN RefId=\"0\"><T>System.Management.Automation.PSCustomObject</T></TN><MS><I64 N=\"SourceId\">1</I64><PR N=\"Record\"><AV>Preparing modules for first use.</AV></PR></MS></Obj><S S=\"Error\">bad thing_x000D__x000A_</S><S S=\"Error\">tab_x0009_here under_x005F_x000A_score &amp; &lt;tag&gt; _x00E9_ _xD83D__xDE00__x000D__x000A_</S><S S=\"Warning\">careful_x000D__x000A_</S></Objs>";

    #[test]
    fn a_record_that_never_ends_is_passed_on_raw_instead_of_held_for_ever() {
        let mut decoder = StderrDecoder::default();
        assert!(
            decoder
                .push(b"#< CLIXML\r\n<Objs><S S=\"Error\">")
                .is_empty()
        );
        let chunk = vec![b'a'; 64 * 1024];
        let mut released = 0;
        for _ in 0..32 {
            released += decoder.push(&chunk).len();
        }
        assert!(
            decoder.pending.len() <= MAX_PENDING,
            "{}",
            decoder.pending.len()
        );
        assert!(released >= 32 * chunk.len(), "{released}");
        // From then on stderr passes through as it comes.
        assert_eq!(decoder.push(b"tail"), b"tail");
    }

    #[test]
    fn every_escape_is_decoded_and_progress_dropped() {
        let mut d = StderrDecoder::default();
        let mut out = d.push(DOC.as_bytes());
        out.extend(d.finish());
        assert_eq!(
            String::from_utf8(out).expect("utf-8"),
            "bad thing\r\ntab\there under_x000A_score & <tag> é 😀\r\nWARNING: careful\r\n"
        );
    }

    #[test]
    fn split_anywhere_gives_the_same_text() {
        let whole = {
            let mut d = StderrDecoder::default();
            let mut out = d.push(DOC.as_bytes());
            out.extend(d.finish());
            out
        };
        for size in [1, 2, 3, 7, 64] {
            let mut d = StderrDecoder::default();
            let mut out = Vec::new();
            for piece in DOC.as_bytes().chunks(size) {
                out.extend(d.push(piece));
            }
            out.extend(d.finish());
            assert_eq!(out, whole, "pieces of {size}");
        }
    }

    #[test]
    fn lines_come_out_as_soon_as_they_are_complete() {
        let mut d = StderrDecoder::default();
        assert_eq!(
            d.push(b"#< CLIXML\r\n<Objs Version=\"1\"><S S=\"Error\">one_x000A_</S><S S=\"Er"),
            b"one\n"
        );
        assert_eq!(d.push(b"ror\">two</S>"), b"two");
        assert_eq!(d.push(b"</Objs>"), b"");
        assert_eq!(d.finish(), b"");
    }

    #[test]
    fn plain_stderr_passes_through() {
        let mut d = StderrDecoder::default();
        let mut out = d.push(b"#");
        out.extend(d.push(b" not clixml <S>"));
        out.extend(d.finish());
        assert_eq!(out, b"# not clixml <S>");
        let mut short = StderrDecoder::default();
        let mut out = short.push(b"#<");
        out.extend(short.finish());
        assert_eq!(out, b"#<");
    }

    #[test]
    fn a_cut_document_keeps_its_raw_tail() {
        let mut d = StderrDecoder::default();
        let mut out = d.push(b"#< CLIXML\r\n<Objs><S S=\"Error\">half");
        out.extend(d.finish());
        assert_eq!(out, b"<S S=\"Error\">half");
    }

    #[test]
    fn escapes_that_are_not_escapes_stay() {
        assert_eq!(
            decode_string("_x12_ _xZZZZ_ _x0041"),
            "_x12_ _xZZZZ_ _x0041"
        );
        assert_eq!(decode_string("_x0041_"), "A");
    }
}
