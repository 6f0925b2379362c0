//! Integration tests: each starts the real `trellis serve` process on a free port with a fresh
//! database and talks to it over HTTP through the signing client.

mod integration;
