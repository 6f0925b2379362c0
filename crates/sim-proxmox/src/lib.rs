//! A simulator of the Proxmox VE REST API, for tests and offline work.
//!
//! It speaks the real protocol under `/api2/json`, so the built-in Proxmox extension (or any
//! Proxmox client using an API token) cannot tell it from a small cluster:
//!
//! * `{"data": …}` envelopes; errors as Proxmox renders them: 400 `Parameter verification
//!   failed.` with an `errors` object, 500 with the runtime error in `message` (and in the
//!   status line), 401 for a missing or wrong `Authorization: PVEAPIToken=USER@REALM!TOKENID=SECRET`,
//!   501 for unknown paths;
//! * asynchronous tasks: every mutating call returns a UPID
//!   (`UPID:node:pid:pstart:starttime:type:id:user:`); `GET /nodes/{node}/tasks/{upid}/status`
//!   answers `running` for a configurable number of polls, then `stopped` with `exitstatus` `OK`
//!   or the error text; the state change happens when the task completes;
//! * in-memory nodes (with a network configuration), storages (`local` with ISO images,
//!   `local-lvm` for disks), a template (VMID 9000, `template: 1`), `cluster/nextid`, VM
//!   config/status, full and linked clones, creation from an ISO, start/stop/shutdown/reboot,
//!   destroy, snapshots (list/create/rollback/delete) and `vncproxy`;
//! * Proxmox's rules: an existing VMID cannot be created twice (the VMID is reserved as soon as a
//!   create or clone is accepted), `storage` is refused for linked clones, a running VM cannot be
//!   destroyed, starting a running VM fails in its task, and so on.
//!
//! Faults are injectable while running: fail the next tasks with a given text, fail the next
//! requests, answer slowly, or stop answering ([`ProxmoxSim::faults`]).
//!
//! [`ProxmoxSim`] runs the simulator on its own thread and runtime, so synchronous and
//! asynchronous tests use it alike; dropping it stops the server. [`run`] is the standalone entry
//! point behind `trellis sim proxmox`.

mod api;
mod error;
mod http;
mod state;

pub use http::API_PREFIX;
pub use state::{
    is_dns_name, is_snapshot_name, CloneKind, NetSpec, NetworkInterface, Node, PowerStatus,
    RecordedRequest, Snapshot, Storage, TaskInfo, Vm, VncTicket, FIRST_VMID, SEEDED_ISOS,
    TEMPLATE_NAME, TEMPLATE_VMID,
};
pub use trellis_simkit::Faults;

use anyhow::Context as _;
use state::{Credentials, Shared, State};
use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;
use tokio::sync::oneshot;

/// The port Proxmox VE listens on.
pub const DEFAULT_PORT: u16 = 8006;

/// How to start a simulator.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Where to listen; port 0 picks a free port.
    pub listen: SocketAddr,
    /// HTTPS with a throw-away self-signed certificate (as a real node), or plain HTTP.
    pub tls: bool,
    /// The name of the (first) node.
    pub node: String,
    /// The address of the node's management bridge `vmbr0` (what `GET …/network` reports).
    pub node_address: String,
    /// The user owning the API token (`root@pam`).
    pub user: String,
    /// The token id (`trellis` in `root@pam!trellis`).
    pub token: String,
    /// The token secret.
    pub secret: String,
    /// Status polls answered with `running` before a task completes (0: the first poll completes).
    pub task_polls: u32,
}

impl Default for SimConfig {
    fn default() -> SimConfig {
        SimConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            tls: true,
            node: "pve1".into(),
            node_address: "127.0.0.1".into(),
            user: "root@pam".into(),
            token: "trellis".into(),
            secret: "secret".into(),
            task_polls: 1,
        }
    }
}

impl SimConfig {
    /// The `Authorization` header value a client must send.
    pub fn authorization(&self) -> String {
        format!("PVEAPIToken={}!{}={}", self.user, self.token, self.secret)
    }

    fn shared(&self) -> Arc<Shared> {
        let state = State::new(&self.node, &self.node_address, self.task_polls);
        let credentials = Credentials {
            user: self.user.clone(),
            token: self.token.clone(),
            secret: self.secret.clone(),
        };
        Arc::new(Shared::new(state, credentials))
    }
}

