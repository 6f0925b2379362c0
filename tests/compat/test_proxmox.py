"""The built-in Proxmox extension end to end: the `cs` client drives a real Trellis server, which runs
`trellis-proxmox` against the Proxmox VE simulator (`trellis sim proxmox`, a separate process). After
every step the simulator's state is read back through the Proxmox REST API it serves."""

import json
import os
import subprocess
import tempfile

import pytest
import requests

from conftest import eventually, external_zone, free_port, job_ok, trellis_bin, wait_job

NODE = "pve1"
USER = "root@pam"
TOKEN = "trellis"
SECRET = "sim-secret-7f3a"
TEMPLATE_VMID = 9000

pytestmark = pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")


class ProxmoxSim:
    """A `trellis sim proxmox` process and a client of the Proxmox API it serves."""

    def __init__(self, tls=False):
        self.port = free_port()
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"
        self.log = tempfile.NamedTemporaryFile(prefix="trellis-sim-proxmox-", suffix=".log", delete=False)
        self.proc = subprocess.Popen(
            [trellis_bin(), "sim", "proxmox", "--listen", f"127.0.0.1:{self.port}", "--node", NODE,
             "--user", USER, "--token", TOKEN, "--secret", SECRET] + (["--tls"] if tls else []),
            stdout=self.log, stderr=subprocess.STDOUT,
        )
        self.http = requests.Session()
        self.http.trust_env = False  # else REQUESTS_CA_BUNDLE would override `verify`
        self.http.verify = False
        self.http.headers["Authorization"] = f"PVEAPIToken={USER}!{TOKEN}={SECRET}"

        def up():
            if self.proc.poll() is not None:
                raise AssertionError("the proxmox simulator exited:\n" + self.output())
            try:
                return self.http.get(f"{self.url}/api2/json/version", timeout=1).status_code == 200
            except requests.ConnectionError:
                return False

        try:
            eventually(up, timeout=30, what="proxmox simulator listening")
        except BaseException:
            self.stop()
            raise

    def output(self):
        with open(self.log.name) as f:
            return f.read()

    def get(self, path):
        r = self.http.get(f"{self.url}/api2/json{path}", timeout=10)
        r.raise_for_status()
        return r.json()["data"]

    def vms(self):
        """The node's VMs other than templates, by VMID."""
        return {vm["vmid"]: vm for vm in self.get(f"/nodes/{NODE}/qemu") if not vm.get("template")}

    def vm_named(self, name):
        found = [vm for vm in self.vms().values() if vm.get("name") == name]
        assert len(found) <= 1, f"more than one vm named {name}: {found}"
        return found[0] if found else None

    def status(self, vmid):
        return self.get(f"/nodes/{NODE}/qemu/{vmid}/status/current")["status"]

    def config(self, vmid):
        return self.get(f"/nodes/{NODE}/qemu/{vmid}/config")

    def snapshots(self, vmid):
        """Snapshot names, without Proxmox's `current` pseudo-entry, and that entry."""
        entries = self.get(f"/nodes/{NODE}/qemu/{vmid}/snapshot")
        current = next(e for e in entries if e["name"] == "current")
        return {e["name"]: e for e in entries if e["name"] != "current"}, current

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        os.unlink(self.log.name)


@pytest.fixture(scope="module")
def sim():
    s = ProxmoxSim()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def tls_sim():
    s = ProxmoxSim(tls=True)
    yield s
    s.stop()


@pytest.fixture(scope="module")
def proxmox(cs, sim):
    """The built-in Proxmox extension, with the simulator's connection details at extension level."""
    found = cs.listExtensions(name="Proxmox")["extension"]
    assert len(found) == 1
    ext = found[0]
    assert ext["type"] == "Orchestrator" and ext["orchestratorrequirespreparevm"] is True
    cs.updateExtension(id=ext["id"], details={"url": sim.url, "user": USER, "token": TOKEN, "secret": SECRET})
    ext = cs.listExtensions(id=ext["id"])["extension"][0]
    assert ext["details"]["url"] == sim.url
    return ext


@pytest.fixture(scope="module")
def template(cs, proxmox):
    return cs.registerTemplate(
        name="pve-ubuntu", displaytext="clone of the simulator's template", format="EXTERNAL", hypervisor="External",
        url="http://example.org/unused", extensionid=proxmox["id"], externaldetails={"template_id": str(TEMPLATE_VMID)},
    )["template"][0]


@pytest.fixture(scope="module")
def zone(cs, proxmox):
    return external_zone(cs, proxmox["id"], {"node": NODE, "network_bridge": "vmbr0"}, prefix="pve")


