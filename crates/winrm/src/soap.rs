//! The SOAP envelopes of the WS-Man shell operations (MS-WSMV 3.1.4), shaped as pywinrm and
//! Windows' own `winrs` send them.

use std::fmt::Write as _;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use quick_xml::escape::escape;

/// The cmd shell resource: `Command` runs a process the way `winrs` does.
pub(crate) const RESOURCE_CMD: &str = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd";
/// The envelope size we ask the server to keep its answers under (Windows' default
/// `MaxEnvelopeSizekb` is 500, i.e. 512000 bytes); a Receive answer carries up to about 3/4
/// of it as output. Our own requests stay below it as well (see `copy.rs`).
pub(crate) const MAX_ENVELOPE_SIZE: usize = 512_000;
/// Create, Command, Send, Signal and Delete answer at once; this is what the server may take.
const DEFAULT_OPERATION_TIMEOUT: Duration = Duration::from_secs(60);

const NS: &str = concat!(
    r#"xmlns:s="http://www.w3.org/2003/05/soap-envelope" "#,
    r#"xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" "#,
    r#"xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" "#,
    r#"xmlns:p="http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd" "#,
    r#"xmlns:rsp="http://schemas.microsoft.com/wbem/wsman/1/windows/shell""#
);
const ACTION_CREATE: &str = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Create";
const ACTION_DELETE: &str = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Delete";
const ACTION_COMMAND: &str = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Command";
const ACTION_SEND: &str = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Send";
const ACTION_RECEIVE: &str = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Receive";
const ACTION_SIGNAL: &str = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Signal";
const SIGNAL_TERMINATE: &str =
    "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/signal/terminate";

/// A request envelope and the `MessageID` its answer must relate to.
#[derive(Debug)]
pub(crate) struct Envelope {
    pub xml: String,
    pub message_id: String,
}

/// The header fields that differ between operations.
struct Header<'a> {
    to: &'a str,
    action: &'a str,
    shell_id: Option<&'a str>,
    options: &'a [(&'a str, &'a str)],
    operation_timeout: Duration,
}

fn envelope(header: &Header<'_>, body: &str) -> Envelope {
    let message_id = format!("uuid:{}", uuid::Uuid::new_v4().to_string().to_uppercase());
    let mut xml = String::with_capacity(1500 + body.len());
    let _ = write!(
        xml,
        r#"<?xml version="1.0" encoding="utf-8"?><s:Envelope {NS}><s:Header><a:To>{to}</a:To><a:ReplyTo><a:Address s:mustUnderstand="true">http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address></a:ReplyTo><w:MaxEnvelopeSize s:mustUnderstand="true">{MAX_ENVELOPE_SIZE}</w:MaxEnvelopeSize><a:MessageID>{message_id}</a:MessageID><w:Locale xml:lang="en-US" s:mustUnderstand="false"/><p:DataLocale xml:lang="en-US" s:mustUnderstand="false"/><w:OperationTimeout>{timeout}</w:OperationTimeout><w:ResourceURI s:mustUnderstand="true">{RESOURCE_CMD}</w:ResourceURI><a:Action s:mustUnderstand="true">{action}</a:Action>"#,
        to = escape(header.to),
        timeout = duration(header.operation_timeout),
        action = header.action,
    );
    if let Some(shell_id) = header.shell_id {
        let _ = write!(
            xml,
            r#"<w:SelectorSet><w:Selector Name="ShellId">{}</w:Selector></w:SelectorSet>"#,
            escape(shell_id)
        );
    }
    if !header.options.is_empty() {
        xml.push_str("<w:OptionSet>");
        for (name, value) in header.options {
            let _ = write!(xml, r#"<w:Option Name="{name}">{value}</w:Option>"#);
        }
        xml.push_str("</w:OptionSet>");
    }
    let _ = write!(xml, "</s:Header><s:Body>{body}</s:Body></s:Envelope>");
    Envelope { xml, message_id }
}

/// `xs:duration` with millisecond precision, e.g. `PT20.000S`.
fn duration(d: Duration) -> String {
    format!("PT{}.{:03}S", d.as_secs(), d.subsec_millis())
}

/// Creates a cmd shell. Output comes as UTF-8 (code page 65001) whatever the host's OEM code
/// page is; the user profile is loaded as `winrs` does by default.
pub(crate) fn create(to: &str) -> Envelope {
    envelope(
        &Header {
            to,
            action: ACTION_CREATE,
            shell_id: None,
            options: &[("WINRS_NOPROFILE", "FALSE"), ("WINRS_CODEPAGE", "65001")],
            operation_timeout: DEFAULT_OPERATION_TIMEOUT,
        },
        "<rsp:Shell><rsp:InputStreams>stdin</rsp:InputStreams><rsp:OutputStreams>stdout stderr</rsp:OutputStreams></rsp:Shell>",
    )
}

/// How a command line is started.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Launch {
    /// stdin is a pipe that takes our bytes as they are (for data); otherwise a console, as
    /// `winrs` gives it.
    pub pipe_stdin: bool,
    /// Start the program directly instead of through `cmd /c` (no cmd built-ins, but the
    /// 32767-character process command line instead of cmd's 8191).
    pub skip_cmd_shell: bool,
}