/// A running simulator (on its own thread). Dropping it stops the server.
pub struct ProxmoxSim {
    config: SimConfig,
    shared: Arc<Shared>,
    addr: SocketAddr,
    base_url: String,
    certificate_pem: Option<String>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for ProxmoxSim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProxmoxSim")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

type Started = std::io::Result<(SocketAddr, String, Option<String>)>;

impl ProxmoxSim {
    /// Starts a simulator with `config` on a thread of its own.
    pub fn start(config: SimConfig) -> std::io::Result<ProxmoxSim> {
        let shared = config.shared();
        let (started_sender, started_receiver) = std::sync::mpsc::channel::<Started>();
        let (stop_sender, stop_receiver) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("sim-proxmox".into())
            .spawn({
                let shared = shared.clone();
                let listen = config.listen;
                let tls = config.tls;
                move || serve_on_own_runtime(shared, listen, tls, started_sender, stop_receiver)
            })?;
        let started = started_receiver
            .recv()
            .map_err(|_| std::io::Error::other("the simulator thread ended before listening"))?;
        let (addr, base_url, certificate_pem) = match started {
            Ok(started) => started,
            Err(error) => {
                let _ = thread.join();
                return Err(error);
            }
        };
        Ok(ProxmoxSim {
            config,
            shared,
            addr,
            base_url,
            certificate_pem,
            stop: Some(stop_sender),
            thread: Some(thread),
        })
    }

    /// The configuration the simulator was started with.
    pub fn config(&self) -> &SimConfig {
        &self.config
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `https://127.0.0.1:<port>` (or `http://…`), without the `/api2/json` prefix.
    pub fn base_url(&self) -> String {
        self.base_url.clone()
    }

    /// The PEM of the self-signed certificate (HTTPS only).
    pub fn certificate_pem(&self) -> Option<&str> {
        self.certificate_pem.as_deref()
    }

    /// The fault knobs. [`Faults::fail_next`] fails the next tasks with its text.
    pub fn faults(&self) -> &Faults {
        &self.shared.faults
    }

    /// Fails the next `count` tasks: they run as usual, then stop with `message` as their exit
    /// status and without changing anything.
    pub fn fail_next_tasks(&self, count: usize, message: &str) {
        self.shared.faults.fail_next(count, message);
    }

    /// Fails the next `count` tasks of type `kind` (`qmclone`, `qmstart`, `qmconfig`, ...) with
    /// `message`, leaving other tasks alone.
    pub fn fail_next_tasks_of_type(&self, kind: &str, count: usize, message: &str) {
        let mut state = self.shared.state();
        for _ in 0..count {
            state
                .typed_failures
                .push((kind.to_string(), message.to_string()));
        }
    }

    /// Answers the next `count` requests with HTTP 500 and `message`, as a broken node would.
    pub fn fail_next_requests(&self, count: usize, message: &str) {
        let body = serde_json::json!({"data": null, "message": format!("{message}\n")});
        self.shared.faults.fail_next_requests(
            count,
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            body,
        );
    }

    /// Status polls answered with `running` before a newly started task completes.
    pub fn set_task_polls(&self, polls: u32) {
        self.shared.state().task_polls = polls;
    }

    /// While held, no task completes, however often it is polled.
    pub fn hold_tasks(&self, hold: bool) {
        self.shared.state().hold_tasks = hold;
    }

    /// Completes every running task now.
    pub fn finish_tasks(&self) {
        self.shared.state().finish_all_tasks();
    }

    /// One VM (or template) by VMID.
    pub fn vm(&self, vmid: u32) -> Option<Vm> {
        self.shared.state().vms.get(&vmid).cloned()
    }

    /// The VMs named `name`.
    pub fn vms_named(&self, name: &str) -> Vec<Vm> {
        self.shared
            .state()
            .vms
            .values()
            .filter(|vm| vm.name() == Some(name))
            .cloned()
            .collect()
    }

    /// Every VM and template, by VMID.
    pub fn vms(&self) -> Vec<Vm> {
        self.shared.state().vms.values().cloned().collect()
    }

    /// Adds (or replaces) a VM, e.g. one created out of band.
    pub fn insert_vm(&self, vm: Vm) {
        self.shared.state().vms.insert(vm.vmid, vm);
    }

    /// Changes a VM's power state out of band; false if there is no such VM.
    pub fn set_power(&self, vmid: u32, status: PowerStatus) -> bool {
        let mut state = self.shared.state();
        let Some(vm) = state.vms.get_mut(&vmid) else {
            return false;
        };
        vm.status = status;
        vm.started_at = (status == PowerStatus::Running).then(state::now);
        true
    }

    /// Adds a node (with the same network layout as the first one).
    pub fn add_node(&self, name: &str, address: &str) {
        self.shared
            .state()
            .nodes
            .insert(name.to_string(), Node::new(name, address));
    }

    /// Every task so far, oldest first.
    pub fn tasks(&self) -> Vec<TaskInfo> {
        let mut tasks: Vec<TaskInfo> = self
            .shared
            .state()
            .tasks
            .values()
            .map(|record| record.info.clone())
            .collect();
        tasks.sort_by_key(|task| task.pid);
        tasks
    }

    /// The VNC tickets handed out so far.
    pub fn vnc_tickets(&self) -> Vec<VncTicket> {
        self.shared.state().vnc_tickets.clone()
    }

    /// Every request answered so far (not counting ones answered by injected faults).
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.state().requests.clone()
    }

