//! The one mapping from the domain error to CloudStack's `errorcode`/`cserrorcode` and HTTP
//! status. The table is documented in `docs/dev/api-error-codes.md`.

use trellis_model::Error;

/// An error as the API reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// CloudStack `errorcode`; also the HTTP status.
    pub code: u16,
    /// CloudStack `cserrorcode` (the exception class number).
    pub cs_code: u32,
    pub text: String,
}

/// Most bytes of an error text (the `errortext` of a response or job result).
pub const MAX_ERROR_TEXT: usize = 2048;

impl ApiError {
    /// An error answer. The text is bounded to [`MAX_ERROR_TEXT`] bytes (a text that echoes a
    /// huge bad value is cut with a marker that tells the full size).
    pub fn new(code: u16, cs_code: u32, text: impl Into<String>) -> ApiError {
        let mut text = text.into();
        if text.len() > MAX_ERROR_TEXT {
            let full = text.len();
            let mut cut = MAX_ERROR_TEXT;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            text.truncate(cut);
            text.push_str(&format!("… [truncated: {cut} of {full} bytes shown]"));
        }
        ApiError {
            code,
            cs_code,
            text,
        }
    }
    /// 401: bad or missing credentials or signature.
    pub fn unauthorized() -> ApiError {
        ApiError::new(
            401,
            9999,
            "unable to verify user credentials and/or request signature",
        )
    }
    /// 401 for a signed request naming a command that does not exist or that the caller's role
    /// may not call: upstream's code (its verifier answers 401), with a text that names the
    /// command instead of suggesting a bad key.
    pub fn unknown_command(command: &str) -> ApiError {
        ApiError::new(
            401,
            9999,
            format!("The given command:{command} does not exist or it is not available for user"),
        )
    }
    /// 432: unknown or unavailable command.
    pub fn unsupported(command: &str) -> ApiError {
        ApiError::new(
            432,
            9999,
            format!("The given command:{command} does not exist or it is not available for user"),
        )
    }
    /// 431 with CloudStack's missing-parameter text.
    pub fn missing_param(command: &str, param: &str) -> ApiError {
        ApiError::new(
            431,
            4350,
            format!(
                "Unable to execute API command {} due to missing parameter {param}",
                command.to_lowercase()
            ),
        )
    }
    pub fn param(text: impl Into<String>) -> ApiError {
        ApiError::new(431, 4350, text)
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> ApiError {
        let text = e.external_message().to_string();
        match e {
            Error::NotFound { .. } | Error::InvalidParam { .. } => ApiError::new(431, 4350, text),
            Error::MalformedParam { .. } => ApiError::new(430, 9999, text),
            Error::AlreadyExists { .. } | Error::InvalidState { .. } | Error::Internal { .. } => {
                ApiError::new(530, 4250, text)
            }
            Error::Conflict { .. } => ApiError::new(530, 4300, text),
            Error::InUse { .. } => ApiError::new(536, 4375, text),
            Error::InsufficientCapacity { .. } => ApiError::new(533, 4325, text),
            Error::LimitExceeded { .. } => ApiError::new(535, 4370, text),
            Error::Unavailable { .. } => ApiError::new(534, 4380, text),
            Error::PermissionDenied { .. } => ApiError::new(531, 4365, text),
            Error::Unsupported { .. } => ApiError::new(530, 4390, text),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_texts_are_bounded() {
        let e = ApiError::from(Error::invalid_param(format!(
            "bad value {}",
            "x".repeat(1 << 20)
        )));
        assert_eq!(e.code, 431);
        assert!(e.text.len() < MAX_ERROR_TEXT + 64, "{}", e.text.len());
        assert!(e.text.ends_with(&format!(
            "[truncated: 2048 of {} bytes shown]",
            (1 << 20) + 10
        )));
        assert_eq!(ApiError::new(431, 4350, "short").text, "short");
    }

    #[test]
    fn mapping_table() {
        let c = |e: Error| ApiError::from(e).code;
        assert_eq!(c(Error::not_found("x")), 431);
        assert_eq!(c(Error::invalid_param("x")), 431);
        assert_eq!(c(Error::malformed("x")), 430);
        assert_eq!(c(Error::already_exists("x")), 530);
        assert_eq!(c(Error::invalid_state("x")), 530);
        assert_eq!(c(Error::capacity("x")), 533);
        assert_eq!(c(Error::unavailable("x")), 534);
        assert_eq!(c(Error::in_use("x")), 536);
        assert_eq!(c(Error::denied("x")), 531);
        assert_eq!(c(Error::limit_exceeded("x")), 535);
        let internal = ApiError::from(Error::internal("db exploded"));
        assert_eq!(internal.code, 530);
        assert!(!internal.text.contains("db exploded"));
    }
}
