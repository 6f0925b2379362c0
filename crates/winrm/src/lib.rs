//! A WinRM client: Windows remote shells and PowerShell over WS-Management.
//!
//! The client speaks the WS-Management shell operations of MS-WSMV (Create, Command, Receive,
//! Signal, Delete) over HTTPS (port 5986 unless the endpoint says otherwise) and authenticates
//! with NTLMv2 once per kept-alive connection. It does not seal messages, so plain `http`
//! endpoints work only where the service allows unencrypted traffic.
//!
//! ```no_run
//! # async fn demo() -> Result<(), trellis_winrm::WinrmError> {
//! use trellis_winrm::{ClientConfig, WinrmClient};
//! let config = ClientConfig::new("hyperv1.example.org", "CORP\\svc-trellis", "secret");
//! let mut client = WinrmClient::new(config)?;
//! let output = client.run_powershell_in_new_shell("(Get-VM).Count", None).await?;
//! println!("{}", output.stdout.trim());
//! # Ok(())
//! # }
//! ```

mod ntlm;
mod powershell;
mod soap;
mod transport;

pub use ntlm::{channel_bindings_hash, NtlmClient, NtlmCredentials, NtlmError};
pub use powershell::{decode_clixml, encoded_command_line, summarize_error, MAX_COMMAND_LINE};
pub use soap::{ResponseError, SoapFault, WSMAN_OPERATION_TIMEOUT};
pub use transport::TlsVerification;

use soap::{RequestHeader, Response};
use std::time::Duration;
use tokio::time::Instant;
use transport::Transport;
use url::Url;

/// The default HTTPS port of the WinRM service.
pub const DEFAULT_HTTPS_PORT: u16 = 5986;

/// How long a Receive may wait at the server before it reports "no output yet".
pub const DEFAULT_OPERATION_TIMEOUT: Duration = Duration::from_secs(20);

/// Extra time an HTTP exchange may take beyond the operation timeout.
const HTTP_GRACE: Duration = Duration::from_secs(10);

/// Time allowed for cleaning up (Signal, Delete) after the deadline has passed.
const CLEANUP_BUDGET: Duration = Duration::from_secs(5);

/// What the client needs to know.
#[derive(Clone)]
pub struct ClientConfig {
    /// A bare host (`hyperv1`, `10.0.0.5`), `host:port`, or a full URL (`https://h:5986/wsman`).
    pub endpoint: String,
    /// `user`, `DOMAIN\user` or `user@domain`.
    pub username: String,
    pub password: String,
    pub tls: TlsVerification,
    /// The `w:OperationTimeout` of requests; Receive long polls wait this long at most.
    pub operation_timeout: Duration,
    pub connect_timeout: Duration,
    /// The shell's code page (65001 = UTF-8).
    pub codepage: u32,
    pub max_envelope_size: u32,
    /// Send a TLS channel binding token (extended protection) in the NTLM exchange.
    pub channel_bindings: bool,
}

impl std::fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientConfig")
            .field("endpoint", &self.endpoint)
            .field("username", &self.username)
            .field("tls", &self.tls)
            .field("operation_timeout", &self.operation_timeout)
            .finish_non_exhaustive()
    }
}

impl ClientConfig {
    /// Defaults: certificate verification on (system trust store), 20 s operation timeout,
    /// UTF-8 code page, channel binding on.
    pub fn new(endpoint: &str, username: &str, password: &str) -> ClientConfig {
        ClientConfig {
            endpoint: endpoint.to_string(),
            username: username.to_string(),
            password: password.to_string(),
            tls: TlsVerification::Verify {
                extra_roots_pem: None,
            },
            operation_timeout: DEFAULT_OPERATION_TIMEOUT,
            connect_timeout: Duration::from_secs(30),
            codepage: 65001,
            max_envelope_size: 512_000,
            channel_bindings: true,
        }
    }
}

