//! The simulator over real HTTP(S): authentication, envelopes and error shapes, tasks, the VM
//! lifecycle, snapshots, consoles and fault injection, checked against the in-memory state.

use reqwest::blocking::Client;
use reqwest::Method;
use serde_json::Value;
use std::time::Duration;
use trellis_sim_proxmox::{CloneKind, PowerStatus, ProxmoxSim, SimConfig, Vm, TEMPLATE_VMID};

struct Api {
    sim: ProxmoxSim,
    http: Client,
    authorization: String,
}

impl Api {
    fn start(config: SimConfig) -> Api {
        let sim = ProxmoxSim::start(config).expect("the simulator starts");
        let mut builder = Client::builder().timeout(Duration::from_secs(10));
        if let Some(pem) = sim.certificate_pem() {
            builder = builder
                .add_root_certificate(reqwest::Certificate::from_pem(pem.as_bytes()).unwrap());
        }
        let authorization = sim.config().authorization();
        Api {
            sim,
            http: builder.build().unwrap(),
            authorization,
        }
    }

    fn default() -> Api {
        Api::start(SimConfig::default())
    }

    fn call_as(
        &self,
        authorization: Option<&str>,
        method: Method,
        path: &str,
        params: &[(&str, &str)],
    ) -> (u16, Value) {
        let url = format!("{}/api2/json{path}", self.sim.base_url());
        let mut request = self.http.request(method.clone(), url);
        if let Some(authorization) = authorization {
            request = request.header("Authorization", authorization);
        }
        if !params.is_empty() {
            request = if method == Method::GET || method == Method::DELETE {
                request.query(params)
            } else {
                request.form(params)
            };
        }
        let response = request.send().expect("the simulator answers");
        let status = response.status().as_u16();
        let body: Value = serde_json::from_str(&response.text().unwrap()).expect("a json body");
        (status, body)
    }

    fn call(&self, method: Method, path: &str, params: &[(&str, &str)]) -> (u16, Value) {
        self.call_as(Some(&self.authorization.clone()), method, path, params)
    }

    /// The `data` of a successful call.
    fn data(&self, method: Method, path: &str, params: &[(&str, &str)]) -> Value {
        let (status, body) = self.call(method.clone(), path, params);
        assert_eq!(status, 200, "{method} {path}: {body}");
        body["data"].clone()
    }

    /// Starts a task and polls it until it stops; returns the final task status.
    fn task(&self, method: Method, path: &str, params: &[(&str, &str)]) -> Value {
        let upid = self.data(method, path, params);
        let upid = upid.as_str().expect("a upid").to_string();
        self.wait(&upid)
    }

    fn wait(&self, upid: &str) -> Value {
        let path = format!("/nodes/pve1/tasks/{}/status", encode(upid));
        for _ in 0..50 {
            let status = self.data(Method::GET, &path, &[]);
            if status["status"] == "stopped" {
                return status;
            }
        }
        panic!("task {upid} never stopped");
    }

    fn clone_template(&self, newid: &str, name: &str) -> Value {
        self.task(
            Method::POST,
            &format!("/nodes/pve1/qemu/{TEMPLATE_VMID}/clone"),
            &[("newid", newid), ("name", name), ("full", "0")],
        )
    }
}

fn encode(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
}

fn vm(api: &Api, vmid: u32) -> Vm {
    api.sim
        .vm(vmid)
        .unwrap_or_else(|| panic!("vm {vmid} exists"))
}

#[test]
fn authentication_is_by_api_token() {
    let api = Api::default();
    let (status, body) = api.call_as(None, Method::GET, "/version", &[]);
    assert_eq!(status, 401);
    assert_eq!(body["data"], Value::Null);
    let (status, body) = api.call_as(
        Some("PVEAPIToken=root@pam!trellis=wrong"),
        Method::GET,
        "/version",
        &[],
    );
    assert_eq!(status, 401);
    assert_eq!(body["message"], "authentication failure\n");
    let (status, _) = api.call_as(
        Some("PVEAPIToken=root@pam!other=secret"),
        Method::GET,
        "/nodes",
        &[],
    );
    assert_eq!(status, 401);
    assert_eq!(api.data(Method::GET, "/version", &[])["release"], "8.2");
    assert_eq!(api.data(Method::GET, "/nodes", &[])[0]["node"], "pve1");
}

