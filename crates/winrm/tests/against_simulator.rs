//! The WinRM client against the Hyper-V simulator: authentication, streams, CLIXML errors,
//! Receive retries, deadlines, TLS verification and channel binding.

use std::time::Duration;
use tokio::time::Instant;
use trellis_sim_hyperv::{Fault, HyperVSim, Operation, SimConfig};
use trellis_winrm::{ClientConfig, TlsVerification, WinrmClient, WinrmError};

async fn sim() -> HyperVSim {
    HyperVSim::start(SimConfig::default())
        .await
        .expect("simulator starts")
}

fn config(sim: &HyperVSim) -> ClientConfig {
    let mut config = ClientConfig::new(&sim.url(), sim.user(), sim.password());
    config.tls = TlsVerification::Verify {
        extra_roots_pem: Some(sim.ca_certificate_pem().to_string()),
    };
    config
}

fn client(sim: &HyperVSim) -> WinrmClient {
    WinrmClient::new(config(sim)).expect("valid configuration")
}

fn deadline(seconds: u64) -> Option<Instant> {
    Some(Instant::now() + Duration::from_secs(seconds))
}

#[tokio::test]
async fn runs_powershell_and_reuses_the_authenticated_connection() -> anyhow::Result<()> {
    let sim = sim().await;
    let mut client = client(&sim);
    let shell = client.open_shell(deadline(30)).await?;
    for n in 0..3 {
        let output = client
            .run_powershell(&shell, &format!("'hello {n}'"), deadline(30))
            .await?;
        assert_eq!(output.stdout, format!("hello {n}\r\n"));
        assert_eq!(output.exit_code, 0);
        assert!(output.is_success());
    }
    client.close_shell(shell, deadline(30)).await?;
    assert_eq!(
        sim.authentications(),
        1,
        "one ntlm exchange for the whole session"
    );
    assert_eq!(sim.open_shells(), 0);
    let operations: Vec<Operation> = sim.requests().into_iter().map(|r| r.operation).collect();
    assert_eq!(operations.first(), Some(&Operation::Create));
    assert_eq!(operations.last(), Some(&Operation::Delete));
    assert_eq!(
        operations
            .iter()
            .filter(|o| **o == Operation::Signal)
            .count(),
        3
    );
    assert_eq!(sim.scripts(), vec!["'hello 0'", "'hello 1'", "'hello 2'"]);
    Ok(())
}

#[tokio::test]
async fn wrong_password_and_unknown_user_are_refused() {
    let sim = sim().await;
    let mut wrong = config(&sim);
    wrong.password = "not-the-password".into();
    let error = WinrmClient::new(wrong)
        .unwrap()
        .run_powershell_in_new_shell("'x'", deadline(30))
        .await
        .unwrap_err();
    assert!(
        matches!(error, WinrmError::Unauthorized { .. }),
        "{error:?}"
    );
    assert!(error.is_unreachable());
    let mut stranger = config(&sim);
    stranger.username = "guest".into();
    let error = WinrmClient::new(stranger)
        .unwrap()
        .run_powershell_in_new_shell("'x'", deadline(30))
        .await
        .unwrap_err();
    assert!(
        matches!(error, WinrmError::Unauthorized { .. }),
        "{error:?}"
    );
    let failures = sim.auth_failures();
    assert!(
        failures.iter().any(|f| f.contains("wrong password")),
        "{failures:?}"
    );
    assert!(
        failures.iter().any(|f| f.contains("unknown user")),
        "{failures:?}"
    );
    assert_eq!(sim.requests().len(), 0, "nothing ran");
}

#[tokio::test]
async fn domain_and_upn_user_names_authenticate() -> anyhow::Result<()> {
    let sim = sim().await;
    for username in [
        "HYPERV-SIM\\Administrator",
        "administrator@hyperv-sim.local",
    ] {
        let mut config = config(&sim);
        config.username = username.to_string();
        let output = WinrmClient::new(config)?
            .run_powershell_in_new_shell("'ok'", deadline(30))
            .await?;
        assert_eq!(output.stdout.trim(), "ok", "{username}");
    }
    Ok(())
}

