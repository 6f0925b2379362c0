//! The simulator's shared in-memory state: machines, credentials, fault knobs and the request log.

use crate::machine::{Machine, MachineStatus, PowerState};
use crate::oauth::{ApiKey, SignatureMethod};
use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

/// How pending transitions (deploying, releasing, power changes) complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SimMode {
    /// They complete by themselves after the configured number of polls.
    #[default]
    Auto,
    /// They wait until the test calls [`crate::MaasSim::advance`].
    Explicit,
}

/// Behaviour knobs fixed at start.
#[derive(Debug, Clone)]
pub(crate) struct Behaviour {
    pub(crate) mode: SimMode,
    pub(crate) deploy_polls: u32,
    pub(crate) release_polls: u32,
    pub(crate) power_polls: u32,
    pub(crate) default_distro_series: String,
}

/// Faults the test switches on and off while the simulator runs.
#[derive(Debug, Clone, Default)]
pub(crate) struct Faults {
    pub(crate) fail_deploys: u32,
    pub(crate) fail_requests: u32,
    pub(crate) fail_status: u16,
    /// The op whose next answer is lost, and the status sent instead.
    pub(crate) lose_answer: Option<(String, u16)>,
}

/// One request as the simulator saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    pub method: String,
    /// The path below `/MAAS/api/2.0/`, e.g. `machines/abc123/`.
    pub path: String,
    /// The dispatched operation (`deploy`, `power_on`, …), if any.
    pub op: Option<String>,
    /// Query and body parameters (minus `op` and `oauth_*`), in arrival order.
    pub params: Vec<(String, String)>,
    /// How the request was signed, if it was authenticated.
    pub signature_method: Option<SignatureMethod>,
    pub status: u16,
}

impl RecordedRequest {
    /// The first value of a parameter.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(known, _)| known == name)
            .map(|(_, value)| value.as_str())
    }
}

/// A snapshot of one machine for assertions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MachineView {
    pub system_id: String,
    pub hostname: String,
    pub status: MachineStatus,
    pub power_state: PowerState,
    pub owner: Option<String>,
    pub owner_data: BTreeMap<String, String>,
    pub agent_name: String,
    pub osystem: String,
    pub distro_series: String,
    /// The base64 `user_data` of the last deploy.
    pub user_data: Option<String>,
    pub mac_addresses: Vec<String>,
    /// How many times `deploy` was accepted for this machine.
    pub deploy_count: u32,
    /// Whether a status transition is still pending.
    pub transition_pending: bool,
}

impl MachineView {
    pub(crate) fn of(machine: &Machine) -> MachineView {
        MachineView {
            system_id: machine.system_id.clone(),
            hostname: machine.hostname.clone(),
            status: machine.status,
            power_state: machine.power_state,
            owner: machine.owner.clone(),
            owner_data: machine.owner_data.clone(),
            agent_name: machine.agent_name.clone(),
            osystem: machine.osystem.clone(),
            distro_series: machine.distro_series.clone(),
            user_data: machine.user_data.clone(),
            mac_addresses: machine
                .interfaces
                .iter()
                .map(|i| i.mac_address.clone())
                .collect(),
            deploy_count: machine.deploy_count,
            transition_pending: machine.pending.is_some() || machine.power_pending.is_some(),
        }
    }
}

/// Everything the HTTP handlers and the test handle share.
pub(crate) struct Shared {
    pub(crate) behaviour: Behaviour,
    pub(crate) keys: Vec<(ApiKey, String)>,
    machines: Mutex<Vec<Machine>>,
    faults: Mutex<Faults>,
    requests: Mutex<Vec<RecordedRequest>>,
    /// The transport-level knobs: latency and unresponsiveness.
    pub(crate) transport: trellis_simkit::Faults,
}

/// Lock a mutex, recovering the data if a panicking thread poisoned it (the state stays usable
/// for the remaining assertions).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Shared {
    pub(crate) fn new(
        behaviour: Behaviour,
        keys: Vec<(ApiKey, String)>,
        machine_count: usize,
    ) -> Shared {
        Shared {
            behaviour,
            keys,
            machines: Mutex::new((0..machine_count).map(Machine::new).collect()),
            faults: Mutex::new(Faults::default()),
            requests: Mutex::new(Vec::new()),
            transport: trellis_simkit::Faults::new(),
        }
    }

    pub(crate) fn machines(&self) -> MutexGuard<'_, Vec<Machine>> {
        lock(&self.machines)
    }

    pub(crate) fn faults(&self) -> MutexGuard<'_, Faults> {
        lock(&self.faults)
    }

    pub(crate) fn record(&self, request: RecordedRequest) {
        lock(&self.requests).push(request);
    }

    pub(crate) fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.requests).clone()
    }

    /// Polls count down pending transitions only in automatic mode.
    pub(crate) fn poll(&self, machine: &mut Machine) {
        if self.behaviour.mode == SimMode::Auto {
            machine.tick();
        }
    }

    /// Take one "fail the next deploy" token, if any is left.
    pub(crate) fn take_deploy_failure(&self) -> bool {
        let mut faults = self.faults();
        if faults.fail_deploys > 0 {
            faults.fail_deploys -= 1;
            true
        } else {
            false
        }
    }

    /// If the next answer to `op` is to be lost: the status that replaces it.
    pub(crate) fn take_answer_loss(&self, op: Option<&str>) -> Option<u16> {
        let mut faults = self.faults();
        match (&faults.lose_answer, op) {
            (Some((lost, status)), Some(op)) if lost == op => {
                let status = *status;
                faults.lose_answer = None;
                Some(status)
            }
            _ => None,
        }
    }

    /// Take one "fail the next request" token: the status to answer with.
    pub(crate) fn take_request_failure(&self) -> Option<u16> {
        let mut faults = self.faults();
        if faults.fail_requests > 0 {
            faults.fail_requests -= 1;
            Some(faults.fail_status)
        } else {
            None
        }
    }
}
