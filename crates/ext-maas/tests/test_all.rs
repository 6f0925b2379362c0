//! The extension's integration tests, one binary: the built `trellis-maas` against the simulator.

mod integration_tests;