def vm_of(cs, vm_id):
    found = cs.listVirtualMachines(id=vm_id).get("virtualmachine", [])
    return found[0] if found else None


def deploy(cs, zone, template, name):
    r = cs.deployVirtualMachine(zoneid=zone["zone"], serviceofferingid=zone["offering"], templateid=template["id"],
                                networkids=zone["network"], name=name)
    return r["id"], wait_job(cs, r["jobid"])


def actions_by_name(cs, proxmox):
    actions = cs.listCustomActions(extensionid=proxmox["id"])["extensioncustomaction"]
    return {a["name"]: a for a in actions}


def run_action(cs, action, vm_id, **parameters):
    r = cs.runCustomAction(customactionid=action["id"], resourceid=vm_id, parameters=parameters) if parameters \
        else cs.runCustomAction(customactionid=action["id"], resourceid=vm_id)
    result = job_ok(cs, r)["customactionresult"]
    assert result["success"] is True, result
    return result


def test_lifecycle_and_snapshots(cs, sim, proxmox, template, zone):
    # Deploy: prepare picks a VMID, create clones the template, configures and starts it.
    vm_id, job = deploy(cs, zone, template, "pve-web")
    assert job["jobstatus"] == 1, job.get("jobresult")
    vm = vm_of(cs, vm_id)
    assert vm["state"] == "Running" and vm["hostid"] == zone["host"]
    pve = sim.vm_named(vm["instancename"])
    assert pve is not None, f"no vm {vm['instancename']} on the node: {sim.vms()}"
    vmid = pve["vmid"]
    assert vmid != TEMPLATE_VMID
    assert sim.status(vmid) == "running"
    assert vm["details"]["proxmox_vmid"] == str(vmid)
    config = sim.config(vmid)
    assert int(config["cores"]) == 1 and int(config["memory"]) == 512
    nic = vm["nic"][0]
    net0 = config["net0"].lower()
    assert nic["macaddress"].lower() in net0 and "bridge=vmbr0" in net0 and "tag=100" in net0
    assert vm["id"] in config.get("description", "")

    # Stop, then start again.
    job_ok(cs, cs.stopVirtualMachine(id=vm_id))
    assert vm_of(cs, vm_id)["state"] == "Stopped"
    assert sim.status(vmid) == "stopped"
    job_ok(cs, cs.startVirtualMachine(id=vm_id))
    assert vm_of(cs, vm_id)["state"] == "Running"
    assert sim.status(vmid) == "running"
    assert set(sim.vms()) == {vmid}, "start must not create a second vm"

    # Snapshots through the extension's custom actions.
    actions = actions_by_name(cs, proxmox)
    assert {"ListSnapshots", "CreateSnapshot", "RestoreSnapshot", "DeleteSnapshot"} <= set(actions)
    run_action(cs, actions["CreateSnapshot"], vm_id, snap_name="base", snap_description="before changes")
    snaps, current = sim.snapshots(vmid)
    assert set(snaps) == {"base"} and snaps["base"]["description"] == "before changes"
    assert current["parent"] == "base"

    listed = json.loads(run_action(cs, actions["ListSnapshots"], vm_id)["result"]["details"])
    assert [s["name"] for s in listed["message"]] == ["base"]
    assert listed["message"][0]["description"] == "before changes"

    # Change the VM behind the extension's back; restoring the snapshot must undo it.
    r = sim.http.put(f"{sim.url}/api2/json/nodes/{NODE}/qemu/{vmid}/config", data={"memory": "2048"}, timeout=10)
    r.raise_for_status()
    assert int(sim.config(vmid)["memory"]) == 2048
    run_action(cs, actions["CreateSnapshot"], vm_id, snap_name="bigger")
    assert set(sim.snapshots(vmid)[0]) == {"base", "bigger"}
    run_action(cs, actions["RestoreSnapshot"], vm_id, snap_name="base")
    assert int(sim.config(vmid)["memory"]) == 512
    assert sim.snapshots(vmid)[1]["parent"] == "base"
    assert sim.status(vmid) == "running", "a running vm is running again after the rollback"

    run_action(cs, actions["DeleteSnapshot"], vm_id, snap_name="bigger")
    assert set(sim.snapshots(vmid)[0]) == {"base"}

    # An unknown snapshot is Proxmox's error, reported as a failed action.
    failed = job_ok(cs, cs.runCustomAction(customactionid=actions["DeleteSnapshot"]["id"], resourceid=vm_id,
                                           parameters={"snap_name": "missing"}))["customactionresult"]
    assert failed["success"] is False
    assert failed["result"]["message"] == f"Failed to complete DeleteSnapshot for {vm['instancename']} with Proxmox"
    assert "snapshot 'missing' does not exist" in failed["result"]["details"]
    assert set(sim.snapshots(vmid)[0]) == {"base"}

    # Destroy with expunge removes the VM (and its snapshots) from the node.
    job_ok(cs, cs.destroyVirtualMachine(id=vm_id, expunge=True))
    assert vm_of(cs, vm_id) is None
    assert sim.vm_named(vm["instancename"]) is None and vmid not in sim.vms()


