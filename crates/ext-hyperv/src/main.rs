//! The built-in Hyper-V extension.
fn main() {}
