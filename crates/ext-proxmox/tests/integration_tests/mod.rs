//! The integration tests, one module per area.

mod concurrency;
mod errors;
mod harness;
mod lifecycle;
mod snapshots;