/// Starts `command_line` in the shell.
pub(crate) fn command(to: &str, shell_id: &str, command_line: &str, launch: Launch) -> Envelope {
    let flag = |on: bool| if on { "TRUE" } else { "FALSE" };
    envelope(
        &Header {
            to,
            action: ACTION_COMMAND,
            shell_id: Some(shell_id),
            options: &[
                ("WINRS_CONSOLEMODE_STDIN", flag(!launch.pipe_stdin)),
                ("WINRS_SKIP_CMD_SHELL", flag(launch.skip_cmd_shell)),
            ],
            operation_timeout: DEFAULT_OPERATION_TIMEOUT,
        },
        &format!(
            "<rsp:CommandLine><rsp:Command>{}</rsp:Command></rsp:CommandLine>",
            escape(command_line)
        ),
    )
}

/// Writes `data` to the command's stdin; `end` closes it.
pub(crate) fn send(to: &str, shell_id: &str, command_id: &str, data: &[u8], end: bool) -> Envelope {
    let end = if end { r#" End="true""# } else { "" };
    envelope(
        &Header {
            to,
            action: ACTION_SEND,
            shell_id: Some(shell_id),
            options: &[],
            operation_timeout: DEFAULT_OPERATION_TIMEOUT,
        },
        &format!(
            r#"<rsp:Send><rsp:Stream Name="stdin" CommandId="{}"{end}>{}</rsp:Stream></rsp:Send>"#,
            escape(command_id),
            BASE64.encode(data)
        ),
    )
}

/// Asks for output; the server answers when there is some, when the command ends, or after
/// `wait` with the w:TimedOut fault.
pub(crate) fn receive(to: &str, shell_id: &str, command_id: &str, wait: Duration) -> Envelope {
    envelope(
        &Header {
            to,
            action: ACTION_RECEIVE,
            shell_id: Some(shell_id),
            options: &[("WSMAN_CMDSHELL_OPTION_KEEPALIVE", "TRUE")],
            operation_timeout: wait,
        },
        &format!(
            r#"<rsp:Receive><rsp:DesiredStream CommandId="{}">stdout stderr</rsp:DesiredStream></rsp:Receive>"#,
            escape(command_id)
        ),
    )
}

/// Stops the command (its process tree on Windows).
pub(crate) fn terminate(to: &str, shell_id: &str, command_id: &str) -> Envelope {
    envelope(
        &Header {
            to,
            action: ACTION_SIGNAL,
            shell_id: Some(shell_id),
            options: &[],
            operation_timeout: DEFAULT_OPERATION_TIMEOUT,
        },
        &format!(
            r#"<rsp:Signal CommandId="{}"><rsp:Code>{SIGNAL_TERMINATE}</rsp:Code></rsp:Signal>"#,
            escape(command_id)
        ),
    )
}

/// Deletes the shell and whatever still runs in it.
pub(crate) fn delete(to: &str, shell_id: &str) -> Envelope {
    envelope(
        &Header {
            to,
            action: ACTION_DELETE,
            shell_id: Some(shell_id),
            options: &[],
            operation_timeout: DEFAULT_OPERATION_TIMEOUT,
        },
        "",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_xs_durations() {
        assert_eq!(duration(Duration::from_millis(20_500)), "PT20.500S");
        assert_eq!(duration(Duration::from_secs(60)), "PT60.000S");
    }

    #[test]
    fn command_lines_are_escaped_and_ids_unique() {
        let console = Launch {
            pipe_stdin: false,
            skip_cmd_shell: false,
        };
        let a = command("http://h:5985/wsman", "S1", "echo <a & b>", console);
        assert!(
            a.xml
                .contains("<rsp:Command>echo &lt;a &amp; b&gt;</rsp:Command>"),
            "{}",
            a.xml
        );
        assert!(
            a.xml
                .contains(r#"<w:Selector Name="ShellId">S1</w:Selector>"#)
        );
        assert!(
            a.xml
                .contains(r#"<w:Option Name="WINRS_CONSOLEMODE_STDIN">TRUE</w:Option>"#)
        );
        let pipe = Launch {
            pipe_stdin: true,
            skip_cmd_shell: true,
        };
        let b = command("http://h:5985/wsman", "S1", "x", pipe);
        assert_ne!(a.message_id, b.message_id);
        assert!(
            b.xml
                .contains(r#"<w:Option Name="WINRS_CONSOLEMODE_STDIN">FALSE</w:Option>"#)
        );
        assert!(
            b.xml
                .contains(r#"<w:Option Name="WINRS_SKIP_CMD_SHELL">TRUE</w:Option>"#)
        );
    }

    #[test]
    fn send_carries_base64_and_the_end_marker() {
        let e = send("u", "S", "C", b"hi", true);
        assert!(
            e.xml
                .contains(r#"CommandId="C" End="true">aGk=</rsp:Stream>"#),
            "{}",
            e.xml
        );
    }

    #[test]
    fn create_asks_for_utf8_output() {
        let e = create("u");
        assert!(
            e.xml
                .contains(r#"<w:Option Name="WINRS_CODEPAGE">65001</w:Option>"#)
        );
        assert!(
            e.xml
                .contains("<w:MaxEnvelopeSize s:mustUnderstand=\"true\">512000<")
        );
    }
}
