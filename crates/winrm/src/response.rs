//! Reading the answers: SOAP faults, the created shell's id, the started command's id, and
//! Receive's streams and command state. Elements are matched by local name, so any prefixes
//! (Windows' `s:`/`rsp:`, or others) work.

use std::borrow::Cow;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use quick_xml::escape::resolve_xml_entity;
use quick_xml::events::Event;
use quick_xml::{Reader, XmlVersion};

use crate::error::{WinrmError, WinrmErrorKind};

/// One element of a document, in document order.
#[derive(Debug)]
struct Element {
    name: String,
    attrs: Vec<(String, String)>,
    /// The element's own text (not its children's).
    text: String,
    depth: usize,
}

impl Element {
    fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

struct Document(Vec<Element>);

impl Document {
    fn parse(xml: &str) -> Result<Self, WinrmError> {
        let bad = |e: &dyn std::fmt::Display| {
            WinrmError::protocol(format!("the server's answer is not valid XML: {e}"))
        };
        let mut reader = Reader::from_str(xml);
        let mut elements: Vec<Element> = Vec::new();
        let mut open: Vec<usize> = Vec::new();
        loop {
            let event = reader.read_event().map_err(|e| bad(&e))?;
            let is_start = matches!(event, Event::Start(_));
            match event {
                Event::Start(start) | Event::Empty(start) => {
                    let mut attrs = Vec::new();
                    for attr in start.attributes() {
                        let attr = attr.map_err(|e| bad(&e))?;
                        let key = attr.key.local_name().as_ref().to_owned();
                        let value = attr
                            .normalized_value(XmlVersion::Implicit1_0)
                            .map_err(|e| bad(&e))?
                            .into_owned();
                        attrs.push((key, value));
                    }
                    elements.push(Element {
                        name: start.local_name().as_ref().to_owned(),
                        attrs,
                        text: String::new(),
                        depth: open.len(),
                    });
                    if is_start {
                        open.push(elements.len() - 1);
                    }
                }
                Event::End(_) => {
                    open.pop();
                }
                Event::Text(text) => {
                    if let Some(&at) = open.last() {
                        elements[at].text.push_str(&text.xml10_content());
                    }
                }
                Event::CData(data) => {
                    if let Some(&at) = open.last() {
                        elements[at].text.push_str(&data.xml10_content());
                    }
                }
                Event::GeneralRef(reference) => {
                    let resolved: Cow<'_, str> = match reference.resolve_char_ref() {
                        Ok(Some(ch)) => Cow::Owned(ch.to_string()),
                        Ok(None) => {
                            let name = reference.xml10_content();
                            Cow::Borrowed(
                                resolve_xml_entity(&name)
                                    .ok_or_else(|| bad(&format!("unknown entity &{name};")))?,
                            )
                        }
                        Err(e) => return Err(bad(&e)),
                    };
                    if let Some(&at) = open.last() {
                        elements[at].text.push_str(&resolved);
                    }
                }
                Event::Eof => break,
                _ => {}
            }
        }
        Ok(Self(elements))
    }

    fn find(&self, name: &str) -> Option<&Element> {
        self.0.iter().find(|e| e.name == name)
    }

    fn position(&self, name: &str) -> Option<usize> {
        self.0.iter().position(|e| e.name == name)
    }

    /// The text of the element at `at` and of everything inside it.
    fn deep_text(&self, at: usize) -> String {
        let depth = self.0[at].depth;
        let mut text = self.0[at].text.clone();
        for e in self.0[at + 1..].iter().take_while(|e| e.depth > depth) {
            text.push_str(&e.text);
        }
        text
    }
}

/// A WS-Management fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Fault {
    /// The `WSManFault` `Code` (a Windows error number), if present.
    pub code: Option<u32>,
    /// `w:TimedOut`, `w:InvalidSelectors`, ...
    pub subcode: String,
    pub reason: String,
    /// `WSManFault/Message`: the most specific text.
    pub message: String,
}

impl Fault {
    pub(crate) fn into_error(self, what: &str) -> WinrmError {
        let code = self.code.unwrap_or(0);
        let text = [self.message.trim(), self.reason.trim()]
            .into_iter()
            .find(|t| !t.is_empty())
            .unwrap_or("no reason given")
            .to_owned();
        let subcode = if self.subcode.is_empty() {
            String::new()
        } else {
            format!(", {}", self.subcode)
        };
        WinrmError::new(
            WinrmErrorKind::Fault(code),
            format!("{what}: the server answered with a fault (code {code}{subcode}): {text}"),
        )
    }
}