    /// Forgets the recorded requests.
    pub fn clear_requests(&self) {
        self.shared.state().requests.clear();
    }

    /// Stops the server and waits for its thread.
    pub fn shutdown(mut self) {
        self.stop_now();
    }

    fn stop_now(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for ProxmoxSim {
    fn drop(&mut self) {
        self.stop_now();
    }
}

fn serve_on_own_runtime(
    shared: Arc<Shared>,
    listen: SocketAddr,
    tls: bool,
    started: std::sync::mpsc::Sender<Started>,
    stop: oneshot::Receiver<()>,
) {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("sim-proxmox-worker")
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            let _ = started.send(Err(error));
            return;
        }
    };
    runtime.block_on(async move {
        let handle = match serve(shared, listen, tls).await {
            Ok(handle) => handle,
            Err(error) => {
                let _ = started.send(Err(error));
                return;
            }
        };
        let pem = handle.certificate_pem().map(str::to_string);
        let _ = started.send(Ok((handle.addr(), handle.base_url(), pem)));
        // Either an explicit stop or the handle being dropped.
        let _ = stop.await;
        handle.shutdown().await;
    });
}

async fn serve(
    shared: Arc<Shared>,
    listen: SocketAddr,
    tls: bool,
) -> std::io::Result<trellis_simkit::ServerHandle> {
    let router = http::router(shared.clone());
    let handle = trellis_simkit::serve(router, listen, tls).await?;
    if let Ok(mut pem) = shared.certificate_pem.lock() {
        *pem = handle.certificate_pem().map(str::to_string);
    }
    Ok(handle)
}

fn print_banner(banner: &str) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{banner}").context("cannot write to stdout")?;
    stdout.flush().context("cannot write to stdout")
}

/// Command-line options of `trellis sim proxmox`.
#[derive(Debug, Clone, clap::Args)]
pub struct SimArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8006")]
    pub listen: SocketAddr,
    /// Serve HTTPS with a self-signed certificate (as a real node does).
    #[arg(long)]
    pub tls: bool,
    /// Node name.
    #[arg(long, default_value = "pve1")]
    pub node: String,
    /// User owning the API token.
    #[arg(long, default_value = "root@pam")]
    pub user: String,
    /// API token id.
    #[arg(long, default_value = "trellis")]
    pub token: String,
    /// API token secret.
    #[arg(long, default_value = "secret")]
    pub secret: String,
    /// Task status polls answered with `running` before a task completes.
    #[arg(long, default_value_t = 1)]
    pub task_polls: u32,
}

impl SimArgs {
    /// The simulator configuration these options describe.
    pub fn config(&self) -> SimConfig {
        SimConfig {
            listen: self.listen,
            tls: self.tls,
            node: self.node.clone(),
            user: self.user.clone(),
            token: self.token.clone(),
            secret: self.secret.clone(),
            task_polls: self.task_polls,
            ..SimConfig::default()
        }
    }
}

/// Runs the simulator until Ctrl-C, printing its base URL and credentials first.
pub async fn run(args: SimArgs) -> anyhow::Result<()> {
    let config = args.config();
    let shared = config.shared();
    let handle = serve(shared, config.listen, config.tls)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let base_url = handle.base_url();
    let details = serde_json::json!({
        "url": base_url,
        "user": config.user,
        "token": config.token,
        "secret": config.secret,
        "node": config.node,
        "network_bridge": "vmbr0",
        "verify_tls_certificate": "false",
    });
    let banner = format!(
        "Proxmox VE simulator listening on {base_url}{tls}\n\
         node: {node}\n\
         API token: {user}!{token} (secret: {secret})\n\
         Authorization: {authorization}\n\
         template: VMID {TEMPLATE_VMID} ({TEMPLATE_NAME}); ISO images: {isos}\n\
         extension details: {details}\n\
         Press Ctrl-C to stop.",
        tls = if config.tls {
            " (self-signed certificate)"
        } else {
            ""
        },
        node = config.node,
        user = config.user,
        token = config.token,
        secret = config.secret,
        authorization = config.authorization(),
        isos = SEEDED_ISOS.join(", "),
    );
    print_banner(&banner)?;
    tokio::signal::ctrl_c()
        .await
        .context("cannot wait for Ctrl-C")?;
    handle.shutdown().await;
    Ok(())
}
