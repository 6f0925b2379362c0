//! The simulator's integration tests, one binary: a real HTTP client against a running simulator.

mod integration_tests;
