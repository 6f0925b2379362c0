//! `trellis-maas <action> <payload.json> <timeout-seconds>`: the built-in MAAS extension.
//!
//! Prints exactly one JSON document on stdout and exits with a documented code; see
//! `docs/extensions/maas.md`.

use std::io::Write as _;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let env_deadline = std::env::var(trellis_ext_protocol::ENV_DEADLINE).ok();
    let reply = trellis_ext_maas::run(&args, env_deadline.as_deref());
    let mut stdout = std::io::stdout().lock();
    let written = writeln!(stdout, "{}", reply.stdout).and_then(|()| stdout.flush());
    let code = match written {
        Ok(()) => reply.exit_code,
        // Nobody can read the answer; still fail rather than claim success.
        Err(_) if reply.exit_code == trellis_ext_protocol::exit::OK => {
            trellis_ext_protocol::exit::FAILED
        }
        Err(_) => reply.exit_code,
    };
    std::process::exit(code);
}
