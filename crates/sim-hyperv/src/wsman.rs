//! The WS-Management shell operations (MS-WSMV): Create, Command, Receive, Signal, Delete,
//! their response envelopes and the SOAP faults a Windows WinRM service sends.

use crate::ps::{self, CommandLine};
use crate::{Operation, RequestRecord, Shared};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use uuid::Uuid;

const NS_SOAP: &str = "http://www.w3.org/2003/05/soap-envelope";
const NS_ADDRESSING: &str = "http://schemas.xmlsoap.org/ws/2004/08/addressing";
const NS_WSMAN: &str = "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd";
const NS_SHELL: &str = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell";
const RESOURCE_URI_CMD: &str = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd";
const ANONYMOUS: &str = "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous";

const ACTION_CREATE: &str = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Create";
const ACTION_DELETE: &str = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Delete";
const ACTION_COMMAND: &str = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Command";
const ACTION_RECEIVE: &str = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Receive";
const ACTION_SIGNAL: &str = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Signal";
const ACTION_FAULT: &str = "http://schemas.dmtf.org/wbem/wsman/1/wsman/fault";
const STATE_DONE: &str =
    "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/CommandState/Done";
const STATE_RUNNING: &str =
    "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/CommandState/Running";

/// WSManFault codes.
const FAULT_OPERATION_TIMEOUT: u32 = 2_150_858_793;
const FAULT_SHELL_NOT_FOUND: u32 = 2_150_858_843;

/// Raw output bytes per `rsp:Stream` element and per Receive response.
const STREAM_CHUNK: usize = 8 * 1024;
const RECEIVE_BUDGET: usize = 32 * 1024;

/// Longest wait of a Receive long poll, whatever the client asks for.
const MAX_LONG_POLL: Duration = Duration::from_secs(60);

/// A shell on the simulated host.
pub(crate) struct ShellState {
    pub owner: String,
    pub codepage: u32,
    pub commands: std::collections::HashMap<String, CommandState>,
}

/// A command's output and progress of its delivery.
pub(crate) struct CommandState {
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    stdout_sent: usize,
    stderr_sent: usize,
    exit_code: i32,
    /// Set for commands that never finish (fault injection); notified on Signal.
    hang: Option<Arc<Notify>>,
}

/// A reply: HTTP status and SOAP envelope.
pub(crate) struct Reply {
    pub status: u16,
    pub body: String,
}

struct Request<'a> {
    action: String,
    message_id: String,
    resource_uri: String,
    shell_id: Option<String>,
    operation_timeout: Duration,
    options: Vec<(String, String)>,
    document: &'a roxmltree::Document<'a>,
}

fn header_text(document: &roxmltree::Document<'_>, ns: &str, name: &str) -> Option<String> {
    document
        .descendants()
        .find(|n| n.has_tag_name((ns, name)))
        .and_then(|n| n.text())
        .map(|t| t.trim().to_string())
}

