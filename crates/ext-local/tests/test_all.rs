//! Integration tests: the `trellis-local` binary against real QEMU.

mod integration_tests;