#[test]
fn unknown_paths_are_not_implemented_and_trailing_slashes_are_accepted() {
    let api = Api::default();
    let (status, body) = api.call(Method::GET, "/nodes/pve1/lxc", &[]);
    assert_eq!(status, 501);
    assert_eq!(
        body["message"],
        "Method 'GET /nodes/pve1/lxc' not implemented\n"
    );
    let (status, _) = api.call(Method::POST, "/nodes/pve1/qemu/9000/status/current", &[]);
    assert_eq!(status, 501);
    let (status, body) = api.call(
        Method::PUT,
        "/nodes/pve1/qemu/9000/config/",
        &[("description", "golden")],
    );
    assert_eq!((status, body["data"].clone()), (200, Value::Null));
    assert_eq!(vm(&api, TEMPLATE_VMID).config["description"], "golden");
    let (status, body) = api.call(Method::GET, "/nodes/nowhere/qemu", &[]);
    assert_eq!(status, 500);
    assert!(body["message"]
        .as_str()
        .unwrap()
        .starts_with("hostname lookup 'nowhere' failed"));
}

#[test]
fn nextid_is_the_lowest_free_vmid_and_checks_a_given_one() {
    let api = Api::default();
    assert_eq!(api.data(Method::GET, "/cluster/nextid", &[]), "100");
    api.sim.insert_vm(Vm::new(100, "pve1"));
    assert_eq!(api.data(Method::GET, "/cluster/nextid", &[]), "101");
    assert_eq!(
        api.data(Method::GET, "/cluster/nextid", &[("vmid", "150")]),
        "150"
    );
    let (status, body) = api.call(Method::GET, "/cluster/nextid", &[("vmid", "9000")]);
    assert_eq!(status, 400);
    assert_eq!(body["message"], "Parameter verification failed.\n");
    assert_eq!(body["errors"]["vmid"], "VM 9000 already exists");
}

#[test]
fn a_linked_clone_reserves_its_vmid_and_completes_after_the_configured_polls() {
    let api = Api::start(SimConfig {
        task_polls: 2,
        ..SimConfig::default()
    });
    let upid = api.data(
        Method::POST,
        "/nodes/pve1/qemu/9000/clone",
        &[("newid", "100"), ("name", "web-1"), ("full", "0")],
    );
    let upid = upid.as_str().unwrap().to_string();
    let fields: Vec<&str> = upid.split(':').collect();
    assert_eq!(fields.len(), 9, "{upid}");
    assert_eq!(
        (fields[0], fields[1], fields[5], fields[6], fields[7], fields[8]),
        ("UPID", "pve1", "qmclone", "9000", "root@pam!trellis", "")
    );
    assert!(fields[2..5]
        .iter()
        .all(|field| u64::from_str_radix(field, 16).is_ok()));

    // Reserved at once: a second clone to the same VMID is refused.
    assert_eq!(vm(&api, 100).lock.as_deref(), Some("clone"));
    let (status, body) = api.call(
        Method::POST,
        "/nodes/pve1/qemu/9000/clone",
        &[("newid", "100"), ("full", "0")],
    );
    assert_eq!(status, 500);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("VM 100 already exists"),
        "{body}"
    );

    let path = format!("/nodes/pve1/tasks/{}/status", encode(&upid));
    for _ in 0..2 {
        let running = api.data(Method::GET, &path, &[]);
        assert_eq!(running["status"], "running");
        assert!(running.get("exitstatus").is_none());
    }
    let stopped = api.data(Method::GET, &path, &[]);
    assert_eq!(stopped["status"], "stopped");
    assert_eq!(stopped["exitstatus"], "OK");
    assert_eq!(stopped["upid"], upid.as_str());
    assert_eq!(stopped["type"], "qmclone");
    assert_eq!(stopped["user"], "root@pam");
    assert_eq!(stopped["tokenid"], "trellis");

    let clone = vm(&api, 100);
    assert_eq!(clone.lock, None);
    assert_eq!(clone.name(), Some("web-1"));
    assert_eq!(clone.cloned_from, Some((TEMPLATE_VMID, CloneKind::Linked)));
    assert!(!clone.is_template());
    assert_eq!(
        clone.config["scsi0"],
        "local-lvm:base-9000-disk-0/vm-100-disk-0,iothread=1,size=32G"
    );
    assert_ne!(
        clone.config["net0"],
        vm(&api, TEMPLATE_VMID).config["net0"],
        "a clone gets a new mac"
    );
    assert_eq!(clone.status, PowerStatus::Stopped);
}