/// `PT20S`, `PT20.500S`, `PT1M30S` → duration (default 60 s).
pub(crate) fn parse_duration(text: &str) -> Option<Duration> {
    let rest = text.trim().strip_prefix('P')?;
    let (_, time) = rest.split_once('T')?;
    let mut seconds = 0.0;
    let mut number = String::new();
    for c in time.chars() {
        match c {
            '0'..='9' | '.' => number.push(c),
            'H' => seconds += number.parse::<f64>().ok()? * 3600.0,
            'M' => seconds += number.parse::<f64>().ok()? * 60.0,
            'S' => seconds += number.parse::<f64>().ok()?,
            _ => return None,
        }
        if c.is_ascii_alphabetic() {
            number.clear();
        }
    }
    Some(Duration::from_secs_f64(seconds))
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn envelope(action: &str, relates_to: &str, body: &str) -> String {
    let mut xml = String::with_capacity(1024 + body.len());
    let _ = write!(
        xml,
        r#"<s:Envelope xml:lang="en-US" xmlns:s="{NS_SOAP}" xmlns:a="{NS_ADDRESSING}" xmlns:x="http://schemas.xmlsoap.org/ws/2004/09/transfer" xmlns:w="{NS_WSMAN}" xmlns:rsp="{NS_SHELL}" xmlns:p="http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd">"#
    );
    let _ = write!(
        xml,
        "<s:Header><a:Action>{action}</a:Action><a:MessageID>uuid:{}</a:MessageID><a:To>{ANONYMOUS}</a:To><a:RelatesTo>{}</a:RelatesTo></s:Header>",
        Uuid::new_v4().to_string().to_uppercase(),
        escape(relates_to)
    );
    let _ = write!(xml, "<s:Body>{body}</s:Body></s:Envelope>");
    xml
}

/// A SOAP fault as HTTP 500.
fn fault(
    relates_to: &str,
    code: &str,
    subcode: &str,
    reason: &str,
    wsman_code: Option<u32>,
    machine: &str,
) -> Reply {
    let mut body = format!(
        r#"<s:Fault><s:Code><s:Value>{code}</s:Value><s:Subcode><s:Value>{subcode}</s:Value></s:Subcode></s:Code><s:Reason><s:Text xml:lang="en-US">{}</s:Text></s:Reason>"#,
        escape(reason)
    );
    if let Some(wsman_code) = wsman_code {
        let _ = write!(
            body,
            r#"<s:Detail><f:WSManFault xmlns:f="http://schemas.microsoft.com/wbem/wsman/1/wsmanfault" Code="{wsman_code}" Machine="{}"><f:Message>{}</f:Message></f:WSManFault></s:Detail>"#,
            escape(machine),
            escape(reason)
        );
    }
    body.push_str("</s:Fault>");
    Reply {
        status: 500,
        body: envelope(ACTION_FAULT, relates_to, &body),
    }
}

fn ok(action: &str, relates_to: &str, body: &str) -> Reply {
    Reply {
        status: 200,
        body: envelope(action, relates_to, body),
    }
}

/// Handles one authenticated WS-Management request.
pub(crate) async fn handle(shared: &Arc<Shared>, user: &str, body: &str) -> Reply {
    let machine = shared.config.computer_name.clone();
    let Ok(document) = roxmltree::Document::parse(body) else {
        return fault(
            "",
            "s:Sender",
            "w:SchemaValidationError",
            "The SOAP XML in the message does not match the corresponding XML schema definition. Change the XML and retry.",
            Some(2_150_858_817),
            &machine,
        );
    };
    let selector_shell = document
        .descendants()
        .find(|n| n.has_tag_name((NS_WSMAN, "Selector")) && n.attribute("Name") == Some("ShellId"))
        .and_then(|n| n.text())
        .map(|t| t.trim().to_string());
    let options = document
        .descendants()
        .filter(|n| n.has_tag_name((NS_WSMAN, "Option")))
        .map(|n| {
            (
                n.attribute("Name").unwrap_or_default().to_string(),
                n.text().unwrap_or_default().trim().to_string(),
            )
        })
        .collect();
    let request = Request {
        action: header_text(&document, NS_ADDRESSING, "Action").unwrap_or_default(),
        message_id: header_text(&document, NS_ADDRESSING, "MessageID").unwrap_or_default(),
        resource_uri: header_text(&document, NS_WSMAN, "ResourceURI").unwrap_or_default(),
        shell_id: selector_shell,
        operation_timeout: header_text(&document, NS_WSMAN, "OperationTimeout")
            .and_then(|t| parse_duration(&t))
            .unwrap_or(Duration::from_secs(60)),
        options,
        document: &document,
    };
    if !request.resource_uri.eq_ignore_ascii_case(RESOURCE_URI_CMD) {
        return fault(
            &request.message_id,
            "s:Sender",
            "w:DestinationUnreachable",
            "The WS-Management service cannot process the request because the resource URI is not valid.",
            Some(2_150_858_770),
            &machine,
        );
    }
    match request.action.as_str() {
        ACTION_CREATE => create(shared, user, &request),
        ACTION_COMMAND => command(shared, user, &request),
        ACTION_RECEIVE => receive(shared, user, &request).await,
        ACTION_SIGNAL => signal(shared, user, &request),
        ACTION_DELETE => delete(shared, user, &request),
        other => {
            shared.record(RequestRecord::new(
                Operation::Other(other.to_string()),
                user,
            ));
            fault(
                &request.message_id,
                "s:Sender",
                "a:ActionNotSupported",
                "The WS-Management service cannot process the request because the action is not supported.",
                Some(2_150_858_753),
                &machine,
            )
        }
    }
}

fn shell_not_found(request: &Request<'_>, machine: &str) -> Reply {
    let id = request.shell_id.clone().unwrap_or_default();
    fault(
        &request.message_id,
        "s:Sender",
        "w:InvalidSelectors",
        &format!("The request for the Windows Remote Shell with ShellId {id} failed because the shell was not found on the server. Possible causes are: the specified ShellId is incorrect or the shell no longer exists on the server. Provide the correct ShellId or create a new shell and retry the operation."),
        Some(FAULT_SHELL_NOT_FOUND),
        machine,
    )
}

fn command_not_found(request: &Request<'_>, command_id: &str, machine: &str) -> Reply {
    fault(
        &request.message_id,
        "s:Sender",
        "w:InvalidParameter",
        &format!("The request for the Windows Remote Shell with ShellId {} failed because the command with CommandId {command_id} was not found on the server.", request.shell_id.clone().unwrap_or_default()),
        Some(FAULT_SHELL_NOT_FOUND),
        machine,
    )
}

fn create(shared: &Arc<Shared>, user: &str, request: &Request<'_>) -> Reply {
    let shell_id = Uuid::new_v4().to_string().to_uppercase();
    let codepage = request
        .options
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("WINRS_CODEPAGE"))
        .and_then(|(_, value)| value.parse().ok())
        .unwrap_or(437);
    {
        let mut inner = shared.lock();
        inner.shells.insert(
            shell_id.clone(),
            ShellState {
                owner: user.to_string(),
                codepage,
                commands: std::collections::HashMap::new(),
            },
        );
    }
    let mut record = RequestRecord::new(Operation::Create, user);
    record.shell_id = Some(shell_id.clone());
    shared.record(record);
    let body = format!(
        "<x:ResourceCreated><a:Address>{endpoint}</a:Address><a:ReferenceParameters><w:ResourceURI>{RESOURCE_URI_CMD}</w:ResourceURI>\
         <w:SelectorSet><w:Selector Name=\"ShellId\">{shell_id}</w:Selector></w:SelectorSet></a:ReferenceParameters></x:ResourceCreated>\
         <rsp:Shell><rsp:ShellId>{shell_id}</rsp:ShellId><rsp:ResourceUri>{RESOURCE_URI_CMD}</rsp:ResourceUri><rsp:Owner>{owner}</rsp:Owner>\
         <rsp:ClientIP>127.0.0.1</rsp:ClientIP><rsp:IdleTimeOut>PT7200.000S</rsp:IdleTimeOut><rsp:InputStreams>stdin</rsp:InputStreams>\
         <rsp:OutputStreams>stdout stderr</rsp:OutputStreams><rsp:ShellRunTime>P0DT0H0M0S</rsp:ShellRunTime><rsp:ShellInactivity>P0DT0H0M0S</rsp:ShellInactivity></rsp:Shell>",
        endpoint = escape(&shared.endpoint),
        owner = escape(user),
    );
    ok(
        "http://schemas.xmlsoap.org/ws/2004/09/transfer/CreateResponse",
        &request.message_id,
        &body,
    )
}