/// A checked, parsed answer.
pub(crate) struct Answer(Document);

impl Answer {
    /// Parses `xml` and turns a fault into an error. `message_id` is the request's: an answer
    /// that relates to another request means the exchange is out of step.
    pub(crate) fn parse(xml: &str, message_id: &str, what: &str) -> Result<Self, WinrmError> {
        let doc = Document::parse(xml).map_err(|e| e.context(what))?;
        if doc.find("Envelope").is_none() {
            return Err(WinrmError::protocol(format!(
                "{what}: the answer is not a SOAP envelope"
            )));
        }
        if let Some(fault) = fault(&doc) {
            return Err(fault.into_error(what));
        }
        if let Some(relates_to) = doc.find("RelatesTo")
            && !relates_to.text.trim().eq_ignore_ascii_case(message_id)
        {
            return Err(WinrmError::protocol(format!(
                "{what}: the answer relates to another request ({}, expected {message_id})",
                relates_to.text.trim()
            )));
        }
        Ok(Self(doc))
    }

    /// The id of a created shell.
    pub(crate) fn shell_id(&self) -> Result<String, WinrmError> {
        let from_selector = self
            .0
            .0
            .iter()
            .find(|e| e.name == "Selector" && e.attr("Name") == Some("ShellId"))
            .map(|e| e.text.trim());
        from_selector
            .or_else(|| self.0.find("ShellId").map(|e| e.text.trim()))
            .filter(|id| !id.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| WinrmError::protocol("the Create answer names no ShellId"))
    }

    /// The id of a started command.
    pub(crate) fn command_id(&self) -> Result<String, WinrmError> {
        self.0
            .find("CommandId")
            .map(|e| e.text.trim().to_owned())
            .filter(|id| !id.is_empty())
            .ok_or_else(|| WinrmError::protocol("the Command answer names no CommandId"))
    }

    /// The output and state in a Receive answer.
    pub(crate) fn received(&self) -> Result<Received, WinrmError> {
        let mut received = Received::default();
        for e in &self.0.0 {
            match e.name.as_str() {
                "Stream" => {
                    let data: String = e.text.chars().filter(|c| !c.is_whitespace()).collect();
                    if data.is_empty() {
                        continue;
                    }
                    let bytes = BASE64.decode(data.as_bytes()).map_err(|err| {
                        WinrmError::protocol(format!("a Receive stream is not base64: {err}"))
                    })?;
                    let stream = match e.attr("Name") {
                        Some("stderr") => OutStream::Stderr,
                        _ => OutStream::Stdout,
                    };
                    received.chunks.push((stream, bytes));
                }
                "CommandState" => {
                    received.done = e.attr("State").is_some_and(|s| s.ends_with("/Done"));
                }
                "ExitCode" => {
                    let text = e.text.trim();
                    let code: i64 = text.parse().map_err(|_| {
                        WinrmError::protocol(format!("the exit code '{text}' is not a number"))
                    })?;
                    // Windows exit codes are DWORDs (0xC000013A for Ctrl+C): keep their bits.
                    received.exit_code = Some(if let Ok(code) = i32::try_from(code) {
                        code
                    } else {
                        u32::try_from(code)
                            .map_or(i32::MIN, |c| i32::from_ne_bytes(c.to_ne_bytes()))
                    });
                }
                _ => {}
            }
        }
        Ok(received)
    }
}

fn fault(doc: &Document) -> Option<Fault> {
    let at = doc.position("Fault")?;
    let depth = doc.0[at].depth;
    let inside = || doc.0[at + 1..].iter().take_while(move |e| e.depth > depth);
    let subcode = inside()
        .skip_while(|e| e.name != "Subcode")
        .find(|e| e.name == "Value")
        .map(|e| e.text.trim().to_owned())
        .unwrap_or_default();
    let reason = inside()
        .find(|e| e.name == "Text")
        .map(|e| e.text.trim().to_owned())
        .unwrap_or_default();
    let wsman = inside().find(|e| e.name == "WSManFault");
    let code = wsman
        .and_then(|e| e.attr("Code"))
        .and_then(|c| c.trim().parse().ok());
    let message = doc.0[at + 1..]
        .iter()
        .take_while(|e| e.depth > depth)
        .position(|e| e.name == "Message")
        .map(|offset| doc.deep_text(at + 1 + offset).trim().to_owned())
        .unwrap_or_default();
    Some(Fault {
        code,
        subcode,
        reason,
        message,
    })
}

