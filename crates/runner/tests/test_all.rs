//! Integration tests of the runner and the conformance checker, with real executables (small bash
//! scripts written into temporary directories).

mod integration_tests;
