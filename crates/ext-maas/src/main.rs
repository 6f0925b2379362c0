//! `trellis-maas <action> <payload.json> <timeout-seconds>`: the built-in MAAS extension.
//!
//! Prints exactly one JSON document on stdout and exits with a documented code (the kit does
//! both, also when something panics); see `docs/extensions/maas.md`.

fn main() {
    trellis_extkit::run_main(trellis_ext_maas::PROGRAM, trellis_ext_maas::run)
}
