//! What the remote shell runs: `cmd.exe` command lines, `powershell -EncodedCommand …` and an
//! interpreter for the PowerShell subset the Hyper-V extension sends.

mod clixml;
mod cmdlets;
mod eval;
mod parse;
mod value;

pub(crate) use eval::ForcedFailure;
pub use eval::ScriptOutcome;

use crate::model::HyperV;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use clixml::{render_error, render_stderr, ErrorRecord};
use parse::Span;

/// The longest command line `cmd.exe` accepts.
pub const MAX_COMMAND_LINE: usize = 8191;

/// A run that produced nothing but an error text.
fn plain_failure(text: &str) -> ScriptOutcome {
    ScriptOutcome {
        stdout: String::new(),
        stderr: text.to_string(),
        exit_code: 1,
    }
}

/// Runs a PowerShell script against the host.
pub(crate) fn run_script(
    host: &mut HyperV,
    script: &str,
    forced_failures: &mut Vec<ForcedFailure>,
) -> ScriptOutcome {
    let source: Vec<char> = script.chars().collect();
    match parse::parse_script(&source) {
        Ok(block) => eval::Interpreter::new(host, &source, forced_failures).run(&block),
        Err(error) => {
            let record = ErrorRecord {
                message: format!("{}.", error.message.trim_end_matches('.')),
                command: None,
                category: "ParserError",
                reason: "ParentContainsErrorRecordException",
                target: String::new(),
                fully_qualified_id: "ParseError".to_string(),
                span: Some(Span {
                    start: error.offset,
                    end: error.offset + 1,
                }),
            };
            let text = render_error(&record, &source);
            ScriptOutcome {
                stdout: String::new(),
                stderr: render_stderr(&[text], false),
                exit_code: 1,
            }
        }
    }
}

/// What a command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CommandLine {
    /// A PowerShell script (decoded from `-EncodedCommand`, or the text after `-Command`).
    PowerShell(String),
    /// Anything else, answered by the `cmd.exe` stand-in.
    Cmd(String),
    /// `powershell` with arguments it rejects; the text is its complaint.
    Invalid(String),
}

/// Splits a command line into what runs.
pub(crate) fn classify(command_line: &str) -> CommandLine {
    let mut tokens = command_line.split_whitespace();
    let Some(program) = tokens.next() else {
        return CommandLine::Cmd(String::new());
    };
    let program_name = program
        .trim_matches('"')
        .rsplit(['\\', '/'])
        .next()
        .unwrap_or(program)
        .to_ascii_lowercase();
    if program_name != "powershell" && program_name != "powershell.exe" {
        return CommandLine::Cmd(command_line.trim().to_string());
    }
    let rest: Vec<&str> = tokens.collect();
    let mut index = 0;
    while index < rest.len() {
        let token = rest[index];
        let Some(flag) = token.strip_prefix('-').or_else(|| token.strip_prefix('/')) else {
            // A bare script text is treated like -Command.
            return CommandLine::PowerShell(rest[index..].join(" "));
        };
        let flag = flag.to_ascii_lowercase();
        if flag == "ec" || (flag.starts_with('e') && "encodedcommand".starts_with(&flag)) {
            let Some(encoded) = rest.get(index + 1) else {
                return CommandLine::Invalid("Cannot process the command because of a missing parameter. Specify a parameter of type String for -EncodedCommand.\r\n".into());
            };
            return match decode_encoded_command(encoded) {
                Some(script) => CommandLine::PowerShell(script),
                None => CommandLine::Invalid(
                    "Cannot process the command because the value specified with -EncodedCommand is not properly encoded. The value must be Base64 encoded.\r\n".into(),
                ),
            };
        }
        if !flag.is_empty() && "command".starts_with(&flag) {
            return CommandLine::PowerShell(rest[index + 1..].join(" "));
        }
        let takes_value = [
            "executionpolicy",
            "ep",
            "ex",
            "outputformat",
            "of",
            "inputformat",
            "if",
            "windowstyle",
            "w",
            "version",
            "psconsolefile",
        ];
        let no_value = [
            "noprofile",
            "nop",
            "noninteractive",
            "noni",
            "nologo",
            "sta",
            "mta",
            "noexit",
        ];
        if takes_value.contains(&flag.as_str()) {
            index += 2;
        } else if no_value.contains(&flag.as_str()) {
            index += 1;
        } else {
            return CommandLine::Invalid(format!("-{flag} : The term '-{flag}' is not recognized as a valid parameter of powershell.exe.\r\n"));
        }
    }
    CommandLine::PowerShell(String::new())
}