#[test]
fn full_clones_honour_storage_and_linked_clones_refuse_it() {
    let api = Api::default();
    let (status, body) = api.call(
        Method::POST,
        "/nodes/pve1/qemu/9000/clone",
        &[("newid", "100"), ("full", "0"), ("storage", "local-lvm")],
    );
    assert_eq!(status, 500);
    assert_eq!(
        body["message"],
        "parameter 'storage' not allowed for linked clones\n"
    );
    assert!(api.sim.vm(100).is_none());
    let (status, body) = api.call(
        Method::POST,
        "/nodes/pve1/qemu/9000/clone",
        &[("newid", "100"), ("full", "1"), ("storage", "nowhere")],
    );
    assert_eq!(
        (status, body["message"].as_str()),
        (500, Some("storage 'nowhere' does not exist\n"))
    );
    let done = api.task(
        Method::POST,
        "/nodes/pve1/qemu/9000/clone",
        &[
            ("newid", "100"),
            ("name", "db"),
            ("full", "1"),
            ("storage", "local-lvm"),
        ],
    );
    assert_eq!(done["exitstatus"], "OK");
    let clone = vm(&api, 100);
    assert_eq!(clone.cloned_from, Some((TEMPLATE_VMID, CloneKind::Full)));
    assert_eq!(
        clone.config["scsi0"],
        "local-lvm:vm-100-disk-0,iothread=1,size=32G"
    );
}

#[test]
fn power_actions_follow_proxmox_rules() {
    let api = Api::default();
    api.clone_template("100", "web");
    let (status, body) = api.call(Method::POST, "/nodes/pve1/qemu/9000/status/start", &[]);
    assert_eq!(
        (status, body["message"].as_str()),
        (500, Some("you can't start a vm if it's a template\n"))
    );

    assert_eq!(
        api.task(Method::POST, "/nodes/pve1/qemu/100/status/start", &[])["exitstatus"],
        "OK"
    );
    assert_eq!(vm(&api, 100).status, PowerStatus::Running);
    let current = api.data(Method::GET, "/nodes/pve1/qemu/100/status/current", &[]);
    assert_eq!(
        (current["status"].as_str(), current["name"].as_str()),
        (Some("running"), Some("web"))
    );
    assert_eq!(current["maxmem"], 2048u64 * 1024 * 1024);

    let again = api.task(Method::POST, "/nodes/pve1/qemu/100/status/start", &[]);
    assert_eq!(again["exitstatus"], "VM 100 already running");
    assert_eq!(
        api.task(Method::POST, "/nodes/pve1/qemu/100/status/reboot", &[])["exitstatus"],
        "OK"
    );

    let (status, body) = api.call(Method::DELETE, "/nodes/pve1/qemu/100", &[]);
    assert_eq!(
        (status, body["message"].as_str()),
        (500, Some("VM 100 is running - destroy failed\n"))
    );

    assert_eq!(
        api.task(Method::POST, "/nodes/pve1/qemu/100/status/shutdown", &[])["exitstatus"],
        "OK"
    );
    assert_eq!(vm(&api, 100).status, PowerStatus::Stopped);
    assert_eq!(
        api.task(Method::POST, "/nodes/pve1/qemu/100/status/reboot", &[])["exitstatus"],
        "VM 100 not running"
    );
    assert_eq!(
        api.task(Method::POST, "/nodes/pve1/qemu/100/status/stop", &[])["exitstatus"],
        "OK"
    );

    let listed = api.data(Method::GET, "/nodes/pve1/qemu", &[]);
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|vm| vm["name"].as_str())
        .collect();
    assert_eq!(names, ["web", "ubuntu-2404-template"]);
    assert_eq!(listed[1]["template"], 1);

    assert_eq!(
        api.task(Method::DELETE, "/nodes/pve1/qemu/100", &[("purge", "1")])["exitstatus"],
        "OK"
    );
    assert!(api.sim.vm(100).is_none());
    let (status, body) = api.call(Method::GET, "/nodes/pve1/qemu/100/status/current", &[]);
    assert_eq!(status, 500);
    assert_eq!(
        body["message"],
        "Configuration file 'nodes/pve1/qemu-server/100.conf' does not exist\n"
    );
}