/// Everything that can go wrong talking to a WinRM service.
#[derive(Debug, thiserror::Error)]
pub enum WinrmError {
    #[error("invalid winrm endpoint {endpoint:?}: {reason}")]
    InvalidEndpoint { endpoint: String, reason: String },
    #[error("invalid ca certificate: {reason}")]
    InvalidCaCertificate { reason: String },
    #[error("could not connect to {address}")]
    Connect {
        address: String,
        #[source]
        source: std::io::Error,
    },
    #[error("tls handshake with {address} failed")]
    Tls {
        address: String,
        #[source]
        source: std::io::Error,
    },
    #[error("http exchange with {address} failed")]
    Http {
        address: String,
        #[source]
        source: hyper::Error,
    },
    #[error("authentication failed: {reason}")]
    Unauthorized { reason: String },
    #[error("cannot answer the ntlm challenge")]
    Ntlm {
        #[source]
        source: NtlmError,
    },
    #[error("the winrm service answered http {status}: {excerpt}")]
    HttpStatus { status: u16, excerpt: String },
    #[error("the winrm service returned a fault: {}", .fault.text())]
    Fault { fault: SoapFault },
    #[error(transparent)]
    BadResponse(#[from] ResponseError),
    #[error("the response exceeds {limit} bytes")]
    ResponseTooLarge { limit: usize },
    #[error("timed out {operation}")]
    TimedOut { operation: &'static str },
    #[error(
        "the command line is {length} characters long, the remote shell accepts at most {max}"
    )]
    CommandTooLong { length: usize, max: usize },
}

impl WinrmError {
    /// Whether the service could not be reached or refused the credentials (as opposed to a
    /// failure reported by the service).
    pub fn is_unreachable(&self) -> bool {
        matches!(
            self,
            WinrmError::Connect { .. }
                | WinrmError::Tls { .. }
                | WinrmError::Http { .. }
                | WinrmError::Unauthorized { .. }
        )
    }

    /// Whether a deadline or timeout was hit.
    pub fn is_timeout(&self) -> bool {
        matches!(self, WinrmError::TimedOut { .. })
    }
}

/// Turns the configured endpoint into the service URL: bare hosts get `https://` and port
/// 5986, URLs without a path get `/wsman`.
pub fn endpoint_url(endpoint: &str) -> Result<Url, WinrmError> {
    let invalid = |reason: &str| WinrmError::InvalidEndpoint {
        endpoint: endpoint.to_string(),
        reason: reason.to_string(),
    };
    let trimmed = endpoint.trim();
    if trimmed.is_empty() {
        return Err(invalid("empty"));
    }
    let text = if trimmed.contains("://") {
        trimmed.to_string()
    } else if let Ok(ipv6) = trimmed.parse::<std::net::Ipv6Addr>() {
        format!("https://[{ipv6}]:{DEFAULT_HTTPS_PORT}/wsman")
    } else if trimmed.starts_with('[')
        || trimmed
            .rsplit_once(':')
            .is_some_and(|(_, port)| port.parse::<u16>().is_ok())
    {
        format!("https://{trimmed}/wsman")
    } else {
        format!("https://{trimmed}:{DEFAULT_HTTPS_PORT}/wsman")
    };
    let mut url = Url::parse(&text).map_err(|e| invalid(&e.to_string()))?;
    if !matches!(url.scheme(), "https" | "http") {
        return Err(invalid("the scheme must be https or http"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid("no host"));
    }
    if url.path().is_empty() || url.path() == "/" {
        url.set_path("/wsman");
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid("credentials do not belong in the url"));
    }
    Ok(url)
}

/// An open remote shell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shell {
    id: String,
}

impl Shell {
    /// The ShellId chosen by the server.
    pub fn id(&self) -> &str {
        &self.id
    }
}