fn decode_encoded_command(encoded: &str) -> Option<String> {
    let bytes = BASE64.decode(encoded.trim().as_bytes()).ok()?;
    if bytes.len() % 2 != 0 {
        return None;
    }
    let units: Vec<u16> = bytes
        .chunks_exact(2)
        .map(|pair| u16::from_le_bytes([pair[0], pair[1]]))
        .collect();
    String::from_utf16(&units).ok()
}

/// Runs a command line the way the remote `cmd` shell would.
pub(crate) fn run_command_line(
    host: &mut HyperV,
    command_line: &str,
    forced_failures: &mut Vec<ForcedFailure>,
) -> (CommandLine, ScriptOutcome) {
    if command_line.chars().count() > MAX_COMMAND_LINE {
        return (
            CommandLine::Cmd(String::new()),
            plain_failure("The command line is too long.\r\n"),
        );
    }
    let classified = classify(command_line);
    let outcome = match &classified {
        CommandLine::PowerShell(script) => run_script(host, script, forced_failures),
        CommandLine::Invalid(text) => plain_failure(text),
        CommandLine::Cmd(line) => run_cmd(host, line),
    };
    (classified, outcome)
}

/// The few `cmd.exe` commands the simulator knows.
fn run_cmd(host: &HyperV, line: &str) -> ScriptOutcome {
    let (program, arguments) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
    match program.to_ascii_lowercase().as_str() {
        "echo" => ScriptOutcome { stdout: format!("{}\r\n", arguments.trim()), stderr: String::new(), exit_code: 0 },
        "hostname" => ScriptOutcome { stdout: format!("{}\r\n", host.computer_name), stderr: String::new(), exit_code: 0 },
        "exit" => {
            let code = arguments.trim().trim_start_matches("/b").trim().parse().unwrap_or(0);
            ScriptOutcome { stdout: String::new(), stderr: String::new(), exit_code: code }
        }
        "" => ScriptOutcome { stdout: String::new(), stderr: String::new(), exit_code: 0 },
        other => plain_failure(&format!(
            "'{other}' is not recognized as an internal or external command,\r\noperable program or batch file.\r\n"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::VmState;

    fn run(host: &mut HyperV, script: &str) -> ScriptOutcome {
        run_script(host, script, &mut Vec::new())
    }

    fn error_text(outcome: &ScriptOutcome) -> String {
        let document = outcome.stderr.trim_start_matches("#< CLIXML").trim();
        let doc = roxmltree::Document::parse(document).unwrap();
        doc.descendants()
            .filter(|n| n.tag_name().name() == "S")
            .filter_map(|n| n.text())
            .collect::<String>()
            .replace("_x000D__x000A_", "\n")
    }

    const PREAMBLE: &str =
        "$ErrorActionPreference = 'Stop'\r\n$ProgressPreference = 'SilentlyContinue'\r\n";

    #[test]
    fn creates_and_configures_a_vm() {
        let mut host = HyperV::with_defaults("SIM");
        let script = format!(
            "{PREAMBLE}Copy-Item -LiteralPath 'C:\\Templates\\ubuntu-24.04.vhdx' -Destination 'C:\\Hyper-V\\Virtual Hard Disks\\v1.vhdx'\r\n\
             New-VM -Name 'v1' -MemoryStartupBytes 2147483648 -Generation 2 -Path 'C:\\Hyper-V\\Virtual Machines' -VHDPath 'C:\\Hyper-V\\Virtual Hard Disks\\v1.vhdx' | Out-Null\r\n\
             Set-VMProcessor -VMName 'v1' -Count 2\r\n\
             Set-VMFirmware -VMName 'v1' -EnableSecureBoot Off\r\n\
             Get-VMNetworkAdapter -VMName 'v1' | Remove-VMNetworkAdapter\r\n\
             Add-VMNetworkAdapter -VMName 'v1' -SwitchName 'External' -Name 'NIC1' -StaticMacAddress '02002F6E0005'\r\n\
             Set-VMNetworkAdapterVlan -VMName 'v1' -VMNetworkAdapterName 'NIC1' -Access -VlanId 1234\r\n\
             Start-VM -Name 'v1'\r\n\
             (Get-VM -Name 'v1').State.ToString()"
        );
        let outcome = run(&mut host, &script);
        assert_eq!(outcome.stderr, "");
        assert_eq!(
            (outcome.stdout.as_str(), outcome.exit_code),
            ("Running\r\n", 0)
        );
        let vm = host.vm("V1").unwrap();
        assert_eq!(
            (vm.generation, vm.processor_count, vm.secure_boot),
            (2, 2, false)
        );
        assert_eq!(vm.network_adapters.len(), 1);
        assert_eq!(
            vm.network_adapters[0].static_mac.as_deref(),
            Some("02002F6E0005")
        );
        assert_eq!(vm.network_adapters[0].access_vlan, Some(1234));
        assert!(host.file_exists("C:\\Hyper-V\\Virtual Hard Disks\\v1.vhdx"));
    }

    #[test]
    fn errors_stop_the_script_and_render_as_clixml() {
        let mut host = HyperV::with_defaults("SIM");
        let outcome = run(
            &mut host,
            &format!("{PREAMBLE}Start-VM -Name 'missing'\r\n'after'"),
        );
        assert_eq!(outcome.exit_code, 1);
        assert_eq!(outcome.stdout, "");
        assert!(outcome.stderr.starts_with("#< CLIXML\r\n"));
        let text = error_text(&outcome);
        assert!(
            text.starts_with(
                "Start-VM : Hyper-V was unable to find a virtual machine with name \"missing\"."
            ),
            "{text}"
        );
        assert!(text.contains("At line:3 char:1"), "{text}");
    }

    #[test]
    fn non_terminating_errors_continue() {
        let mut host = HyperV::with_defaults("SIM");
        let outcome = run(&mut host, "Start-VM -Name 'missing'\r\n'after'");
        assert_eq!(outcome.stdout, "after\r\n");
        assert_eq!(outcome.exit_code, 0);
        assert!(error_text(&outcome).contains("unable to find"));
        // The progress record appears when $ProgressPreference is not silenced.
        assert!(outcome.stderr.contains("S=\"progress\""));
        let outcome = run(
            &mut host,
            "Get-VM -Name 'missing' -ErrorAction SilentlyContinue",
        );
        assert_eq!(outcome.exit_code, 1);
    }

    #[test]
    fn json_output_shapes() {
        let mut host = HyperV::with_defaults("SIM");
        let list = "ConvertTo-Json -Compress -InputObject @(Get-VM | Select-Object Name, @{Name='State';Expression={$_.State.ToString()}})";
        assert_eq!(run(&mut host, list).stdout, "[]\r\n");
        host.add_vm("a").state = VmState::Running;
        assert_eq!(
            run(&mut host, list).stdout,
            "[{\"Name\":\"a\",\"State\":\"Running\"}]\r\n"
        );
        host.add_vm("b");
        assert_eq!(
            run(
                &mut host,
                "Get-VM | Select-Object Name | ConvertTo-Json -Compress"
            )
            .stdout,
            "[{\"Name\":\"a\"},{\"Name\":\"b\"}]\r\n"
        );
        assert_eq!(
            run(
                &mut host,
                "Get-VM -Name 'a' | Select-Object Name | ConvertTo-Json -Compress"
            )
            .stdout,
            "{\"Name\":\"a\"}\r\n"
        );
        assert_eq!(
            run(
                &mut host,
                "Get-VM -Name 'zz*' | Select-Object Name | ConvertTo-Json -Compress"
            )
            .stdout,
            ""
        );
    }

    #[test]
    fn injection_through_quotes_is_inert_but_expansion_is_real() {
        let mut host = HyperV::with_defaults("SIM");
        host.add_vm("victim");
        // Correctly quoted: the whole text is one name.
        let outcome = run(&mut host, "Get-VM -Name 'x''; Remove-VM -Name ''victim'' -Force; ''' -ErrorAction SilentlyContinue");
        assert_eq!(outcome.exit_code, 1);
        assert!(host.vm("victim").is_some());
        // Double quotes expand sub-expressions, as PowerShell does.
        let outcome = run(&mut host, "\"$(Remove-VM -Name 'victim' -Force)\"");
        assert_eq!(outcome.exit_code, 0);
        assert!(host.vm("victim").is_none());
    }

    #[test]
    fn if_else_throw_and_exit() {
        let mut host = HyperV::with_defaults("SIM");
        host.add_vm("v");
        let script = "$vm = Get-VM -Name 'v' -ErrorAction SilentlyContinue\r\nif ($vm -and $vm.State -ne 'Off') { 'on' }\r\nelseif ($vm) { 'off' } else { 'none' }";
        assert_eq!(run(&mut host, script).stdout, "off\r\n");
        let outcome = run(&mut host, "throw 'a snapshot named ''s'' already exists'");
        assert_eq!(outcome.exit_code, 1);
        assert!(error_text(&outcome).starts_with("a snapshot named 's' already exists"));
        assert_eq!(run(&mut host, "'x'; exit 7").exit_code, 7);
    }

    #[test]
    fn command_lines() {
        let encoded = BASE64.encode(
            "'hi'"
                .encode_utf16()
                .flat_map(u16::to_le_bytes)
                .collect::<Vec<u8>>(),
        );
        assert_eq!(
            classify(&format!(
                "powershell -NoProfile -NonInteractive -EncodedCommand {encoded}"
            )),
            CommandLine::PowerShell("'hi'".into())
        );
        assert_eq!(
            classify(&format!("powershell.exe -enc {encoded}")),
            CommandLine::PowerShell("'hi'".into())
        );
        assert_eq!(
            classify(&format!("PowerShell -e {encoded}")),
            CommandLine::PowerShell("'hi'".into())
        );
        assert!(matches!(
            classify("powershell -EncodedCommand !!!"),
            CommandLine::Invalid(_)
        ));
        assert!(matches!(classify("ipconfig /all"), CommandLine::Cmd(_)));
        let mut host = HyperV::with_defaults("SIM");
        let (_, outcome) = run_command_line(&mut host, "echo hello", &mut Vec::new());
        assert_eq!(outcome.stdout, "hello\r\n");
        let (_, outcome) = run_command_line(&mut host, &"x".repeat(9000), &mut Vec::new());
        assert_eq!(outcome.exit_code, 1);
    }

    #[test]
    fn parse_errors_are_reported() {
        let mut host = HyperV::with_defaults("SIM");
        let outcome = run(&mut host, "Get-VM -Name 'open");
        assert_eq!(outcome.exit_code, 1);
        assert!(error_text(&outcome).contains("missing the terminator"));
        let outcome = run(&mut host, "Get-VM -Bogus 1");
        assert!(error_text(&outcome)
            .contains("A parameter cannot be found that matches parameter name 'Bogus'."));
    }
}