#[test]
fn starting_with_an_unknown_bridge_fails_in_the_task() {
    let api = Api::default();
    api.clone_template("100", "web");
    api.data(
        Method::PUT,
        "/nodes/pve1/qemu/100/config",
        &[("net0", "virtio=BC:24:11:AA:BB:CC,bridge=vmbr9")],
    );
    let done = api.task(Method::POST, "/nodes/pve1/qemu/100/status/start", &[]);
    assert_eq!(done["exitstatus"], "bridge 'vmbr9' does not exist");
    assert_eq!(vm(&api, 100).status, PowerStatus::Stopped);
}

#[test]
fn config_updates_validate_and_apply_when_the_task_completes() {
    let api = Api::default();
    api.clone_template("100", "web");
    let (status, body) = api.call(
        Method::POST,
        "/nodes/pve1/qemu/100/config",
        &[("name", "bad_name")],
    );
    assert_eq!(status, 400);
    assert!(body["errors"]["name"]
        .as_str()
        .unwrap()
        .contains("DNS name"));
    let (status, body) = api.call(
        Method::POST,
        "/nodes/pve1/qemu/100/config",
        &[("net0", "virtio=zz,bridge=vmbr0")],
    );
    assert_eq!(status, 400);
    assert!(body["errors"]["net0"].as_str().unwrap().contains("MAC"));
    let (status, _) = api.call(
        Method::POST,
        "/nodes/pve1/qemu/100/config",
        &[("bogus", "1")],
    );
    assert_eq!(status, 400);

    let done = api.task(
        Method::POST,
        "/nodes/pve1/qemu/100/config",
        &[
            ("cores", "4"),
            ("memory", "4096"),
            ("net1", "virtio=BC:24:11:00:00:01,bridge=vmbr1,tag=42"),
            ("delete", "onboot"),
        ],
    );
    assert_eq!(done["type"], "qmconfig");
    let configured = vm(&api, 100);
    assert_eq!((configured.cpus(), configured.memory_mib()), (4, 4096));
    assert_eq!(configured.nets()[&1].tag, Some(42));
    assert!(!configured.config.contains_key("onboot"));
    let config = api.data(Method::GET, "/nodes/pve1/qemu/100/config", &[]);
    assert_eq!(config["cores"], 4);
    assert_eq!(config["memory"], "4096");
    assert!(config["digest"].is_string());
}

#[test]
fn creating_from_an_iso_allocates_the_disk() {
    let api = Api::default();
    let (status, body) = api.call(
        Method::POST,
        "/nodes/pve1/qemu",
        &[
            ("vmid", "120"),
            ("ide2", "local:iso/missing.iso,media=cdrom"),
        ],
    );
    assert_eq!(
        (status, body["message"].as_str()),
        (500, Some("volume 'local:iso/missing.iso' does not exist\n"))
    );
    let done = api.task(
        Method::POST,
        "/nodes/pve1/qemu",
        &[
            ("vmid", "120"),
            ("name", "installer"),
            (
                "ide2",
                "local:iso/ubuntu-24.04-live-server-amd64.iso,media=cdrom",
            ),
            ("ostype", "l26"),
            ("scsi0", "local-lvm:16,iothread=on"),
            ("cores", "2"),
            ("memory", "1024"),
            ("net0", "virtio=02:00:00:00:00:01,bridge=vmbr0"),
        ],
    );
    assert_eq!(
        (done["type"].as_str(), done["exitstatus"].as_str()),
        (Some("qmcreate"), Some("OK"))
    );
    let created = vm(&api, 120);
    assert_eq!(
        created.config["scsi0"],
        "local-lvm:vm-120-disk-0,iothread=on,size=16G"
    );
    assert_eq!(created.name(), Some("installer"));
    let (status, body) = api.call(Method::POST, "/nodes/pve1/qemu", &[("vmid", "120")]);
    assert_eq!(status, 500);
    assert!(body["message"]
        .as_str()
        .unwrap()
        .contains("VM 120 already exists"));
}

