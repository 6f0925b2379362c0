//! `trellis-proxmox`: the Proxmox VE extension binary. All the work is in the library; the kit
//! prints the one JSON reply and exits with its code, also when something panics.

fn main() {
    trellis_extkit::run_main(trellis_ext_proxmox::PROGRAM, trellis_ext_proxmox::run)
}
