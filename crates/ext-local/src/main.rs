//! `trellis-local`: the Local (QEMU/KVM) extension binary. All the work is in the library; this
//! prints the one JSON reply and exits with its code, also when something panics.

use std::io::Write as _;
use trellis_ext_local::settings::Environment;
use trellis_ext_protocol::{error_reply, exit};

fn main() {
    // A panic becomes a JSON error on stdout instead of a trace on stderr.
    std::panic::set_hook(Box::new(|_| {}));
    let arguments: Vec<String> = std::env::args().collect();
    let deadline_variable = trellis_ext_local::deadline_variable();
    let environment = Environment::from_process();
    let reply = std::panic::catch_unwind(|| {
        trellis_ext_local::run(&arguments, deadline_variable.as_deref(), &environment)
    })
    .unwrap_or_else(|_| trellis_ext_local::Reply {
        exit_code: exit::FAILED,
        stdout: error_reply("internal error in the local extension"),
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