#[test]
fn snapshots_can_be_taken_listed_rolled_back_and_deleted() {
    let api = Api::default();
    api.clone_template("100", "web");
    let (status, body) = api.call(
        Method::POST,
        "/nodes/pve1/qemu/100/snapshot",
        &[("snapname", "1bad")],
    );
    assert_eq!(status, 400);
    assert_eq!(
        body["errors"]["snapname"],
        "invalid format - invalid configuration ID '1bad'"
    );

    api.task(
        Method::POST,
        "/nodes/pve1/qemu/100/snapshot",
        &[("snapname", "first"), ("description", "before")],
    );
    api.data(
        Method::PUT,
        "/nodes/pve1/qemu/100/config",
        &[("cores", "8")],
    );
    api.task(Method::POST, "/nodes/pve1/qemu/100/status/start", &[]);
    api.task(
        Method::POST,
        "/nodes/pve1/qemu/100/snapshot",
        &[("snapname", "second"), ("vmstate", "1")],
    );
    let (status, body) = api.call(
        Method::POST,
        "/nodes/pve1/qemu/100/snapshot",
        &[("snapname", "second")],
    );
    assert_eq!(
        (status, body["message"].as_str()),
        (500, Some("snapshot name 'second' already used\n"))
    );

    let listed = api.data(Method::GET, "/nodes/pve1/qemu/100/snapshot", &[]);
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 3);
    assert_eq!(listed[0]["name"], "first");
    assert_eq!(listed[1]["parent"], "first");
    assert_eq!(listed[1]["vmstate"], 1);
    assert_eq!(listed[2]["name"], "current");
    assert_eq!(listed[2]["description"], "You are here!");
    assert_eq!(listed[2]["parent"], "second");

    // Without saved RAM, a rollback leaves the VM stopped, with the old configuration.
    assert_eq!(
        api.task(
            Method::POST,
            "/nodes/pve1/qemu/100/snapshot/first/rollback",
            &[]
        )["exitstatus"],
        "OK"
    );
    let rolled_back = vm(&api, 100);
    assert_eq!(
        (rolled_back.status, rolled_back.cpus()),
        (PowerStatus::Stopped, 2)
    );
    assert_eq!(
        api.task(
            Method::POST,
            "/nodes/pve1/qemu/100/snapshot/second/rollback",
            &[]
        )["exitstatus"],
        "OK"
    );
    assert_eq!(vm(&api, 100).status, PowerStatus::Running);

    let missing = api.task(
        Method::POST,
        "/nodes/pve1/qemu/100/snapshot/nope/rollback",
        &[],
    );
    assert_eq!(missing["exitstatus"], "snapshot 'nope' does not exist");
    assert_eq!(
        api.task(Method::DELETE, "/nodes/pve1/qemu/100/snapshot/first", &[])["exitstatus"],
        "OK"
    );
    let remaining = vm(&api, 100);
    assert_eq!(remaining.snapshots.len(), 1);
    assert_eq!(
        remaining.snapshots[0].parent, None,
        "children of a deleted snapshot are re-parented"
    );
    assert_eq!(remaining.lock, None);
}

#[test]
fn vnc_proxy_hands_out_a_ticket_for_running_vms() {
    let api = Api::default();
    api.clone_template("100", "web");
    let (status, body) = api.call(Method::POST, "/nodes/pve1/qemu/100/vncproxy", &[]);
    assert_eq!(
        (status, body["message"].as_str()),
        (500, Some("VM 100 not running\n"))
    );
    api.task(Method::POST, "/nodes/pve1/qemu/100/status/start", &[]);
    let proxy = api.data(Method::POST, "/nodes/pve1/qemu/100/vncproxy", &[]);
    let tickets = api.sim.vnc_tickets();
    assert_eq!(tickets.len(), 1);
    assert_eq!(proxy["ticket"], tickets[0].ticket.as_str());
    assert_eq!(proxy["port"], tickets[0].port.to_string());
    assert!(proxy["upid"].as_str().unwrap().contains(":vncproxy:100:"));
    assert!(proxy["cert"]
        .as_str()
        .unwrap()
        .contains("BEGIN CERTIFICATE"));
    let network = api.data(Method::GET, "/nodes/pve1/network", &[]);
    let bridge = network
        .as_array()
        .unwrap()
        .iter()
        .find(|iface| iface["iface"] == "vmbr0")
        .unwrap();
    assert_eq!(
        (bridge["type"].as_str(), bridge["address"].as_str()),
        (Some("bridge"), Some("127.0.0.1"))
    );
}

#[test]
fn injected_task_failures_change_nothing() {
    let api = Api::default();
    api.sim
        .fail_next_tasks(1, "clone failed: out of space on storage 'local-lvm'");
    let failed = api.clone_template("100", "web");
    assert_eq!(
        failed["exitstatus"],
        "clone failed: out of space on storage 'local-lvm'"
    );
    assert!(
        api.sim.vm(100).is_none(),
        "a failed clone leaves no vm behind"
    );
    assert_eq!(api.clone_template("100", "web")["exitstatus"], "OK");
    let tasks = api.sim.tasks();
    assert_eq!(tasks.len(), 2);
    assert!(!tasks[0].succeeded() && tasks[1].succeeded());
}