/// Replaces characters outside the shell's code page (only 65001 is Unicode).
fn encode_for_codepage(text: &str, codepage: u32) -> Vec<u8> {
    if codepage == 65001 {
        return text.as_bytes().to_vec();
    }
    text.chars()
        .map(|c| if c.is_ascii() { c as u8 } else { b'?' })
        .collect()
}

fn command(shared: &Arc<Shared>, user: &str, request: &Request<'_>) -> Reply {
    let machine = shared.config.computer_name.clone();
    let command_line_node = request
        .document
        .descendants()
        .find(|n| n.has_tag_name((NS_SHELL, "CommandLine")));
    let mut command_line = command_line_node
        .and_then(|n| n.children().find(|c| c.has_tag_name((NS_SHELL, "Command"))))
        .and_then(|n| n.text())
        .unwrap_or_default()
        .trim()
        .to_string();
    if let Some(node) = command_line_node {
        for argument in node
            .children()
            .filter(|c| c.has_tag_name((NS_SHELL, "Arguments")))
        {
            command_line.push(' ');
            command_line.push_str(argument.text().unwrap_or_default());
        }
    }
    let command_id = Uuid::new_v4().to_string().to_uppercase();
    let mut inner = shared.lock();
    let inner = &mut *inner;
    let Some(shell_id) = request
        .shell_id
        .clone()
        .filter(|id| inner.shells.get(id).is_some_and(|s| s.owner == user))
    else {
        return shell_not_found(request, &machine);
    };
    let hang = if inner.faults.hang_commands > 0 {
        inner.faults.hang_commands -= 1;
        true
    } else {
        false
    };
    let (classified, outcome) = if hang {
        (
            ps::classify(&command_line),
            ps::ScriptOutcome {
                stdout: String::new(),
                stderr: String::new(),
                exit_code: 0,
            },
        )
    } else {
        ps::run_command_line(
            &mut inner.host,
            &command_line,
            &mut inner.faults.forced_failures,
        )
    };
    let shell = inner.shells.get_mut(&shell_id).expect("checked above");
    shell.commands.insert(
        command_id.clone(),
        CommandState {
            stdout: encode_for_codepage(&outcome.stdout, shell.codepage),
            stderr: encode_for_codepage(&outcome.stderr, shell.codepage),
            stdout_sent: 0,
            stderr_sent: 0,
            exit_code: outcome.exit_code,
            hang: hang.then(|| Arc::new(Notify::new())),
        },
    );
    let mut record = RequestRecord::new(Operation::Command, user);
    record.shell_id = Some(shell_id);
    record.command_id = Some(command_id.clone());
    record.command_line = Some(command_line);
    record.script = match classified {
        CommandLine::PowerShell(script) => Some(script),
        _ => None,
    };
    record.exit_code = (!hang).then_some(outcome.exit_code);
    inner.log.push(record);
    ok(
        "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/CommandResponse",
        &request.message_id,
        &format!("<rsp:CommandResponse><rsp:CommandId>{command_id}</rsp:CommandId></rsp:CommandResponse>"),
    )
}

