//! What quickstart prints once it is ready: the console URL, the credentials and commands that
//! work as printed.

use super::{
    Report, CREDENTIALS_FILE, LOCAL_CLUSTER, LOCAL_HOST, LOCAL_TEMPLATE, MEDIUM_OFFERING, NETWORK,
    SMALL_OFFERING, ZONE,
};
use std::path::PathBuf;

/// `value` quoted for a POSIX shell when it needs it.
pub(super) fn shell_quote(value: &str) -> String {
    if !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-./:=@,+%".contains(c))
    {
        value.to_string()
    } else {
        format!("'{}'", value.replace('\'', r"'\''"))
    }
}

/// How to call this executable: `trellis` when that is what `PATH` finds, else its full path.
fn command_name() -> String {
    let Ok(exe) = std::env::current_exe() else {
        return "trellis".into();
    };
    let exe = exe.canonicalize().unwrap_or(exe);
    let on_path = std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|dir| {
            dir.join("trellis")
                .canonicalize()
                .is_ok_and(|found| found == exe)
        })
    });
    if on_path {
        "trellis".into()
    } else {
        shell_quote(&exe.to_string_lossy())
    }
}

/// Where `qemu-system-x86_64` is, if installed.
fn qemu_location() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("qemu-system-x86_64"))
        .find(|candidate| candidate.is_file())
}

impl Report<'_> {
    pub(super) fn render(&self) -> String {
        let seeded = self.seeded;
        let environment = format!(
            "TRELLIS_URL={} TRELLIS_USERNAME={} TRELLIS_PASSWORD={}",
            shell_quote(self.api_url),
            shell_quote(&self.credentials.username),
            shell_quote(&self.credentials.password)
        );
        let trellis = command_name();
        let mut text = String::new();
        let mut line = |s: String| {
            text.push_str(&s);
            text.push('\n');
        };
        line("Trellis quickstart is ready.".into());
        line(String::new());
        line(format!("  Web console:  {}/", self.base));
        line(format!("  API:          {}", self.api_url));
        line(format!("  Username:     {}", self.credentials.username));
        line(format!("  Password:     {}", self.credentials.password));
        line(format!(
            "  Data:         {} (credentials in {CREDENTIALS_FILE})",
            self.data_dir.display()
        ));
        line(String::new());
        line(format!(
            "  Seeded: zone {ZONE}; cluster {LOCAL_CLUSTER} (extension Local) with host {LOCAL_HOST}; offerings \"{SMALL_OFFERING}\" and \"{MEDIUM_OFFERING}\"; template {LOCAL_TEMPLATE}; L2 network {NETWORK}."
        ));
        match qemu_location() {
            Some(qemu) => line(format!(
                "  Local instances run as QEMU virtual machines on this machine ({}).",
                qemu.display()
            )),
            None => line(
                "  Warning: qemu-system-x86_64 is not installed, so Local instances cannot start; install the Debian package qemu-system-x86 (scripts/install-qemu.sh)."
                    .into(),
            ),
        }
        if !seeded.local_ready {
            line("  Warning: the Local extension is not ready yet (see the server log).".into());
        }
        if self.sims.is_some() {
            for sim in &seeded.sim_clusters {
                let built = self.builtin_dir.join(sim.binary).is_file();
                line(format!(
                    "  {} simulator at {}: cluster {}, templateid={}{}",
                    sim.extension,
                    sim.url,
                    sim.cluster,
                    sim.template,
                    if built {
                        String::new()
                    } else {
                        format!("; {} is not built, so its deploys fail (cargo build -p trellis-ext-{})", sim.binary, sim.binary.trim_start_matches("trellis-"))
                    }
                ));
            }
        }
        line(String::new());
        line("Deploy a virtual machine (copy and paste):".into());
        line(String::new());
        line(format!(
            "  {environment} {trellis} api deployVirtualMachine zoneid={} serviceofferingid={} templateid={} networkids={}",
            seeded.zone, seeded.small, seeded.template, seeded.network
        ));
        line(String::new());
        line(format!(
            "The medium offering is serviceofferingid={}. List instances with:",
            seeded.medium
        ));
        line(String::new());
        line(format!(
            "  {environment} {trellis} api listVirtualMachines --output table"
        ));
        line(String::new());
        line("Press Ctrl-C to stop the server (running instances keep running and are found again at the next start).".into());
        text
    }
}