#[test]
fn held_tasks_keep_running_until_finished() {
    let api = Api::default();
    api.sim.hold_tasks(true);
    let upid = api.data(
        Method::POST,
        "/nodes/pve1/qemu/9000/clone",
        &[("newid", "100"), ("full", "0")],
    );
    let path = format!(
        "/nodes/pve1/tasks/{}/status",
        encode(upid.as_str().unwrap())
    );
    for _ in 0..5 {
        assert_eq!(api.data(Method::GET, &path, &[])["status"], "running");
    }
    api.sim.finish_tasks();
    assert_eq!(api.data(Method::GET, &path, &[])["exitstatus"], "OK");
    let (status, body) = api.call(Method::GET, "/nodes/pve1/tasks/UPID:nonsense/status", &[]);
    assert_eq!(status, 400);
    assert!(body["errors"]["upid"].is_string());
}

#[test]
fn request_faults_slowness_and_unresponsiveness() {
    let api = Api::start(SimConfig {
        tls: false,
        ..SimConfig::default()
    });
    assert!(api.sim.base_url().starts_with("http://"));
    api.sim
        .fail_next_requests(1, "cluster not ready - no quorum?");
    let (status, body) = api.call(Method::GET, "/cluster/nextid", &[]);
    assert_eq!(
        (status, body["message"].as_str()),
        (500, Some("cluster not ready - no quorum?\n"))
    );
    assert_eq!(api.call(Method::GET, "/cluster/nextid", &[]).0, 200);

    api.sim.faults().set_delay(Duration::from_millis(100));
    let started = std::time::Instant::now();
    api.call(Method::GET, "/version", &[]);
    assert!(started.elapsed() >= Duration::from_millis(100));
    api.sim.faults().set_delay(Duration::ZERO);

    api.sim.faults().set_unresponsive(true);
    let url = format!("{}/api2/json/version", api.sim.base_url());
    let outcome = api.http.get(url).timeout(Duration::from_millis(200)).send();
    assert!(outcome.unwrap_err().is_timeout());
    api.sim.faults().set_unresponsive(false);
    assert_eq!(api.call(Method::GET, "/version", &[]).0, 200);
}

#[test]
fn requests_are_recorded_without_credentials() {
    let api = Api::default();
    api.sim.clear_requests();
    api.call(
        Method::POST,
        "/nodes/pve1/qemu/9000/clone",
        &[("newid", "100"), ("full", "0")],
    );
    api.call(Method::GET, "/nodes/pve1/qemu/100/status/current", &[]);
    let requests = api.sim.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].method, "POST");
    assert_eq!(requests[0].path, "/nodes/pve1/qemu/9000/clone");
    assert_eq!(requests[0].params["newid"], "100");
    assert_eq!(requests[1].status, 200);
    assert!(requests
        .iter()
        .all(|request| !format!("{request:?}").contains("secret")));
}

#[test]
fn json_bodies_are_accepted_too() {
    let api = Api::default();
    let url = format!(
        "{}/api2/json/nodes/pve1/qemu/9000/clone",
        api.sim.base_url()
    );
    let response = api
        .http
        .post(url)
        .header("Authorization", &api.authorization)
        .json(&serde_json::json!({"newid": 100, "name": "from-json", "full": false}))
        .send()
        .unwrap();
    assert_eq!(response.status(), 200);
    api.sim.finish_tasks();
    let clone = vm(&api, 100);
    assert_eq!(
        (clone.name(), clone.cloned_from),
        (Some("from-json"), Some((TEMPLATE_VMID, CloneKind::Linked)))
    );
}

#[test]
fn typed_task_failures_hit_only_that_task_type() {
    let api = Api::default();
    api.sim
        .fail_next_tasks_of_type("qmstart", 1, "start failed: QEMU exited with code 1");
    assert_eq!(api.clone_template("100", "web")["exitstatus"], "OK");
    let failed = api.task(Method::POST, "/nodes/pve1/qemu/100/status/start", &[]);
    assert_eq!(
        failed["exitstatus"],
        "start failed: QEMU exited with code 1"
    );
    assert_eq!(vm(&api, 100).status, PowerStatus::Stopped);
    assert_eq!(
        api.task(Method::POST, "/nodes/pve1/qemu/100/status/start", &[])["exitstatus"],
        "OK"
    );
}