/// Which output a Receive chunk belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OutStream {
    Stdout,
    Stderr,
}

/// What one Receive brought.
#[derive(Debug, Default)]
pub(crate) struct Received {
    pub chunks: Vec<(OutStream, Vec<u8>)>,
    pub done: bool,
    pub exit_code: Option<i32>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::FAULT_TIMED_OUT;

    const TIMED_OUT: &str = r#"<s:Envelope xml:lang="en-US" xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"><s:Header><a:Action>http://schemas.dmtf.org/wbem/wsman/1/wsman/fault</a:Action><a:RelatesTo>uuid:1</a:RelatesTo></s:Header><s:Body><s:Fault><s:Code><s:Value>s:Receiver</s:Value><s:Subcode><s:Value>w:TimedOut</s:Value></s:Subcode></s:Code><s:Reason><s:Text xml:lang="en-US">The WS-Management service cannot complete the operation within the time specified in OperationTimeout.  </s:Text></s:Reason><s:Detail><f:WSManFault xmlns:f="http://schemas.microsoft.com/wbem/wsman/1/wsmanfault" Code="2150858793" Machine="win1"><f:Message>Timed &amp; out <f:Extra>more</f:Extra></f:Message></f:WSManFault></s:Detail></s:Fault></s:Body></s:Envelope>"#;

    #[test]
    fn faults_carry_their_wsman_code_and_message() {
        let err = Answer::parse(TIMED_OUT, "uuid:1", "Receive")
            .err()
            .expect("fault");
        assert_eq!(err.kind, WinrmErrorKind::Fault(FAULT_TIMED_OUT));
        assert!(err.message.contains("w:TimedOut"), "{err}");
        assert!(err.message.contains("Timed & out more"), "{err}");
    }

    #[test]
    fn receive_answers_yield_streams_state_and_exit_code() {
        let xml = r#"<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:rsp="http://schemas.microsoft.com/wbem/wsman/1/windows/shell" xmlns:a="x"><s:Header><a:RelatesTo>uuid:AB</a:RelatesTo></s:Header><s:Body><rsp:ReceiveResponse><rsp:Stream Name="stdout" CommandId="C">aGVs
bG8=</rsp:Stream><rsp:Stream Name="stderr" CommandId="C">b29wcw==</rsp:Stream><rsp:Stream Name="stdout" CommandId="C" End="true"></rsp:Stream><rsp:CommandState CommandId="C" State="http://schemas.microsoft.com/wbem/wsman/1/windows/shell/CommandState/Done"><rsp:ExitCode>3221225786</rsp:ExitCode></rsp:CommandState></rsp:ReceiveResponse></s:Body></s:Envelope>"#;
        let got = Answer::parse(xml, "uuid:ab", "Receive")
            .expect("parse")
            .received()
            .expect("received");
        assert_eq!(
            got.chunks,
            vec![
                (OutStream::Stdout, b"hello".to_vec()),
                (OutStream::Stderr, b"oops".to_vec())
            ]
        );
        assert!(got.done);
        assert_eq!(got.exit_code, Some(-1_073_741_510));
    }

    #[test]
    fn answers_to_another_request_are_refused() {
        let xml = r#"<s:Envelope xmlns:s="S" xmlns:a="A"><s:Header><a:RelatesTo>uuid:2</a:RelatesTo></s:Header><s:Body/></s:Envelope>"#;
        let err = Answer::parse(xml, "uuid:1", "Create")
            .err()
            .expect("mismatch");
        assert_eq!(err.kind, WinrmErrorKind::Protocol);
    }

    #[test]
    fn shell_and_command_ids_are_found() {
        let xml = r#"<s:Envelope xmlns:s="S" xmlns:w="W" xmlns:x="X"><s:Body><x:ResourceCreated><w:SelectorSet><w:Selector Name="ShellId">ABC-1</w:Selector></w:SelectorSet></x:ResourceCreated></s:Body></s:Envelope>"#;
        assert_eq!(
            Answer::parse(xml, "", "Create")
                .expect("ok")
                .shell_id()
                .expect("id"),
            "ABC-1"
        );
        let xml = r#"<s:Envelope xmlns:s="S" xmlns:rsp="R"><s:Body><rsp:CommandResponse><rsp:CommandId>C-9</rsp:CommandId></rsp:CommandResponse></s:Body></s:Envelope>"#;
        assert_eq!(
            Answer::parse(xml, "", "Command")
                .expect("ok")
                .command_id()
                .expect("id"),
            "C-9"
        );
    }
}