/// The result of a finished command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandOutput {
    /// stdout, decoded as UTF-8 (lossily).
    pub stdout: String,
    /// stderr as received (PowerShell errors arrive as CLIXML; see [`CommandOutput::error_text`]).
    pub stderr: String,
    pub exit_code: i32,
}

impl CommandOutput {
    pub fn is_success(&self) -> bool {
        self.exit_code == 0
    }

    /// stderr as readable text (CLIXML decoded).
    pub fn error_text(&self) -> String {
        decode_clixml(&self.stderr)
    }

    /// A one-line description of the failure: the error message lines of stderr, else stdout,
    /// else the exit code.
    pub fn error_summary(&self) -> String {
        let summary = summarize_error(&self.error_text());
        if !summary.is_empty() {
            return summary;
        }
        let stdout = self.stdout.split_whitespace().collect::<Vec<_>>().join(" ");
        if !stdout.is_empty() {
            return stdout;
        }
        format!("the command exited with code {}", self.exit_code)
    }
}

/// A WinRM client bound to one endpoint and one set of credentials.
pub struct WinrmClient {
    transport: Transport,
    to: String,
    operation_timeout: Duration,
    codepage: u32,
    max_envelope_size: u32,
}

fn remaining(deadline: Option<Instant>) -> Option<Duration> {
    deadline.map(|d| d.saturating_duration_since(Instant::now()))
}

impl WinrmClient {
    /// Validates the configuration; no connection is made until the first request.
    pub fn new(config: ClientConfig) -> Result<WinrmClient, WinrmError> {
        let url = endpoint_url(&config.endpoint)?;
        let credentials = NtlmCredentials::new(&config.username, &config.password);
        let transport = Transport::new(
            url.clone(),
            credentials,
            &config.tls,
            config.connect_timeout,
            config.channel_bindings,
        )?;
        Ok(WinrmClient {
            transport,
            to: url.to_string(),
            operation_timeout: config.operation_timeout,
            codepage: config.codepage,
            max_envelope_size: config.max_envelope_size,
        })
    }

    /// The service URL.
    pub fn endpoint(&self) -> &str {
        &self.to
    }

    /// Sends one request and parses the reply; faults become [`WinrmError::Fault`].
    async fn call(
        &mut self,
        action: &str,
        shell_id: Option<&str>,
        options: &[(&str, &str)],
        body: &str,
        deadline: Option<Instant>,
    ) -> Result<String, WinrmError> {
        let left = remaining(deadline);
        if left.is_some_and(|d| d.is_zero()) {
            return Err(WinrmError::TimedOut {
                operation: "before sending a request",
            });
        }
        let operation_timeout = match left {
            Some(left) => self.operation_timeout.min(left),
            None => self.operation_timeout,
        };
        let http_timeout = match left {
            Some(left) => (operation_timeout + HTTP_GRACE).min(left + Duration::from_secs(2)),
            None => operation_timeout + HTTP_GRACE,
        };
        let message_id = format!("uuid:{}", uuid::Uuid::new_v4().to_string().to_uppercase());
        let header = RequestHeader {
            to: &self.to,
            action,
            message_id: &message_id,
            shell_id,
            options,
            operation_timeout,
            max_envelope_size: self.max_envelope_size,
        };
        let envelope = soap::envelope(&header, body);
        let reply = self.transport.post(envelope, http_timeout).await?;
        let parsed = Response::parse(&reply.body);
        if let Ok(response) = &parsed {
            if let Some(fault) = response.fault() {
                return Err(WinrmError::Fault { fault });
            }
        }
        if !reply.status.is_success() {
            let excerpt: String = reply
                .body
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                .chars()
                .take(300)
                .collect();
            return Err(WinrmError::HttpStatus {
                status: reply.status.as_u16(),
                excerpt,
            });
        }
        let response = parsed?;
        if let Some(relates_to) = response.relates_to() {
            if !relates_to.eq_ignore_ascii_case(&message_id) {
                return Err(ResponseError {
                    what: format!("RelatesTo {relates_to} does not match {message_id}"),
                }
                .into());
            }
        }
        Ok(reply.body)
    }

