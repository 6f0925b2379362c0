//! WS-Management SOAP envelopes for the Windows remote shell (MS-WSMV) and their responses.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use std::fmt::Write as _;
use std::time::Duration;

pub(crate) const NS_SOAP: &str = "http://www.w3.org/2003/05/soap-envelope";
pub(crate) const NS_ADDRESSING: &str = "http://schemas.xmlsoap.org/ws/2004/08/addressing";
pub(crate) const NS_WSMAN: &str = "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd";
pub(crate) const NS_WSMAN_MS: &str = "http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd";
pub(crate) const NS_SHELL: &str = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell";
pub(crate) const NS_TRANSFER: &str = "http://schemas.xmlsoap.org/ws/2004/09/transfer";
pub(crate) const NS_WSMAN_FAULT: &str = "http://schemas.microsoft.com/wbem/wsman/1/wsmanfault";

pub(crate) const RESOURCE_URI_CMD: &str =
    "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd";
const ANONYMOUS: &str = "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous";

pub(crate) const ACTION_CREATE: &str = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Create";
pub(crate) const ACTION_DELETE: &str = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Delete";
pub(crate) const ACTION_COMMAND: &str =
    "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Command";
pub(crate) const ACTION_RECEIVE: &str =
    "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Receive";
pub(crate) const ACTION_SIGNAL: &str =
    "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Signal";
const SIGNAL_TERMINATE: &str =
    "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/signal/terminate";
const COMMAND_STATE_DONE: &str =
    "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/CommandState/Done";

/// WSManFault code of a Receive that saw no output within the operation timeout (0x80338029).
pub const WSMAN_OPERATION_TIMEOUT: u32 = 2_150_858_793;

/// Escapes text for XML element content and attribute values.
pub(crate) fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            _ => out.push(c),
        }
    }
    out
}

/// ISO 8601 duration in whole seconds (`PT20S`), at least one second.
pub(crate) fn iso_duration(duration: Duration) -> String {
    let seconds = duration.as_secs_f64().ceil().max(1.0) as u64;
    format!("PT{seconds}S")
}

/// The header fields of one request.
pub(crate) struct RequestHeader<'a> {
    pub to: &'a str,
    pub action: &'a str,
    pub message_id: &'a str,
    pub shell_id: Option<&'a str>,
    pub options: &'a [(&'a str, &'a str)],
    pub operation_timeout: Duration,
    pub max_envelope_size: u32,
}