#[test]
fn standalone_options_map_onto_the_configuration() {
    use clap::Parser as _;
    #[derive(clap::Parser)]
    struct Command {
        #[command(flatten)]
        args: trellis_sim_proxmox::SimArgs,
    }
    let defaults = Command::parse_from(["sim"]).args.config();
    assert_eq!(defaults.listen, "127.0.0.1:8006".parse().unwrap());
    assert!(!defaults.tls);
    assert_eq!(
        (defaults.node.as_str(), defaults.user.as_str()),
        ("pve1", "root@pam")
    );
    assert_eq!(
        (
            defaults.token.as_str(),
            defaults.secret.as_str(),
            defaults.task_polls
        ),
        ("trellis", "secret", 1)
    );
    assert_eq!(
        defaults.authorization(),
        "PVEAPIToken=root@pam!trellis=secret"
    );

    let custom = Command::parse_from([
        "sim",
        "--listen",
        "127.0.0.1:0",
        "--tls",
        "--node",
        "pve7",
        "--user",
        "ci@pve",
        "--token",
        "t",
        "--secret",
        "s",
        "--task-polls",
        "0",
    ])
    .args
    .config();
    assert!(custom.tls);
    assert_eq!(custom.authorization(), "PVEAPIToken=ci@pve!t=s");
    let api = Api::start(custom);
    assert_eq!(api.data(Method::GET, "/nodes", &[])[0]["node"], "pve7");
    let done = api.data(
        Method::POST,
        "/nodes/pve7/qemu/9000/clone",
        &[("newid", "100"), ("full", "0")],
    );
    let path = format!(
        "/nodes/pve7/tasks/{}/status",
        encode(done.as_str().unwrap())
    );
    assert_eq!(
        api.data(Method::GET, &path, &[])["status"],
        "stopped",
        "zero polls: done at the first poll"
    );
}

#[test]
fn the_standalone_entry_point_can_be_spawned_and_reports_a_busy_port() {
    fn assert_send<T: Send>(_: &T) {}
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let args = trellis_sim_proxmox::SimArgs {
        listen: taken.local_addr().unwrap(),
        tls: false,
        node: "pve1".into(),
        user: "root@pam".into(),
        token: "trellis".into(),
        secret: "secret".into(),
        task_polls: 1,
    };
    let future = trellis_sim_proxmox::run(args);
    assert_send(&future);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let error = runtime.block_on(future).unwrap_err();
    assert!(
        error.to_string().starts_with("cannot listen on 127.0.0.1:"),
        "{error:#}"
    );
}

const ED25519_KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";

#[test]
fn cloud_init_drive_and_url_encoded_sshkeys_are_checked_and_kept() {
    let api = Api::default();
    api.clone_template("100", "ci");
    let path = "/nodes/pve1/qemu/100/config";
    // A raw key is not urlencoded: Proxmox refuses it before anything else.
    let (status, body) = api.call(Method::POST, path, &[("sshkeys", ED25519_KEY)]);
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body["errors"]["sshkeys"],
        format!("invalid urlencoded string: {ED25519_KEY}")
    );
    // Encoded, but not a key.
    let (status, body) = api.call(Method::POST, path, &[("sshkeys", "hello%20world")]);
    assert_eq!(status, 500);
    assert_eq!(body["message"], "SSH public key validation error\n");
    // A storage without images cannot hold the cloud-init drive.
    let (status, body) = api.call(Method::POST, path, &[("ide2", "local:cloudinit")]);
    assert_eq!(status, 500);
    assert_eq!(
        body["message"],
        "storage 'local' does not support vm images\n"
    );
    let encoded = format!("{}%0A{}", encode(ED25519_KEY), encode(ED25519_KEY));
    api.task(
        Method::POST,
        path,
        &[
            ("ide2", "local-lvm:cloudinit"),
            ("sshkeys", &encoded),
            ("ciuser", "ubuntu"),
        ],
    );
    let config = api.data(Method::GET, path, &[]);
    assert_eq!(config["ide2"], "local-lvm:vm-100-cloudinit,media=cdrom");
    assert_eq!(config["sshkeys"], encoded.as_str(), "stored as sent");
    assert_eq!(config["ciuser"], "ubuntu");
    let configured = vm(&api, 100);
    assert_eq!(
        configured.cloudinit_drive(),
        Some(("ide2", "local-lvm:vm-100-cloudinit,media=cdrom"))
    );
    assert_eq!(
        configured.ssh_keys().unwrap(),
        format!("{ED25519_KEY}\n{ED25519_KEY}")
    );
    // One cloud-init drive per vm.
    let (status, body) = api.call(Method::POST, path, &[("ide0", "local-lvm:cloudinit")]);
    assert_eq!(status, 500);
    assert_eq!(
        body["message"],
        "ide0 - cloud-init drive is already attached at 'ide2'\n"
    );
    // cicustom needs a snippets storage, which the simulated node does not have.
    let (status, body) = api.call(
        Method::POST,
        path,
        &[("cicustom", "user=local:snippets/user.yaml")],
    );
    assert_eq!(status, 500);
    assert_eq!(
        body["message"],
        "storage 'local' does not support snippets\n"
    );
    // A clone gets a cloud-init image of its own.
    api.task(
        Method::POST,
        "/nodes/pve1/qemu/100/clone",
        &[("newid", "101"), ("name", "ci-copy"), ("full", "1")],
    );
    assert_eq!(
        vm(&api, 101).config["ide2"],
        "local-lvm:vm-101-cloudinit,media=cdrom"
    );
}

