//! A small synchronous QMP (QEMU Machine Protocol) client over a unix socket.
//!
//! QMP is line-delimited JSON: the server greets with `{"QMP": …}`, the client enters command
//! mode with `qmp_capabilities`, then each `{"execute": …}` is answered by `{"return": …}` or
//! `{"error": {"class": …, "desc": …}}`. Asynchronous `{"event": …}` lines may arrive at any
//! time and are skipped.
//!
//! A unix socket path is limited to about 100 bytes. When the absolute path of a socket is
//! longer, the connection is made relative to the socket's directory (the process changes its
//! working directory, which is harmless for a one-shot extension process).

use serde_json::{json, Value};
use std::io::{BufRead, BufReader, ErrorKind, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Longest socket path used as is (the kernel limit is 107 bytes plus the terminating NUL).
pub const MAX_SOCKET_PATH: usize = 100;

/// A QMP failure.
#[derive(Debug, thiserror::Error)]
pub enum QmpError {
    /// Nobody listens on the socket (no file, or connection refused).
    #[error("nothing listens on {}", path.display())]
    NotListening {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The connection failed for another reason.
    #[error("cannot connect to {}", path.display())]
    Connect {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Reading or writing the socket failed.
    #[error("the qmp connection failed")]
    Io {
        #[source]
        source: std::io::Error,
    },
    /// No answer in time (the monitor is busy with another client, or QEMU hangs).
    #[error("no answer from qemu within {after:?}")]
    TimedOut { after: Duration },
    /// QEMU closed the connection.
    #[error("qemu closed the qmp connection")]
    Closed,
    /// QEMU answered something that is not QMP.
    #[error("unexpected qmp message: {0}")]
    Protocol(String),
    /// QEMU refused the command.
    #[error("{class}: {desc}")]
    Command { class: String, desc: String },
}

impl QmpError {
    /// Whether the failure means no QEMU process serves the socket.
    pub fn is_not_listening(&self) -> bool {
        matches!(self, QmpError::NotListening { .. })
    }
}

/// An open QMP session in command mode.
#[derive(Debug)]
pub struct Qmp {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
    /// The `QMP.version` block of the greeting.
    pub version: Value,
}

/// Connects to `socket` without any protocol exchange; used to tell whether a process listens.
pub fn connect_stream(socket: &Path) -> Result<UnixStream, QmpError> {
    let result = if socket.as_os_str().len() <= MAX_SOCKET_PATH {
        UnixStream::connect(socket)
    } else {
        let (Some(directory), Some(name)) = (socket.parent(), socket.file_name()) else {
            return Err(QmpError::Protocol(format!(
                "invalid socket path {}",
                socket.display()
            )));
        };
        std::env::set_current_dir(directory).and_then(|()| UnixStream::connect(Path::new(name)))
    };
    result.map_err(|source| match source.kind() {
        ErrorKind::NotFound | ErrorKind::ConnectionRefused => QmpError::NotListening {
            path: socket.to_path_buf(),
            source,
        },
        _ => QmpError::Connect {
            path: socket.to_path_buf(),
            source,
        },
    })
}

impl Qmp {
    /// Connects to `socket`, reads the greeting and negotiates capabilities, waiting at most
    /// `wait` for each answer.
    pub fn connect(socket: &Path, wait: Duration) -> Result<Qmp, QmpError> {
        let stream = connect_stream(socket)?;
        let writer = stream
            .try_clone()
            .map_err(|source| QmpError::Io { source })?;
        let mut qmp = Qmp {
            reader: BufReader::new(stream),
            writer,
            version: Value::Null,
        };
        qmp.set_wait(wait)?;
        let greeting = qmp.read_message(wait)?;
        let Some(banner) = greeting.get("QMP") else {
            return Err(QmpError::Protocol(greeting.to_string()));
        };
        qmp.version = banner.get("version").cloned().unwrap_or(Value::Null);
        qmp.execute("qmp_capabilities", None, wait)?;
        Ok(qmp)
    }

    fn set_wait(&mut self, wait: Duration) -> Result<(), QmpError> {
        // A zero timeout means "block forever" to the socket API; never ask for that.
        let wait = wait.max(Duration::from_millis(10));
        self.writer
            .set_read_timeout(Some(wait))
            .and_then(|()| self.writer.set_write_timeout(Some(wait)))
            .map_err(|source| QmpError::Io { source })
    }

    fn read_message(&mut self, wait: Duration) -> Result<Value, QmpError> {
        let mut line = String::new();
        loop {
            line.clear();
            match self.reader.read_line(&mut line) {
                Ok(0) => return Err(QmpError::Closed),
                Ok(_) => {}
                Err(source)
                    if matches!(source.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) =>
                {
                    return Err(QmpError::TimedOut { after: wait })
                }
                Err(source) => return Err(QmpError::Io { source }),
            }
            let text = line.trim();
            if text.is_empty() {
                continue;
            }
            let message: Value = serde_json::from_str(text)
                .map_err(|_| QmpError::Protocol(text.chars().take(200).collect()))?;
            if message.get("event").is_some() {
                continue;
            }
            return Ok(message);
        }
    }

    /// Runs a command and returns its `return` value, waiting at most `wait` for the answer.
    pub fn execute(
        &mut self,
        command: &str,
        arguments: Option<Value>,
        wait: Duration,
    ) -> Result<Value, QmpError> {
        self.set_wait(wait)?;
        let mut request = json!({ "execute": command });
        if let Some(arguments) = arguments {
            request["arguments"] = arguments;
        }
        let mut text = request.to_string();
        text.push('\n');
        self.writer
            .write_all(text.as_bytes())
            .and_then(|()| self.writer.flush())
            .map_err(|source| match source.kind() {
                ErrorKind::WouldBlock | ErrorKind::TimedOut => QmpError::TimedOut { after: wait },
                _ => QmpError::Io { source },
            })?;
        let answer = self.read_message(wait)?;
        if let Some(value) = answer.get("return") {
            return Ok(value.clone());
        }
        if let Some(error) = answer.get("error") {
            let field = |key: &str| {
                error
                    .get(key)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string()
            };
            return Err(QmpError::Command {
                class: field("class"),
                desc: field("desc"),
            });
        }
        Err(QmpError::Protocol(answer.to_string()))
    }

    /// Runs a human monitor (HMP) command line and returns its text output.
    pub fn hmp(&mut self, command_line: &str, wait: Duration) -> Result<String, QmpError> {
        let output = self.execute(
            "human-monitor-command",
            Some(json!({ "command-line": command_line })),
            wait,
        )?;
        Ok(output.as_str().unwrap_or_default().to_string())
    }

    /// QEMU's run state (`running`, `paused`, `shutdown`, ...).
    pub fn run_state(&mut self, wait: Duration) -> Result<String, QmpError> {
        let status = self.execute("query-status", None, wait)?;
        status
            .get("status")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| QmpError::Protocol(status.to_string()))
    }
}