/// A full SOAP 1.2 envelope with the WS-Management header and `body` as the body content.
pub(crate) fn envelope(header: &RequestHeader<'_>, body: &str) -> String {
    let mut xml = String::with_capacity(2048 + body.len());
    let _ = write!(
        xml,
        r#"<?xml version="1.0" encoding="utf-8"?><env:Envelope xmlns:env="{NS_SOAP}" xmlns:a="{NS_ADDRESSING}" xmlns:w="{NS_WSMAN}" xmlns:p="{NS_WSMAN_MS}" xmlns:rsp="{NS_SHELL}" xmlns:x="{NS_TRANSFER}"><env:Header>"#
    );
    let _ = write!(xml, "<a:To>{}</a:To>", xml_escape(header.to));
    let _ = write!(
        xml,
        r#"<a:ReplyTo><a:Address env:mustUnderstand="true">{ANONYMOUS}</a:Address></a:ReplyTo>"#
    );
    let _ = write!(
        xml,
        r#"<w:MaxEnvelopeSize env:mustUnderstand="true">{}</w:MaxEnvelopeSize>"#,
        header.max_envelope_size
    );
    let _ = write!(xml, "<a:MessageID>{}</a:MessageID>", header.message_id);
    xml.push_str(r#"<w:Locale xml:lang="en-US" env:mustUnderstand="false"/>"#);
    xml.push_str(r#"<p:DataLocale xml:lang="en-US" env:mustUnderstand="false"/>"#);
    let _ = write!(
        xml,
        "<w:OperationTimeout>{}</w:OperationTimeout>",
        iso_duration(header.operation_timeout)
    );
    let _ = write!(
        xml,
        r#"<w:ResourceURI env:mustUnderstand="true">{RESOURCE_URI_CMD}</w:ResourceURI>"#
    );
    let _ = write!(
        xml,
        r#"<a:Action env:mustUnderstand="true">{}</a:Action>"#,
        header.action
    );
    if let Some(shell_id) = header.shell_id {
        let _ = write!(
            xml,
            r#"<w:SelectorSet><w:Selector Name="ShellId">{}</w:Selector></w:SelectorSet>"#,
            xml_escape(shell_id)
        );
    }
    if !header.options.is_empty() {
        xml.push_str("<w:OptionSet>");
        for (name, value) in header.options {
            let _ = write!(
                xml,
                r#"<w:Option Name="{}">{}</w:Option>"#,
                xml_escape(name),
                xml_escape(value)
            );
        }
        xml.push_str("</w:OptionSet>");
    }
    xml.push_str("</env:Header><env:Body>");
    xml.push_str(body);
    xml.push_str("</env:Body></env:Envelope>");
    xml
}

pub(crate) fn create_shell_body() -> &'static str {
    "<rsp:Shell><rsp:InputStreams>stdin</rsp:InputStreams><rsp:OutputStreams>stdout stderr</rsp:OutputStreams></rsp:Shell>"
}

pub(crate) fn command_body(command_line: &str) -> String {
    format!(
        "<rsp:CommandLine><rsp:Command>{}</rsp:Command></rsp:CommandLine>",
        xml_escape(command_line)
    )
}

pub(crate) fn receive_body(command_id: &str) -> String {
    format!(
        r#"<rsp:Receive><rsp:DesiredStream CommandId="{}">stdout stderr</rsp:DesiredStream></rsp:Receive>"#,
        xml_escape(command_id)
    )
}

pub(crate) fn signal_terminate_body(command_id: &str) -> String {
    format!(
        r#"<rsp:Signal CommandId="{}"><rsp:Code>{SIGNAL_TERMINATE}</rsp:Code></rsp:Signal>"#,
        xml_escape(command_id)
    )
}

/// A SOAP fault sent by the WinRM service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SoapFault {
    /// `s:Code/s:Value`, e.g. `s:Receiver`.
    pub code: Option<String>,
    /// `s:Code/s:Subcode/s:Value`, e.g. `w:TimedOut`.
    pub subcode: Option<String>,
    /// `s:Reason/s:Text`.
    pub reason: String,
    /// `WSManFault/@Code`, e.g. 2150858793 for an operation timeout.
    pub wsman_code: Option<u32>,
    /// `WSManFault/Message`, when it says more than the reason.
    pub message: Option<String>,
}

impl SoapFault {
    /// Whether this is the expected "no output yet" answer to a Receive long poll.
    pub fn is_operation_timeout(&self) -> bool {
        self.wsman_code == Some(WSMAN_OPERATION_TIMEOUT)
            || self
                .subcode
                .as_deref()
                .is_some_and(|subcode| subcode.ends_with(":TimedOut"))
    }

    /// The most helpful human text.
    pub fn text(&self) -> String {
        let text = self
            .message
            .as_deref()
            .filter(|m| !m.trim().is_empty())
            .unwrap_or(&self.reason);
        text.split_whitespace().collect::<Vec<_>>().join(" ")
    }
}

/// Why a response could not be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unexpected ws-management response: {what}")]
pub struct ResponseError {
    pub what: String,
}

fn bad(what: impl Into<String>) -> ResponseError {
    ResponseError { what: what.into() }
}

/// A parsed response envelope.
pub(crate) struct Response<'a> {
    document: roxmltree::Document<'a>,
}

