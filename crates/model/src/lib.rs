//! The Trellis domain model: typed ids, entities, lifecycle state enums with pure transitions, and
//! the one domain [`Error`]. No I/O, no async runtime, no SQL, no HTTP.

pub mod account;
pub mod affinity;
pub mod entity;
pub mod error;
pub mod extension;
pub mod ids;
pub mod infra;
pub mod instance;
pub mod limits;
pub mod merge;
pub mod os_types;
pub mod project;
pub mod role;
pub mod time;
pub mod validate;

pub use error::{Chain, Error, ErrorChain, Result};
pub use role::RoleType;