#[tokio::test]
async fn large_output_arrives_over_several_receives() -> anyhow::Result<()> {
    let sim = sim().await;
    let output = client(&sim)
        .run_powershell_in_new_shell("'x' * 300000", deadline(60))
        .await?;
    assert_eq!(output.stdout.len(), 300_002);
    assert!(output.stdout.starts_with("xxxx") && output.stdout.ends_with("x\r\n"));
    let receives = sim
        .requests()
        .iter()
        .filter(|r| r.operation == Operation::Receive)
        .count();
    assert!(receives >= 9, "{receives} receives");
    Ok(())
}

#[tokio::test]
async fn unicode_output_survives_the_utf8_code_page() -> anyhow::Result<()> {
    let sim = sim().await;
    let output = client(&sim)
        .run_powershell_in_new_shell("'grüße ✓'", deadline(30))
        .await?;
    assert_eq!(output.stdout, "grüße ✓\r\n");
    Ok(())
}

#[tokio::test]
async fn clixml_errors_become_readable_messages() -> anyhow::Result<()> {
    let sim = sim().await;
    let script = "$ErrorActionPreference = 'Stop'\n$ProgressPreference = 'SilentlyContinue'\nStart-VM -Name 'missing'";
    let output = client(&sim)
        .run_powershell_in_new_shell(script, deadline(30))
        .await?;
    assert_eq!(output.exit_code, 1);
    assert!(output.stderr.starts_with("#< CLIXML"));
    assert_eq!(
        output.error_summary(),
        "Start-VM : Hyper-V was unable to find a virtual machine with name \"missing\"."
    );
    assert!(output.error_text().contains("At line:3 char:1"));
    // Progress records on stderr do not make a successful script look failed.
    let output = client(&sim)
        .run_powershell_in_new_shell("Get-VM | Out-Null; 'done'", deadline(30))
        .await?;
    assert!(output.is_success());
    assert!(output.stderr.contains("progress"));
    assert_eq!(output.error_text(), "");
    Ok(())
}

#[tokio::test]
async fn cmd_commands_and_their_errors() -> anyhow::Result<()> {
    let sim = sim().await;
    let mut client = client(&sim);
    let shell = client.open_shell(deadline(30)).await?;
    let output = client
        .run_command(&shell, "echo trellis", deadline(30))
        .await?;
    assert_eq!(output.stdout, "trellis\r\n");
    let output = client
        .run_command(&shell, "nosuchtool /x", deadline(30))
        .await?;
    assert_eq!(output.exit_code, 1);
    assert!(output
        .error_summary()
        .starts_with("'nosuchtool' is not recognized"));
    client.close_shell(shell, deadline(30)).await?;
    Ok(())
}

#[tokio::test]
async fn operation_timeouts_on_receive_are_retried() -> anyhow::Result<()> {
    let sim = sim().await;
    sim.inject(Fault::ReceiveTimeouts(3));
    let output = client(&sim)
        .run_powershell_in_new_shell("'patience'", deadline(30))
        .await?;
    assert_eq!(output.stdout, "patience\r\n");
    let receives = sim
        .requests()
        .iter()
        .filter(|r| r.operation == Operation::Receive)
        .count();
    assert_eq!(receives, 4);
    Ok(())
}

#[tokio::test]
async fn a_command_that_never_finishes_is_terminated_at_the_deadline() -> anyhow::Result<()> {
    let sim = sim().await;
    sim.inject(Fault::HangCommands(1));
    let mut config = config(&sim);
    config.operation_timeout = Duration::from_secs(1);
    let mut client = WinrmClient::new(config)?;
    let started = Instant::now();
    let error = client
        .run_powershell_in_new_shell(
            "'never'",
            Some(Instant::now() + Duration::from_millis(2500)),
        )
        .await
        .unwrap_err();
    assert!(error.is_timeout(), "{error:?}");
    assert!(started.elapsed() < Duration::from_secs(15));
    let requests = sim.requests();
    let signal = requests
        .iter()
        .find(|r| r.operation == Operation::Signal)
        .expect("terminate sent");
    assert!(signal
        .signal
        .as_deref()
        .unwrap_or_default()
        .ends_with("signal/terminate"));
    assert!(
        requests
            .iter()
            .filter(|r| r.operation == Operation::Receive)
            .count()
            >= 2
    );
    assert_eq!(
        sim.open_shells(),
        0,
        "the shell is deleted after the timeout"
    );
    Ok(())
}