    /// Creates a remote `cmd` shell.
    pub async fn open_shell(&mut self, deadline: Option<Instant>) -> Result<Shell, WinrmError> {
        let codepage = self.codepage.to_string();
        let options = [
            ("WINRS_NOPROFILE", "FALSE"),
            ("WINRS_CODEPAGE", codepage.as_str()),
        ];
        let body = self
            .call(
                soap::ACTION_CREATE,
                None,
                &options,
                soap::create_shell_body(),
                deadline,
            )
            .await?;
        let id = Response::parse(&body)?.shell_id()?;
        tracing::debug!(shell = %id, "opened remote shell");
        Ok(Shell { id })
    }

    /// Deletes a shell.
    pub async fn close_shell(
        &mut self,
        shell: Shell,
        deadline: Option<Instant>,
    ) -> Result<(), WinrmError> {
        self.call(soap::ACTION_DELETE, Some(&shell.id), &[], "", deadline)
            .await?;
        Ok(())
    }

    /// Starts a command line in `shell`; returns the CommandId.
    pub async fn start_command(
        &mut self,
        shell: &Shell,
        command_line: &str,
        deadline: Option<Instant>,
    ) -> Result<String, WinrmError> {
        if command_line.chars().count() > MAX_COMMAND_LINE {
            return Err(WinrmError::CommandTooLong {
                length: command_line.chars().count(),
                max: MAX_COMMAND_LINE,
            });
        }
        let options = [
            ("WINRS_CONSOLEMODE_STDIN", "TRUE"),
            ("WINRS_SKIP_CMD_SHELL", "FALSE"),
        ];
        let body = soap::command_body(command_line);
        let reply = self
            .call(
                soap::ACTION_COMMAND,
                Some(&shell.id),
                &options,
                &body,
                deadline,
            )
            .await?;
        Ok(Response::parse(&reply)?.command_id()?)
    }

    /// Receives output until the command is done. Receive long polls that time out at the
    /// server are retried; when `deadline` passes the command is terminated and
    /// [`WinrmError::TimedOut`] returned.
    pub async fn receive_output(
        &mut self,
        shell: &Shell,
        command_id: &str,
        deadline: Option<Instant>,
    ) -> Result<CommandOutput, WinrmError> {
        let mut stdout = Vec::new();
        let mut stderr = Vec::new();
        loop {
            if remaining(deadline).is_some_and(|d| d.is_zero()) {
                self.terminate_after_deadline(shell, command_id).await;
                return Err(WinrmError::TimedOut {
                    operation: "waiting for the command to finish",
                });
            }
            let body = soap::receive_body(command_id);
            let reply = match self
                .call(soap::ACTION_RECEIVE, Some(&shell.id), &[], &body, deadline)
                .await
            {
                Ok(reply) => reply,
                Err(WinrmError::Fault { fault }) if fault.is_operation_timeout() => continue,
                Err(error) if error.is_timeout() => {
                    self.terminate_after_deadline(shell, command_id).await;
                    return Err(error);
                }
                Err(error) => return Err(error),
            };
            let chunk = Response::parse(&reply)?.receive(command_id)?;
            stdout.extend_from_slice(&chunk.stdout);
            stderr.extend_from_slice(&chunk.stderr);
            if chunk.done {
                return Ok(CommandOutput {
                    stdout: String::from_utf8_lossy(&stdout).into_owned(),
                    stderr: String::from_utf8_lossy(&stderr).into_owned(),
                    exit_code: chunk.exit_code.unwrap_or(0),
                });
            }
        }
    }

    async fn terminate_after_deadline(&mut self, shell: &Shell, command_id: &str) {
        let budget = Some(Instant::now() + CLEANUP_BUDGET);
        if let Err(error) = self.signal_terminate(shell, command_id, budget).await {
            tracing::debug!(%error, "could not terminate the timed-out command");
        }
    }

