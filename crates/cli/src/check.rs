//! `trellis extension check`: run an executable through the standard actions and report.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;
use trellis_ext_runner::check::{check_extension, CheckOptions};
use trellis_ext_runner::{Runner, RunnerConfig};

#[derive(clap::Args, Debug)]
pub struct CheckArgs {
    /// The extension executable.
    path: PathBuf,
    /// An extension-level detail sent in every payload (repeatable).
    #[arg(long = "extension-detail", value_name = "KEY=VALUE")]
    extension_details: Vec<String>,
    /// A host-level detail (repeatable).
    #[arg(long = "host-detail", value_name = "KEY=VALUE")]
    host_details: Vec<String>,
    /// An instance-level detail (repeatable).
    #[arg(long = "vm-detail", value_name = "KEY=VALUE")]
    vm_details: Vec<String>,
    /// Only these actions (repeatable).
    #[arg(long = "action")]
    actions: Vec<String>,
    /// Seconds each action may take.
    #[arg(long, default_value_t = 60)]
    timeout: u64,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

fn pairs(list: &[String]) -> anyhow::Result<BTreeMap<String, String>> {
    list.iter()
        .map(|kv| {
            kv.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .ok_or_else(|| anyhow::anyhow!("expected KEY=VALUE, got {kv}"))
        })
        .collect()
}

pub async fn run(a: CheckArgs) -> anyhow::Result<u8> {
    let runner = Runner::new(RunnerConfig::default())
        .map_err(|e| anyhow::anyhow!(crate::error_chain(&e)))?;
    let mut opts = CheckOptions::new(&a.path);
    opts.timeout = Duration::from_secs(a.timeout);
    opts.extension_details = pairs(&a.extension_details)?;
    opts.host_details = pairs(&a.host_details)?;
    opts.vm_details = pairs(&a.vm_details)?;
    if !a.actions.is_empty() {
        opts.actions = Some(a.actions.clone());
    }
    let report = check_extension(&runner, opts).await;
    let mut out = std::io::stdout();
    if a.json {
        writeln!(out, "{}", report.render_json())?;
    } else {
        write!(out, "{}", report.render_text())?;
    }
    Ok(if report.passed() { 0 } else { 1 })
}
