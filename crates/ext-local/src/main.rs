//! `trellis-local`: the Local (QEMU/KVM) extension binary. All the work is in the library; the
//! kit prints the one JSON reply and exits with its code, also when something panics.

use trellis_ext_local::settings::Environment;

fn main() {
    trellis_extkit::run_main(
        trellis_ext_local::PROGRAM,
        |arguments, deadline_variable| {
            trellis_ext_local::run(arguments, deadline_variable, &Environment::from_process())
        },
    )
}