    /// Sends the terminate signal for a command.
    pub async fn signal_terminate(
        &mut self,
        shell: &Shell,
        command_id: &str,
        deadline: Option<Instant>,
    ) -> Result<(), WinrmError> {
        let body = soap::signal_terminate_body(command_id);
        self.call(soap::ACTION_SIGNAL, Some(&shell.id), &[], &body, deadline)
            .await?;
        Ok(())
    }

    /// Runs a command line to completion: Command, Receive until done, Signal terminate.
    pub async fn run_command(
        &mut self,
        shell: &Shell,
        command_line: &str,
        deadline: Option<Instant>,
    ) -> Result<CommandOutput, WinrmError> {
        let command_id = self.start_command(shell, command_line, deadline).await?;
        let output = self.receive_output(shell, &command_id, deadline).await?;
        // The command is finished; terminating it only releases its resources on the server.
        if let Err(error) = self
            .signal_terminate(
                shell,
                &command_id,
                deadline.or(Some(Instant::now() + CLEANUP_BUDGET)),
            )
            .await
        {
            tracing::debug!(%error, "terminate signal after completion failed");
        }
        Ok(output)
    }

    /// Runs a PowerShell script via `powershell -EncodedCommand`.
    pub async fn run_powershell(
        &mut self,
        shell: &Shell,
        script: &str,
        deadline: Option<Instant>,
    ) -> Result<CommandOutput, WinrmError> {
        self.run_command(shell, &encoded_command_line(script), deadline)
            .await
    }

    /// Opens a shell, runs one script and closes the shell again.
    pub async fn run_powershell_in_new_shell(
        &mut self,
        script: &str,
        deadline: Option<Instant>,
    ) -> Result<CommandOutput, WinrmError> {
        let shell = self.open_shell(deadline).await?;
        let result = self.run_powershell(&shell, script, deadline).await;
        let cleanup_deadline = Some(Instant::now() + CLEANUP_BUDGET);
        if let Err(error) = self.close_shell(shell, cleanup_deadline).await {
            tracing::debug!(%error, "closing the shell failed");
        }
        result
    }

    /// Drops the connection (the next request reconnects and authenticates again).
    pub fn disconnect(&mut self) {
        self.transport.disconnect();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_default_to_https_5986() {
        let url = |e: &str| endpoint_url(e).map(|u| u.to_string());
        assert_eq!(url("hyperv1").unwrap(), "https://hyperv1:5986/wsman");
        assert_eq!(url("10.0.0.5:5985").unwrap(), "https://10.0.0.5:5985/wsman");
        assert_eq!(url("fe80::1").unwrap(), "https://[fe80::1]:5986/wsman");
        assert_eq!(url("https://h:1234").unwrap(), "https://h:1234/wsman");
        assert_eq!(url("http://h/custom").unwrap(), "http://h/custom");
        assert_eq!(url("https://h/wsman").unwrap(), "https://h/wsman");
        assert!(url("ftp://h").is_err());
        assert!(url("").is_err());
        assert!(url("https://u:p@h").is_err());
    }

    #[test]
    fn summaries_fall_back_to_stdout_and_exit_code() {
        let output = CommandOutput {
            stdout: " oops \r\n".into(),
            stderr: String::new(),
            exit_code: 3,
        };
        assert_eq!(output.error_summary(), "oops");
        let output = CommandOutput {
            stdout: String::new(),
            stderr: String::new(),
            exit_code: 3,
        };
        assert_eq!(output.error_summary(), "the command exited with code 3");
    }

    #[test]
    fn config_debug_hides_the_password() {
        let config = ClientConfig::new("h", "u", "hunter2");
        assert!(!format!("{config:?}").contains("hunter2"));
    }
}