def test_tls_without_verification(cs, tls_sim, proxmox, template):
    # The host's url wins over the extension's: this zone's host points at the TLS simulator.
    zone = external_zone(cs, proxmox["id"], {"url": tls_sim.url, "verify_tls_certificate": "false",
                                             "node": NODE, "network_bridge": "vmbr1"}, prefix="pve-tls")
    vm_id, job = deploy(cs, zone, template, "pve-tls")
    assert job["jobstatus"] == 1, job.get("jobresult")
    vm = vm_of(cs, vm_id)
    pve = tls_sim.vm_named(vm["instancename"])
    assert pve is not None and tls_sim.status(pve["vmid"]) == "running"
    assert "bridge=vmbr1" in tls_sim.config(pve["vmid"])["net0"]

    job_ok(cs, cs.stopVirtualMachine(id=vm_id))
    assert tls_sim.status(pve["vmid"]) == "stopped"
    job_ok(cs, cs.destroyVirtualMachine(id=vm_id, expunge=True))
    assert tls_sim.vm_named(vm["instancename"]) is None
    assert vm_of(cs, vm_id) is None


def test_tls_verification_refuses_self_signed(cs, tls_sim, proxmox, template):
    zone = external_zone(cs, proxmox["id"], {"url": tls_sim.url, "node": NODE, "network_bridge": "vmbr0"},
                         prefix="pve-verify")
    before = set(tls_sim.vms())
    vm_id, job = deploy(cs, zone, template, "pve-verify")
    assert job["jobstatus"] == 2, job
    text = job["jobresult"]["errortext"]
    assert "certificate" in text.lower(), text
    assert set(tls_sim.vms()) == before
    assert vm_of(cs, vm_id)["state"] != "Running"


def test_bad_token_fails_deploy_with_proxmox_reason(cs, sim, proxmox, template):
    zone = external_zone(cs, proxmox["id"], {"secret": "not-the-secret", "node": NODE, "network_bridge": "vmbr0"},
                         prefix="pve-badtoken")
    before = set(sim.vms())
    vm_id, job = deploy(cs, zone, template, "pve-badtoken")
    assert job["jobstatus"] == 2, job
    text = job["jobresult"]["errortext"]
    assert "authentication failure" in text, text
    assert "not-the-secret" not in text
    assert set(sim.vms()) == before
    vm = vm_of(cs, vm_id)
    assert vm["state"] != "Running"
    # The instance can still be thrown away.
    job_ok(cs, cs.destroyVirtualMachine(id=vm_id, expunge=True))
    assert vm_of(cs, vm_id) is None


def test_failed_create_leaves_nothing_and_a_retry_deploys(cs, sim, proxmox, template):
    # The start task fails on Proxmox (no such bridge): the half-created VM must not stay behind.
    zone = external_zone(cs, proxmox["id"], {"node": NODE, "network_bridge": "vmbr9"}, prefix="pve-bridge")
    before = set(sim.vms())
    vm_id, job = deploy(cs, zone, template, "pve-bridge")
    assert job["jobstatus"] == 2, job
    text = job["jobresult"]["errortext"]
    assert "bridge 'vmbr9' does not exist" in text, text
    assert set(sim.vms()) == before
    vm = vm_of(cs, vm_id)
    # As upstream, a failed deployment leaves the instance in Error; the way back is destroy,
    # recover (Stopped), start.
    assert vm["state"] == "Error"
    job_ok(cs, cs.destroyVirtualMachine(id=vm_id))
    assert vm_of(cs, vm_id)["state"] == "Destroyed"
    assert cs.recoverVirtualMachine(id=vm_id)["virtualmachine"]["state"] == "Stopped"

    # With the host fixed, starting the instance deploys it (prepare and create run again).
    cs.updateHost(id=zone["host"], externaldetails={"node": NODE, "network_bridge": "vmbr1"})
    job_ok(cs, cs.startVirtualMachine(id=vm_id))
    pve = sim.vm_named(vm["instancename"])
    assert pve is not None and sim.status(pve["vmid"]) == "running"
    assert "bridge=vmbr1" in sim.config(pve["vmid"])["net0"]
    assert vm_of(cs, vm_id)["details"]["proxmox_vmid"] == str(pve["vmid"])
    job_ok(cs, cs.destroyVirtualMachine(id=vm_id, expunge=True))
    assert set(sim.vms()) == before