impl<'a> Response<'a> {
    pub fn parse(text: &'a str) -> Result<Response<'a>, ResponseError> {
        let document =
            roxmltree::Document::parse(text).map_err(|e| bad(format!("not xml ({e})")))?;
        let root = document.root_element();
        if !(root.has_tag_name((NS_SOAP, "Envelope"))) {
            return Err(bad("no soap envelope"));
        }
        Ok(Response { document })
    }

    fn body(&self) -> Option<roxmltree::Node<'_, 'a>> {
        self.document
            .root_element()
            .children()
            .find(|n| n.has_tag_name((NS_SOAP, "Body")))
    }

    fn descendant(&self, ns: &str, name: &str) -> Option<roxmltree::Node<'_, 'a>> {
        self.document
            .descendants()
            .find(|n| n.has_tag_name((ns, name)))
    }

    /// `a:RelatesTo` of the header.
    pub fn relates_to(&self) -> Option<String> {
        self.descendant(NS_ADDRESSING, "RelatesTo")
            .and_then(|n| n.text())
            .map(|t| t.trim().to_string())
    }

    /// The fault in the body, if any.
    pub fn fault(&self) -> Option<SoapFault> {
        let fault = self
            .body()?
            .children()
            .find(|n| n.has_tag_name((NS_SOAP, "Fault")))?;
        let code_node = child(fault, "Code");
        let code = code_node
            .and_then(|c| child(c, "Value"))
            .and_then(|v| v.text())
            .map(str::trim)
            .map(String::from);
        let subcode = code_node
            .and_then(|c| child(c, "Subcode"))
            .and_then(|s| child(s, "Value"))
            .and_then(|v| v.text())
            .map(|t| t.trim().to_string());
        let reason = child(fault, "Reason")
            .and_then(|r| child(r, "Text"))
            .and_then(|t| t.text())
            .map(|t| t.trim().to_string())
            .unwrap_or_else(|| "no reason given".to_string());
        let wsman = fault
            .descendants()
            .find(|n| n.has_tag_name((NS_WSMAN_FAULT, "WSManFault")));
        let wsman_code = wsman
            .and_then(|w| w.attribute("Code"))
            .and_then(|c| c.trim().parse().ok());
        let message = wsman
            .and_then(|w| {
                w.children()
                    .find(|n| n.has_tag_name((NS_WSMAN_FAULT, "Message")))
            })
            .map(|m| {
                m.descendants()
                    .filter(|n| n.is_text())
                    .filter_map(|n| n.text())
                    .collect::<String>()
            })
            .map(|m| m.trim().to_string())
            .filter(|m| !m.is_empty());
        Some(SoapFault {
            code,
            subcode,
            reason,
            wsman_code,
            message,
        })
    }

    /// The ShellId of a Create response: the selector named `ShellId`, or `rsp:ShellId`.
    pub fn shell_id(&self) -> Result<String, ResponseError> {
        self.document
            .descendants()
            .find(|n| {
                n.has_tag_name((NS_WSMAN, "Selector")) && n.attribute("Name") == Some("ShellId")
            })
            .or_else(|| self.descendant(NS_SHELL, "ShellId"))
            .and_then(|n| n.text())
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty())
            .ok_or_else(|| bad("create response without a shell id"))
    }

    /// The CommandId of a Command response.
    pub fn command_id(&self) -> Result<String, ResponseError> {
        self.descendant(NS_SHELL, "CommandId")
            .and_then(|n| n.text())
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty())
            .ok_or_else(|| bad("command response without a command id"))
    }

    /// The streams and state of a Receive response.
    pub fn receive(&self, command_id: &str) -> Result<ReceivedChunk, ResponseError> {
        let response = self
            .descendant(NS_SHELL, "ReceiveResponse")
            .ok_or_else(|| bad("receive response without rsp:ReceiveResponse"))?;
        let mut chunk = ReceivedChunk::default();
        for node in response.children().filter(|n| n.is_element()) {
            if node.has_tag_name((NS_SHELL, "Stream")) {
                if node
                    .attribute("CommandId")
                    .is_some_and(|id| !id.eq_ignore_ascii_case(command_id))
                {
                    continue;
                }
                let text: String = node
                    .text()
                    .unwrap_or_default()
                    .chars()
                    .filter(|c| !c.is_whitespace())
                    .collect();
                let bytes = BASE64
                    .decode(text.as_bytes())
                    .map_err(|_| bad("stream content is not base64"))?;
                match node.attribute("Name") {
                    Some("stdout") => chunk.stdout.extend_from_slice(&bytes),
                    Some("stderr") => chunk.stderr.extend_from_slice(&bytes),
                    _ => {}
                }
            } else if node.has_tag_name((NS_SHELL, "CommandState"))
                && node.attribute("State") == Some(COMMAND_STATE_DONE)
            {
                chunk.done = true;
                let exit_code = node
                    .children()
                    .find(|n| n.has_tag_name((NS_SHELL, "ExitCode")))
                    .and_then(|n| n.text())
                    .map(str::trim);
                chunk.exit_code = match exit_code {
                    // Exit codes travel as unsigned 32-bit values.
                    Some(code) => Some(
                        code.parse::<i64>()
                            .map(|c| c as i32)
                            .map_err(|_| bad("exit code is not a number"))?,
                    ),
                    None => None,
                };
            }
        }
        Ok(chunk)
    }
}

