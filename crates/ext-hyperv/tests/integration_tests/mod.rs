//! Test modules, one per concern, sharing one harness.

mod errors;
mod harness;
mod injection;
mod lifecycle;
mod pywinrm;
mod snapshots;
