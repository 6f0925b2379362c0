//! The test modules and their shared harness.

pub mod harness;

mod errors;
mod lifecycle;