fn desired_command_id(request: &Request<'_>, element: &str) -> Option<String> {
    request
        .document
        .descendants()
        .find(|n| n.has_tag_name((NS_SHELL, element)))
        .and_then(|n| n.attribute("CommandId"))
        .map(|id| id.trim().to_uppercase())
}

fn timeout_fault(request: &Request<'_>, machine: &str) -> Reply {
    fault(
        &request.message_id,
        "s:Receiver",
        "w:TimedOut",
        "The WS-Management service cannot complete the operation within the time specified in OperationTimeout.",
        Some(FAULT_OPERATION_TIMEOUT),
        machine,
    )
}

async fn receive(shared: &Arc<Shared>, user: &str, request: &Request<'_>) -> Reply {
    let machine = shared.config.computer_name.clone();
    let command_id = desired_command_id(request, "DesiredStream").unwrap_or_default();
    let mut record = RequestRecord::new(Operation::Receive, user);
    record.shell_id = request.shell_id.clone();
    record.command_id = Some(command_id.clone());
    shared.record(record);
    let hang = {
        let mut inner = shared.lock();
        let inner = &mut *inner;
        let Some(shell) = request
            .shell_id
            .as_ref()
            .and_then(|id| inner.shells.get_mut(id))
            .filter(|s| s.owner == user)
        else {
            return shell_not_found(request, &machine);
        };
        let Some(state) = shell.commands.get_mut(&command_id) else {
            return command_not_found(request, &command_id, &machine);
        };
        if inner.faults.receive_timeouts > 0 {
            inner.faults.receive_timeouts -= 1;
            return timeout_fault(request, &machine);
        }
        match &state.hang {
            Some(notify) => Arc::clone(notify),
            None => {
                return ok(
                    "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/ReceiveResponse",
                    &request.message_id,
                    &receive_body(&command_id, state),
                )
            }
        }
    };
    // A command that never finishes: wait out the long poll (or a terminate signal).
    let wait = request.operation_timeout.min(MAX_LONG_POLL);
    let _ = tokio::time::timeout(wait, hang.notified()).await;
    timeout_fault(request, &machine)
}

