//! The CloudStack API surface: the command catalog (data that drives parsing, validation,
//! authorization and `listApis`), parameter parsing, request signatures, response envelopes and
//! the single mapping from the domain error to CloudStack error codes.
//!
//! Nothing here does I/O; the HTTP server feeds requests in and writes the rendered bytes out.

pub mod catalog;
pub mod envelope;
pub mod error;
pub mod params;
pub mod signature;
pub mod xml;

pub use catalog::{Command, Param, ParamType};
pub use envelope::{format_date, Reply};
pub use error::ApiError;
pub use params::Params;