def wait_task(sim, upid):
    """Poll a Proxmox task until it stops (the simulator applies the change then); must end OK."""
    path = f"/nodes/{NODE}/tasks/{requests.utils.quote(upid, safe='')}/status"
    task = eventually(lambda: (lambda t: t if t["status"] == "stopped" else None)(sim.get(path)),
                      what=f"task {upid} stopped")
    assert task["exitstatus"] == "OK", task


def test_power_changes_behind_the_server_are_picked_up(cs, sim, proxmox, template, zone):
    vm_id, job = deploy(cs, zone, template, "pve-oob")
    assert job["jobstatus"] == 1, job.get("jobresult")
    vm = vm_of(cs, vm_id)
    vmid = sim.vm_named(vm["instancename"])["vmid"]
    cs.updateConfiguration(name="extension.power.sync.interval", value="1")
    try:
        # Someone stops the VM in Proxmox itself; the server's power sweep (`statuses`) notices.
        r = sim.http.post(f"{sim.url}/api2/json/nodes/{NODE}/qemu/{vmid}/status/stop", timeout=10)
        r.raise_for_status()
        wait_task(sim, r.json()["data"])
        assert sim.status(vmid) == "stopped"
        vm = eventually(lambda: (lambda v: v if v["state"] == "Stopped" else None)(vm_of(cs, vm_id)),
                        what="instance seen Stopped")
        assert vm["powerstate"] == "PowerOff"

        # ... and started again there.
        r = sim.http.post(f"{sim.url}/api2/json/nodes/{NODE}/qemu/{vmid}/status/start", timeout=10)
        r.raise_for_status()
        wait_task(sim, r.json()["data"])
        vm = eventually(lambda: (lambda v: v if v["state"] == "Running" else None)(vm_of(cs, vm_id)),
                        what="instance seen Running")
        assert vm["powerstate"] == "PowerOn" and vm["hostid"] == zone["host"]
    finally:
        cs.updateConfiguration(name="extension.power.sync.interval", value="60")
    job_ok(cs, cs.destroyVirtualMachine(id=vm_id, expunge=True))
    assert vmid not in sim.vms()


def test_concurrent_deploys_and_a_wrong_vmid_hint(cs, sim, proxmox, template, zone):
    # prepare only proposes the next free VMID, so concurrent deploys may get the same proposal;
    # create must still give every instance its own VM.
    started = [cs.deployVirtualMachine(zoneid=zone["zone"], serviceofferingid=zone["offering"], templateid=template["id"],
                                       networkids=zone["network"], name=f"pve-par-{i}") for i in range(3)]
    for r in started:
        job_ok(cs, r)
    vms = [vm_of(cs, r["id"]) for r in started]
    pves = [sim.vm_named(vm["instancename"]) for vm in vms]
    assert all(p is not None for p in pves)
    vmids = [p["vmid"] for p in pves]
    assert len(set(vmids)) == 3 and all(sim.status(v) == "running" for v in vmids)

    # The VMID recorded for an instance is only a hint: pointed at another instance's VM, actions
    # still reach the instance's own VM (found by its name) and leave the other one alone.
    a, b = vms[0], vms[1]
    cs.updateVirtualMachine(id=a["id"], details={"proxmox_vmid": str(vmids[1])})
    assert vm_of(cs, a["id"])["details"]["proxmox_vmid"] == str(vmids[1])
    create = actions_by_name(cs, proxmox)["CreateSnapshot"]
    run_action(cs, create, a["id"], snap_name="mine")
    assert set(sim.snapshots(vmids[0])[0]) == {"mine"} and sim.snapshots(vmids[1])[0] == {}
    job_ok(cs, cs.stopVirtualMachine(id=a["id"]))
    assert sim.status(vmids[0]) == "stopped" and sim.status(vmids[1]) == "running"

    job_ok(cs, cs.destroyVirtualMachine(id=a["id"], expunge=True))
    left = set(sim.vms())
    assert vmids[0] not in left and set(vmids[1:]) <= left, "expunging the instance removes its own vm only"
    for r in started[1:]:
        job_ok(cs, cs.destroyVirtualMachine(id=r["id"], expunge=True))
    assert not set(vmids) & set(sim.vms())
    assert vm_of(cs, b["id"]) is None
