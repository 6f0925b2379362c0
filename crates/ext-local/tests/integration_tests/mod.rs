//! The test modules and their shared harness.

pub mod harness;

mod cloud_init;
mod errors;
mod lifecycle;
mod templates;