fn receive_body(command_id: &str, state: &mut CommandState) -> String {
    let mut body = String::from("<rsp:ReceiveResponse>");
    let mut budget = RECEIVE_BUDGET;
    for (name, data, sent) in [
        ("stdout", &state.stdout, &mut state.stdout_sent),
        ("stderr", &state.stderr, &mut state.stderr_sent),
    ] {
        while *sent < data.len() && budget > 0 {
            let take = (data.len() - *sent).min(STREAM_CHUNK).min(budget);
            let chunk = &data[*sent..*sent + take];
            let _ = write!(
                body,
                r#"<rsp:Stream Name="{name}" CommandId="{command_id}">{}</rsp:Stream>"#,
                BASE64.encode(chunk)
            );
            *sent += take;
            budget -= take;
        }
    }
    let finished =
        state.stdout_sent == state.stdout.len() && state.stderr_sent == state.stderr.len();
    if finished {
        let _ = write!(
            body,
            r#"<rsp:Stream Name="stdout" CommandId="{command_id}" End="true"></rsp:Stream>"#
        );
        let _ = write!(
            body,
            r#"<rsp:Stream Name="stderr" CommandId="{command_id}" End="true"></rsp:Stream>"#
        );
        let _ = write!(
            body,
            r#"<rsp:CommandState CommandId="{command_id}" State="{STATE_DONE}"><rsp:ExitCode>{}</rsp:ExitCode></rsp:CommandState>"#,
            state.exit_code as u32
        );
    } else {
        let _ = write!(
            body,
            r#"<rsp:CommandState CommandId="{command_id}" State="{STATE_RUNNING}"></rsp:CommandState>"#
        );
    }
    body.push_str("</rsp:ReceiveResponse>");
    body
}

fn signal(shared: &Arc<Shared>, user: &str, request: &Request<'_>) -> Reply {
    let machine = shared.config.computer_name.clone();
    let command_id = desired_command_id(request, "Signal").unwrap_or_default();
    let code = request
        .document
        .descendants()
        .find(|n| n.has_tag_name((NS_SHELL, "Code")))
        .and_then(|n| n.text())
        .unwrap_or_default()
        .trim()
        .to_string();
    let mut record = RequestRecord::new(Operation::Signal, user);
    record.shell_id = request.shell_id.clone();
    record.command_id = Some(command_id.clone());
    record.signal = Some(code);
    shared.record(record);
    let mut inner = shared.lock();
    let Some(shell) = request
        .shell_id
        .as_ref()
        .and_then(|id| inner.shells.get_mut(id))
        .filter(|s| s.owner == user)
    else {
        drop(inner);
        return shell_not_found(request, &machine);
    };
    // Terminate and Ctrl-C/Ctrl-Break all end the (already evaluated) command.
    match shell.commands.remove(&command_id) {
        Some(state) => {
            if let Some(notify) = state.hang {
                notify.notify_waiters();
            }
        }
        None => {
            drop(inner);
            return command_not_found(request, &command_id, &machine);
        }
    }
    ok(
        "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/SignalResponse",
        &request.message_id,
        "<rsp:SignalResponse/>",
    )
}