#[test]
fn a_stopped_vm_becomes_a_template_through_a_qmtemplate_task() {
    let api = Api::default();
    api.clone_template("100", "golden");
    api.task(
        Method::POST,
        "/nodes/pve1/qemu/100/config",
        &[("ide2", "local-lvm:cloudinit")],
    );
    api.task(
        Method::POST,
        "/nodes/pve1/qemu/100/clone",
        &[("newid", "200"), ("name", "captured"), ("full", "1")],
    );
    assert_eq!(vm(&api, 200).cloned_from, Some((100, CloneKind::Full)));
    assert_eq!(
        vm(&api, 200).config["scsi0"],
        "local-lvm:vm-200-disk-0,iothread=1,size=32G"
    );
    api.task(Method::POST, "/nodes/pve1/qemu/200/status/start", &[]);
    let (status, body) = api.call(Method::POST, "/nodes/pve1/qemu/200/template", &[]);
    assert_eq!(status, 500);
    assert_eq!(
        body["message"],
        "you can't convert a VM to template if VM is running\n"
    );
    assert!(!vm(&api, 200).is_template());
    api.task(Method::POST, "/nodes/pve1/qemu/200/status/stop", &[]);
    let task = api.task(Method::POST, "/nodes/pve1/qemu/200/template", &[]);
    assert_eq!(task["type"], "qmtemplate");
    assert_eq!(task["id"], "200");
    assert_eq!(task["exitstatus"], "OK");
    let template = vm(&api, 200);
    assert!(template.is_template());
    assert_eq!(
        template.config["scsi0"],
        "local-lvm:base-200-disk-0,iothread=1,size=32G"
    );
    assert_eq!(
        template.config["ide2"], "local-lvm:vm-200-cloudinit,media=cdrom",
        "cd-roms stay as they are"
    );
    let listed = api.data(Method::GET, "/nodes/pve1/qemu", &[]);
    let entry = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|vm| vm["vmid"] == 200)
        .unwrap();
    assert_eq!(entry["template"], 1);
    let (status, body) = api.call(Method::POST, "/nodes/pve1/qemu/200/template", &[]);
    assert_eq!(status, 500);
    assert_eq!(
        body["message"],
        "you can't convert a template to a template\n"
    );
    let (status, _) = api.call(Method::POST, "/nodes/pve1/qemu/200/status/start", &[]);
    assert_eq!(status, 500, "a template cannot start");
    // A linked clone of the new template works like one of the seeded template.
    api.task(
        Method::POST,
        "/nodes/pve1/qemu/200/clone",
        &[("newid", "201"), ("name", "from-capture"), ("full", "0")],
    );
    assert_eq!(vm(&api, 201).cloned_from, Some((200, CloneKind::Linked)));
    // Snapshots forbid the conversion.
    api.task(
        Method::POST,
        "/nodes/pve1/qemu/201/snapshot",
        &[("snapname", "s1")],
    );
    let (status, body) = api.call(Method::POST, "/nodes/pve1/qemu/201/template", &[]);
    assert_eq!(status, 500);
    assert_eq!(
        body["message"],
        "unable to create template, because VM contains snapshots\n"
    );
}
