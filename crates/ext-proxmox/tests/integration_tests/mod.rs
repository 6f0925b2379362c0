//! The integration tests, one module per area.

mod concurrency;
mod errors;
mod helpers;
mod lifecycle;
mod snapshots;
