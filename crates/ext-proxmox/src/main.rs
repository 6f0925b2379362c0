//! `trellis-proxmox`: the Proxmox VE extension binary. All the work is in the library; this
//! prints the one JSON reply and exits with its code, also when something panics.

use std::io::Write as _;
use trellis_ext_protocol::{error_reply, exit, ENV_DEADLINE};

fn main() {
    // stderr must stay silent: a panic becomes a JSON error on stdout instead.
    std::panic::set_hook(Box::new(|_| {}));
    let arguments: Vec<String> = std::env::args().collect();
    let deadline_variable = std::env::var(ENV_DEADLINE).ok();
    let reply = std::panic::catch_unwind(|| {
        trellis_ext_proxmox::run(&arguments, deadline_variable.as_deref())
    })
    .unwrap_or_else(|_| trellis_ext_proxmox::Reply {
        exit_code: exit::FAILED,
        stdout: error_reply("internal error in the proxmox extension"),
    });
    let mut stdout = std::io::stdout().lock();
    let written = writeln!(stdout, "{}", reply.stdout).and_then(|()| stdout.flush());
    let code = if written.is_err() && reply.exit_code == exit::OK {
        exit::FAILED
    } else {
        reply.exit_code
    };
    std::process::exit(code);
}