fn delete(shared: &Arc<Shared>, user: &str, request: &Request<'_>) -> Reply {
    let machine = shared.config.computer_name.clone();
    let mut record = RequestRecord::new(Operation::Delete, user);
    record.shell_id = request.shell_id.clone();
    shared.record(record);
    let removed = {
        let mut inner = shared.lock();
        match request.shell_id.as_ref() {
            Some(id) if inner.shells.get(id).is_some_and(|s| s.owner == user) => {
                inner.shells.remove(id)
            }
            _ => None,
        }
    };
    match removed {
        Some(shell) => {
            for state in shell.commands.into_values() {
                if let Some(notify) = state.hang {
                    notify.notify_waiters();
                }
            }
            ok(
                "http://schemas.xmlsoap.org/ws/2004/09/transfer/DeleteResponse",
                &request.message_id,
                "",
            )
        }
        None => shell_not_found(request, &machine),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(action: &str, resource_uri: &str, shell: Option<&str>, body: &str) -> String {
        let selector = shell
            .map(|id| {
                format!(
                    r#"<w:SelectorSet><w:Selector Name="ShellId">{id}</w:Selector></w:SelectorSet>"#
                )
            })
            .unwrap_or_default();
        format!(
            r#"<env:Envelope xmlns:env="{NS_SOAP}" xmlns:a="{NS_ADDRESSING}" xmlns:w="{NS_WSMAN}" xmlns:rsp="{NS_SHELL}"><env:Header><a:Action>{action}</a:Action><a:MessageID>uuid:ABC</a:MessageID><w:ResourceURI>{resource_uri}</w:ResourceURI><w:OperationTimeout>PT1S</w:OperationTimeout>{selector}</env:Header><env:Body>{body}</env:Body></env:Envelope>"#
        )
    }

    fn shell_id_of(reply: &Reply) -> String {
        let document = roxmltree::Document::parse(&reply.body).unwrap();
        document
            .descendants()
            .find(|n| n.attribute("Name") == Some("ShellId"))
            .and_then(|n| n.text())
            .unwrap()
            .to_string()
    }

    #[tokio::test]
    async fn faults_for_bad_requests() {
        let shared = crate::test_shared();
        let reply = handle(&shared, "u", "not xml").await;
        assert_eq!(reply.status, 500);
        assert!(reply.body.contains("w:SchemaValidationError"));
        let reply = handle(
            &shared,
            "u",
            &request(ACTION_CREATE, "http://example/other", None, ""),
        )
        .await;
        assert!(reply.body.contains("w:DestinationUnreachable"));
        let reply = handle(
            &shared,
            "u",
            &request("http://example/Frobnicate", RESOURCE_URI_CMD, None, ""),
        )
        .await;
        assert!(reply.body.contains("a:ActionNotSupported"));
        assert!(reply.body.contains("<a:RelatesTo>uuid:ABC</a:RelatesTo>"));
        let reply = handle(
            &shared,
            "u",
            &request(ACTION_COMMAND, RESOURCE_URI_CMD, Some("NOPE"), ""),
        )
        .await;
        assert!(reply.body.contains("w:InvalidSelectors") && reply.body.contains("2150858843"));
    }

    #[tokio::test]
    async fn shells_belong_to_their_owner_and_commands_must_exist() {
        let shared = crate::test_shared();
        let created = handle(
            &shared,
            "alice",
            &request(ACTION_CREATE, RESOURCE_URI_CMD, None, ""),
        )
        .await;
        assert_eq!(created.status, 200);
        assert!(created.body.contains("CreateResponse"));
        let shell = shell_id_of(&created);
        let receive = r#"<rsp:Receive><rsp:DesiredStream CommandId="X">stdout stderr</rsp:DesiredStream></rsp:Receive>"#;
        let reply = handle(
            &shared,
            "alice",
            &request(ACTION_RECEIVE, RESOURCE_URI_CMD, Some(&shell), receive),
        )
        .await;
        assert!(reply.body.contains("CommandId X was not found"));
        let reply = handle(
            &shared,
            "mallory",
            &request(ACTION_DELETE, RESOURCE_URI_CMD, Some(&shell), ""),
        )
        .await;
        assert!(reply.body.contains("w:InvalidSelectors"));
        let command = "<rsp:CommandLine><rsp:Command>echo hi</rsp:Command></rsp:CommandLine>";
        let reply = handle(
            &shared,
            "alice",
            &request(ACTION_COMMAND, RESOURCE_URI_CMD, Some(&shell), command),
        )
        .await;
        assert_eq!(reply.status, 200);
        let reply = handle(
            &shared,
            "alice",
            &request(ACTION_DELETE, RESOURCE_URI_CMD, Some(&shell), ""),
        )
        .await;
        assert_eq!(reply.status, 200);
        assert!(reply.body.contains("DeleteResponse"));
        assert!(shared.lock().shells.is_empty());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("PT20S"), Some(Duration::from_secs(20)));
        assert_eq!(
            parse_duration("PT1.500S"),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(parse_duration("PT1M30S"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("20"), None);
    }

    #[test]
    fn receive_chunks_large_output() {
        let mut state = CommandState {
            stdout: vec![b'x'; 70 * 1024],
            stderr: b"err".to_vec(),
            stdout_sent: 0,
            stderr_sent: 0,
            exit_code: 3,
            hang: None,
        };
        let first = receive_body("C", &mut state);
        assert!(first.contains(STATE_RUNNING));
        assert_eq!(state.stdout_sent, RECEIVE_BUDGET);
        let _ = receive_body("C", &mut state);
        let last = receive_body("C", &mut state);
        assert!(last.contains(STATE_DONE));
        assert!(last.contains("<rsp:ExitCode>3</rsp:ExitCode>"));
        assert_eq!(state.stderr_sent, 3);
    }
}