#[tokio::test]
async fn tls_verification_is_on_by_default_and_can_be_switched_off() -> anyhow::Result<()> {
    let sim = sim().await;
    let mut unverified = config(&sim);
    unverified.tls = TlsVerification::Verify {
        extra_roots_pem: None,
    };
    let error = WinrmClient::new(unverified)?
        .run_powershell_in_new_shell("'x'", deadline(30))
        .await
        .unwrap_err();
    assert!(matches!(error, WinrmError::Tls { .. }), "{error:?}");
    assert!(error.is_unreachable());
    let mut insecure = config(&sim);
    insecure.tls = TlsVerification::Disabled;
    let output = WinrmClient::new(insecure)?
        .run_powershell_in_new_shell("'x'", deadline(30))
        .await?;
    assert_eq!(output.stdout, "x\r\n");
    let mut garbage = config(&sim);
    garbage.tls = TlsVerification::Verify {
        extra_roots_pem: Some("not a certificate".into()),
    };
    assert!(matches!(
        WinrmClient::new(garbage),
        Err(WinrmError::InvalidCaCertificate { .. })
    ));
    Ok(())
}

#[tokio::test]
async fn channel_binding_satisfies_strict_servers() -> anyhow::Result<()> {
    let sim = HyperVSim::start(SimConfig {
        require_channel_binding: true,
        ..SimConfig::default()
    })
    .await?;
    let output = client(&sim)
        .run_powershell_in_new_shell("'bound'", deadline(30))
        .await?;
    assert_eq!(output.stdout, "bound\r\n");
    let mut unbound = config(&sim);
    unbound.channel_bindings = false;
    let error = WinrmClient::new(unbound)?
        .run_powershell_in_new_shell("'x'", deadline(30))
        .await
        .unwrap_err();
    assert!(
        matches!(error, WinrmError::Unauthorized { .. }),
        "{error:?}"
    );
    assert!(sim
        .auth_failures()
        .iter()
        .any(|f| f.contains("channel binding")));
    Ok(())
}

#[tokio::test]
async fn faults_for_unknown_shells_and_oversized_commands() -> anyhow::Result<()> {
    let sim = sim().await;
    let mut client = client(&sim);
    let shell = client.open_shell(deadline(30)).await?;
    client.close_shell(shell.clone(), deadline(30)).await?;
    let error = client
        .close_shell(shell.clone(), deadline(30))
        .await
        .unwrap_err();
    match error {
        WinrmError::Fault { fault } => {
            assert_eq!(fault.wsman_code, Some(2_150_858_843));
            assert!(fault.text().contains("shell was not found"));
        }
        other => panic!("expected a fault, got {other:?}"),
    }
    let error = client
        .run_powershell(&shell, &"'y' + ".repeat(800), deadline(30))
        .await
        .unwrap_err();
    assert!(
        matches!(error, WinrmError::CommandTooLong { .. }),
        "{error:?}"
    );
    Ok(())
}

#[tokio::test]
async fn unreachable_endpoints_fail_fast() -> anyhow::Result<()> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    drop(listener);
    let config = ClientConfig::new(&format!("127.0.0.1:{port}"), "u", "p");
    let error = WinrmClient::new(config)?
        .run_powershell_in_new_shell("'x'", deadline(30))
        .await
        .unwrap_err();
    assert!(matches!(error, WinrmError::Connect { .. }), "{error:?}");
    assert!(error.is_unreachable());
    Ok(())
}
