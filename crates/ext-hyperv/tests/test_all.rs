//! Integration tests: the real `trellis-hyperv` binary against the in-process Hyper-V simulator.

mod integration_tests;
