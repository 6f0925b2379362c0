//! The integration tests, one module per area.

mod cloudinit;
mod concurrency;
mod errors;
mod harness;
mod lifecycle;
mod snapshots;
mod template;
