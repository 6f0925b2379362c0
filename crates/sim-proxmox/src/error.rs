//! Proxmox VE's error answers: an HTTP status, a message (also used as the reason phrase) and,
//! for parameter verification failures, an `errors` object naming the offending parameters.

use std::collections::BTreeMap;

/// An error answer of the simulated API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiError {
    pub status: u16,
    pub message: String,
    pub errors: BTreeMap<String, String>,
}

impl ApiError {
    /// HTTP 500, the status of every runtime error in Proxmox VE.
    pub fn server(message: impl Into<String>) -> ApiError {
        ApiError {
            status: 500,
            message: message.into(),
            errors: BTreeMap::new(),
        }
    }

    /// HTTP 400 "Parameter verification failed." with one offending parameter.
    pub fn param(name: &str, problem: &str) -> ApiError {
        let mut errors = BTreeMap::new();
        errors.insert(name.to_string(), problem.to_string());
        ApiError {
            status: 400,
            message: "Parameter verification failed.".into(),
            errors,
        }
    }

    /// HTTP 401.
    pub fn unauthorized(message: &str) -> ApiError {
        ApiError {
            status: 401,
            message: message.to_string(),
            errors: BTreeMap::new(),
        }
    }

    /// HTTP 501, for paths and methods the API does not have.
    pub fn not_implemented(method: &str, path: &str) -> ApiError {
        ApiError {
            status: 501,
            message: format!("Method '{method} {path}' not implemented"),
            errors: BTreeMap::new(),
        }
    }

    /// The JSON body, as pve-http-server renders it (messages end in a newline).
    pub fn body(&self) -> serde_json::Value {
        let mut body = serde_json::json!({"data": null, "message": format!("{}\n", self.message)});
        if !self.errors.is_empty() {
            body["errors"] = serde_json::to_value(&self.errors).unwrap_or_default();
        }
        body
    }
}