fn child<'d, 'i>(node: roxmltree::Node<'d, 'i>, name: &str) -> Option<roxmltree::Node<'d, 'i>> {
    node.children().find(|n| n.has_tag_name((NS_SOAP, name)))
}

/// What one Receive returned.
#[derive(Debug, Default)]
pub(crate) struct ReceivedChunk {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub done: bool,
    pub exit_code: Option<i32>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_has_the_required_header() {
        let header = RequestHeader {
            to: "https://h:5986/wsman",
            action: ACTION_RECEIVE,
            message_id: "uuid:1",
            shell_id: Some("S<1>"),
            options: &[("WINRS_CODEPAGE", "65001")],
            operation_timeout: Duration::from_millis(1500),
            max_envelope_size: 153_600,
        };
        let xml = envelope(&header, &receive_body("C1"));
        let doc = roxmltree::Document::parse(&xml).unwrap();
        let find = |ns: &str, name: &str| {
            doc.descendants()
                .find(|n| n.has_tag_name((ns, name)))
                .unwrap()
        };
        assert_eq!(find(NS_WSMAN, "OperationTimeout").text(), Some("PT2S"));
        assert_eq!(find(NS_WSMAN, "Selector").text(), Some("S<1>"));
        assert_eq!(find(NS_ADDRESSING, "Action").text(), Some(ACTION_RECEIVE));
        assert_eq!(
            find(NS_SHELL, "DesiredStream").attribute("CommandId"),
            Some("C1")
        );
    }

    #[test]
    fn parses_a_receive_response() {
        let xml = format!(
            r#"<s:Envelope xmlns:s="{NS_SOAP}" xmlns:rsp="{NS_SHELL}"><s:Body><rsp:ReceiveResponse>
            <rsp:Stream Name="stdout" CommandId="ABC">aGVs</rsp:Stream>
            <rsp:Stream Name="stdout" CommandId="ABC">bG8=</rsp:Stream>
            <rsp:Stream Name="stderr" CommandId="ABC" End="true"></rsp:Stream>
            <rsp:Stream Name="stdout" CommandId="OTHER">eA==</rsp:Stream>
            <rsp:CommandState CommandId="ABC" State="{COMMAND_STATE_DONE}"><rsp:ExitCode>4294967295</rsp:ExitCode></rsp:CommandState>
            </rsp:ReceiveResponse></s:Body></s:Envelope>"#
        );
        let response = Response::parse(&xml).unwrap();
        let chunk = response.receive("abc").unwrap();
        assert_eq!(chunk.stdout, b"hello");
        assert!(chunk.done);
        assert_eq!(chunk.exit_code, Some(-1));
    }

    #[test]
    fn parses_a_fault() {
        let xml = format!(
            r#"<s:Envelope xmlns:s="{NS_SOAP}" xmlns:w="{NS_WSMAN}"><s:Body><s:Fault>
            <s:Code><s:Value>s:Receiver</s:Value><s:Subcode><s:Value>w:TimedOut</s:Value></s:Subcode></s:Code>
            <s:Reason><s:Text xml:lang="en-US">The WS-Management service cannot complete the operation.</s:Text></s:Reason>
            <s:Detail><f:WSManFault xmlns:f="{NS_WSMAN_FAULT}" Code="2150858793" Machine="h"><f:Message>too
            slow</f:Message></f:WSManFault></s:Detail></s:Fault></s:Body></s:Envelope>"#
        );
        let fault = Response::parse(&xml).unwrap().fault().unwrap();
        assert!(fault.is_operation_timeout());
        assert_eq!(fault.code.as_deref(), Some("s:Receiver"));
        assert_eq!(fault.text(), "too slow");
    }
}
