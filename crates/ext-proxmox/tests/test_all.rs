//! Runs the real `trellis-proxmox` binary against the Proxmox VE simulator started in-process.

mod integration_tests;
