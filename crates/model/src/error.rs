//! The one domain error. Variants are named by meaning; the API layer maps each to a CloudStack
//! error code in exactly one place.

/// Result alias used across Trellis libraries.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A domain error. `external` is safe to show to API callers; `internal` (when present) is for
/// logs only.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A referenced object does not exist (CloudStack reports these as parameter errors).
    #[error("{external}")]
    NotFound { external: String },
    /// A parameter value is missing, malformed or not allowed.
    #[error("{external}")]
    InvalidParam { external: String },
    /// A map/list parameter is syntactically malformed (`x[i].y`).
    #[error("{external}")]
    MalformedParam { external: String },
    /// The object already exists (unique name, existing mapping).
    #[error("{external}")]
    AlreadyExists { external: String },
    /// The operation is not allowed in the object's current state.
    #[error("{external}")]
    InvalidState { external: String },
    /// Another operation on the same object won a race.
    #[error("{external}")]
    Conflict { external: String },
    /// The object is still referenced by others.
    #[error("{external}")]
    InUse { external: String },
    /// No capacity (no host, no free address, ...).
    #[error("{external}")]
    InsufficientCapacity { external: String },
    /// A resource limit of the owner (account, project or domain) would be exceeded.
    #[error("{external}")]
    LimitExceeded { external: String },
    /// A dependency (extension, remote system) is not available.
    #[error("{external}")]
    Unavailable { external: String },
    /// The caller may not do this.
    #[error("{external}")]
    PermissionDenied { external: String },
    /// The operation is not supported for this kind of object.
    #[error("{external}")]
    Unsupported { external: String },
    /// A bug or an unexpected failure; `internal` is logged, `external` shown.
    #[error("{external}")]
    Internal { external: String, internal: String },
}

impl Error {
    pub fn not_found(msg: impl Into<String>) -> Self {
        Error::NotFound {
            external: msg.into(),
        }
    }
    pub fn invalid_param(msg: impl Into<String>) -> Self {
        Error::InvalidParam {
            external: msg.into(),
        }
    }
    pub fn malformed(msg: impl Into<String>) -> Self {
        Error::MalformedParam {
            external: msg.into(),
        }
    }
    pub fn already_exists(msg: impl Into<String>) -> Self {
        Error::AlreadyExists {
            external: msg.into(),
        }
    }
    pub fn invalid_state(msg: impl Into<String>) -> Self {
        Error::InvalidState {
            external: msg.into(),
        }
    }
    pub fn conflict(msg: impl Into<String>) -> Self {
        Error::Conflict {
            external: msg.into(),
        }
    }
    pub fn in_use(msg: impl Into<String>) -> Self {
        Error::InUse {
            external: msg.into(),
        }
    }
    pub fn capacity(msg: impl Into<String>) -> Self {
        Error::InsufficientCapacity {
            external: msg.into(),
        }
    }
    pub fn unavailable(msg: impl Into<String>) -> Self {
        Error::Unavailable {
            external: msg.into(),
        }
    }
    pub fn denied(msg: impl Into<String>) -> Self {
        Error::PermissionDenied {
            external: msg.into(),
        }
    }
    pub fn limit_exceeded(msg: impl Into<String>) -> Self {
        Error::LimitExceeded {
            external: msg.into(),
        }
    }
    pub fn unsupported(msg: impl Into<String>) -> Self {
        Error::Unsupported {
            external: msg.into(),
        }
    }
    /// An internal failure: `internal` goes to the logs, callers see a generic text.
    pub fn internal(internal: impl Into<String>) -> Self {
        Error::Internal {
            external: "internal error executing command, please contact your administrator".into(),
            internal: internal.into(),
        }
    }
    /// An internal failure whose external text is meaningful to the caller.
    pub fn internal_with(external: impl Into<String>, internal: impl Into<String>) -> Self {
        Error::Internal {
            external: external.into(),
            internal: internal.into(),
        }
    }

    /// The text shown to API callers.
    pub fn external_message(&self) -> &str {
        match self {
            Error::NotFound { external }
            | Error::InvalidParam { external }
            | Error::MalformedParam { external }
            | Error::AlreadyExists { external }
            | Error::InvalidState { external }
            | Error::Conflict { external }
            | Error::InUse { external }
            | Error::InsufficientCapacity { external }
            | Error::LimitExceeded { external }
            | Error::Unavailable { external }
            | Error::PermissionDenied { external }
            | Error::Unsupported { external }
            | Error::Internal { external, .. } => external,
        }
    }

    /// The text for logs (internal detail when there is one).
    pub fn internal_message(&self) -> &str {
        match self {
            Error::Internal { internal, .. } => internal,
            other => other.external_message(),
        }
    }
}

/// Shows an error with all its causes, `top: cause: root cause`, for logs: `Display` alone
/// prints the top only ("database operation X failed"), which loses why.
///
/// `tracing::warn!(error = %ErrorChain(&e), "…")`, or `%e.chain()` through [`Chain`].
pub struct ErrorChain<'a>(pub &'a (dyn std::error::Error + 'a));

impl std::fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut cause = self.0.source();
        let mut last = self.0.to_string();
        while let Some(c) = cause {
            let text = c.to_string();
            // Some errors repeat their source's text in their own; print each text once.
            if !last.contains(&text) {
                write!(f, ": {text}")?;
            }
            last = text;
            cause = c.source();
        }
        Ok(())
    }
}

/// `.chain()` on any error: its [`ErrorChain`].
pub trait Chain {
    fn chain(&self) -> ErrorChain<'_>;
}

impl<E: std::error::Error> Chain for E {
    fn chain(&self) -> ErrorChain<'_> {
        ErrorChain(self)
    }
}

#[cfg(test)]
mod chain_tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("database operation job_claim failed")]
    struct Top(#[source] std::io::Error);

    #[test]
    fn every_cause_is_shown_once() {
        let e = Top(std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "connection refused",
        ));
        assert_eq!(
            e.chain().to_string(),
            "database operation job_claim failed: connection refused"
        );
        let single = std::io::Error::other("plain");
        assert_eq!(ErrorChain(&single).to_string(), "plain");
    }
}
