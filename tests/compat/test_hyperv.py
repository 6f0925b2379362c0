"""The built-in Hyper-V extension end to end: the `cs` client drives a real Trellis server, which runs
`trellis-hyperv` against the Hyper-V simulator (`trellis sim hyperv`, a separate process speaking
WinRM). After every step the simulator's Hyper-V model is read back the way an operator would read a
real host: PowerShell (`Get-VM`, `Get-VMSnapshot`, ...) over WinRM, with Python's `pywinrm`."""

import json
import os
import subprocess
import tempfile

import pytest
import requests

from conftest import eventually, external_zone, free_port, job_ok, trellis_bin, wait_job

try:
    import winrm
except ImportError:
    pytest.fail("test_hyperv.py reads the simulator through WinRM and needs pywinrm (pip install pywinrm)",
                pytrace=False)

USER = "Administrator"
PASSWORD = "Compat-HyperV-Secret-9"
SWITCH = "External"
VHD_PATH = "C:\\Hyper-V\\Virtual Hard Disks"
VM_PATH = "C:\\Hyper-V\\Virtual Machines"
TEMPLATE_PATH = "C:\\Templates\\ubuntu-24.04.vhdx"

pytestmark = pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")


def ps_quote(text):
    """A PowerShell single-quoted literal."""
    return "'" + text.replace("'", "''") + "'"


class HyperVSim:
    """A `trellis sim hyperv` process, and a WinRM session to run PowerShell on it."""

    def __init__(self):
        self.port = free_port()
        self.url = f"https://127.0.0.1:{self.port}/wsman"
        self.log = tempfile.NamedTemporaryFile(prefix="trellis-sim-hyperv-", suffix=".log", delete=False)
        self.proc = subprocess.Popen(
            [trellis_bin(), "sim", "hyperv", "--listen", f"127.0.0.1:{self.port}", "--user", USER,
             "--password", PASSWORD],
            stdout=self.log, stderr=subprocess.STDOUT,
        )
        probe = requests.Session()
        probe.trust_env = False
        probe.verify = False

        def up():
            if self.proc.poll() is not None:
                raise AssertionError("the hyper-v simulator exited:\n" + self.output())
            try:
                # Unauthenticated WS-Management requests are answered with an NTLM challenge.
                return probe.post(self.url, data=b"", timeout=1).status_code == 401
            except requests.ConnectionError:
                return False

        try:
            eventually(up, timeout=30, what="hyper-v simulator listening")
        except BaseException:
            self.stop()
            raise
        self.session = winrm.Session(self.url, auth=(USER, PASSWORD), transport="ntlm",
                                     server_cert_validation="ignore")

    def output(self):
        with open(self.log.name) as f:
            return f.read()

    def ps(self, script):
        """Run a PowerShell script; its stdout, or an assertion error with PowerShell's message."""
        r = self.session.run_ps(script)
        assert r.status_code == 0, f"{script!r} failed ({r.status_code}): {r.std_err.decode(errors='replace')}"
        return r.std_out.decode().strip()

    def json(self, script):
        """Objects a pipeline writes, as a list (ConvertTo-Json writes one object bare, none as nothing)."""
        out = self.ps(f"{script} | ConvertTo-Json -Compress")
        if not out:
            return []
        value = json.loads(out)
        return value if isinstance(value, list) else [value]

    def vms(self):
        return {vm["Name"]: vm for vm in self.json("Get-VM | Select-Object Name, State, Generation, "
                                                   "MemoryStartup, ProcessorCount")}

    def vm(self, name):
        return self.vms().get(name)

    def state(self, name):
        return self.ps(f"(Get-VM -Name {ps_quote(name)}).State")

    def adapters(self, name):
        return self.json(f"Get-VMNetworkAdapter -VMName {ps_quote(name)} | Select-Object Name, SwitchName, MacAddress")

    def vlans(self, name):
        return self.json(f"Get-VMNetworkAdapterVlan -VMName {ps_quote(name)} | "
                         "Select-Object AdapterName, OperationMode, AccessVlanId")

    def disks(self, name):
        return [d["Path"] for d in self.json(f"Get-VMHardDiskDrive -VMName {ps_quote(name)} | Select-Object Path")]

    def snapshots(self, name):
        return [s["Name"] for s in self.json(f"Get-VMSnapshot -VMName {ps_quote(name)} | Select-Object Name")]

    def exists(self, path):
        return self.ps(f"Test-Path -LiteralPath {ps_quote(path)}") == "True"

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
    s = HyperVSim()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def hyperv(cs, sim):
    """The built-in HyperV extension, with the simulator's WinRM endpoint and account at extension level."""
    found = cs.listExtensions(name="HyperV")["extension"]
    assert len(found) == 1
    ext = found[0]
    assert ext["type"] == "Orchestrator" and not ext.get("orchestratorrequirespreparevm")
    cs.updateExtension(id=ext["id"], details={"url": sim.url, "username": USER, "password": PASSWORD,
                                              "verify_tls_certificate": "false"})
    ext = cs.listExtensions(id=ext["id"])["extension"][0]
    assert ext["details"]["url"] == sim.url
    return ext


@pytest.fixture(scope="module")
def template(cs, hyperv):
    return cs.registerTemplate(
        name="hyperv-ubuntu", displaytext="copy of the simulator's ubuntu disk", format="EXTERNAL",
        hypervisor="External", url="http://example.org/unused", extensionid=hyperv["id"],
        externaldetails={"template_path": TEMPLATE_PATH, "generation": "2"},
    )["template"][0]


HOST_DETAILS = {"network_switch": SWITCH, "vhd_path": VHD_PATH, "vm_path": VM_PATH,
                "image_roots": "C:\\Templates;C:\\ISO"}


@pytest.fixture(scope="module")
def zone(cs, hyperv):
    return external_zone(cs, hyperv["id"], HOST_DETAILS, prefix="hv")


def vm_of(cs, vm_id):
    found = cs.listVirtualMachines(id=vm_id).get("virtualmachine", [])
    return found[0] if found else None


def deploy(cs, zone, template, name):
    r = cs.deployVirtualMachine(zoneid=zone["zone"], serviceofferingid=zone["offering"], templateid=template["id"],
                                networkids=zone["network"], name=name)
    return r["id"], wait_job(cs, r["jobid"])


def actions_by_name(cs, hyperv):
    actions = cs.listCustomActions(extensionid=hyperv["id"])["extensioncustomaction"]
    return {a["name"]: a for a in actions}


def run_action(cs, action, vm_id, **parameters):
    r = cs.runCustomAction(customactionid=action["id"], resourceid=vm_id, parameters=parameters) if parameters \
        else cs.runCustomAction(customactionid=action["id"], resourceid=vm_id)
    result = job_ok(cs, r)["customactionresult"]
    assert result["success"] is True, result
    return result


def extension_error(details):
    """The `error` of the extension's answer in a failed action's details (`Exit code: N, Output: {...}`)."""
    prefix, sep, output = details.partition("Output: ")
    assert sep and prefix.startswith("Exit code: 1"), details
    answer = json.loads(output)
    assert answer["status"] == "error", answer
    return answer["error"]


def test_lifecycle_suspend_and_checkpoints(cs, sim, hyperv, template, zone):
    # Deploy: the template disk is copied, a generation 2 VM created with the offering's size and
    # the instance's NIC on the configured switch, and started.
    vm_id, job = deploy(cs, zone, template, "hv-web")
    assert job["jobstatus"] == 1, job.get("jobresult")
    vm = vm_of(cs, vm_id)
    assert vm["state"] == "Running" and vm["hostid"] == zone["host"]
    name = f"{vm['instancename']}-{vm['id']}"
    hv = sim.vm(name)
    assert hv is not None, f"no vm {name} on the host: {list(sim.vms())}"
    assert hv["State"] == "Running"
    assert hv["Generation"] == 2 and hv["ProcessorCount"] == 1
    assert hv["MemoryStartup"] == 512 * 1024 * 1024
    disk = f"{VHD_PATH}\\{name}.vhdx"
    assert sim.disks(name) == [disk] and sim.exists(disk)
    vm_dir = f"{VM_PATH}\\{name}"
    assert sim.exists(vm_dir)
    nic = vm["nic"][0]
    [adapter] = sim.adapters(name)
    assert adapter["Name"] == "NIC1" and adapter["SwitchName"] == SWITCH
    assert adapter["MacAddress"] == nic["macaddress"].replace(":", "").upper()
    [vlan] = sim.vlans(name)
    assert vlan["OperationMode"] == "Access" and vlan["AccessVlanId"] == 100

    # Stop, then start again.
    job_ok(cs, cs.stopVirtualMachine(id=vm_id))
    assert vm_of(cs, vm_id)["state"] == "Stopped"
    assert sim.state(name) == "Off"
    job_ok(cs, cs.startVirtualMachine(id=vm_id))
    assert vm_of(cs, vm_id)["state"] == "Running"
    assert sim.state(name) == "Running"
    assert list(sim.vms()) == [name], "start must not create a second vm"

    actions = actions_by_name(cs, hyperv)
    assert {"ListSnapshots", "CreateSnapshot", "RestoreSnapshot", "DeleteSnapshot", "Suspend", "Resume"} <= set(actions)

    # Suspend and resume: custom actions, the instance stays Running for the server.
    suspended = run_action(cs, actions["Suspend"], vm_id)
    assert suspended["result"]["message"] == f"Successfully completed Suspend for {vm['instancename']} with HyperV"
    assert json.loads(suspended["result"]["details"])["message"] == "Instance suspended"
    assert sim.state(name) == "Paused"
    assert vm_of(cs, vm_id)["state"] == "Running"
    resumed = run_action(cs, actions["Resume"], vm_id)
    assert json.loads(resumed["result"]["details"])["message"] == "Instance resumed"
    assert sim.state(name) == "Running"

    # Checkpoints. None yet: ListSnapshots still answers a list.
    listed = json.loads(run_action(cs, actions["ListSnapshots"], vm_id)["result"]["details"])
    assert listed["printmessage"] == "true" and listed["message"] == []
    created = run_action(cs, actions["CreateSnapshot"], vm_id, snapshot_name="base")
    assert json.loads(created["result"]["details"])["message"] == "Snapshot 'base' created"
    assert sim.snapshots(name) == ["base"]
    listed = json.loads(run_action(cs, actions["ListSnapshots"], vm_id)["result"]["details"])
    assert [s["Name"] for s in listed["message"]] == ["base"]
    assert listed["message"][0]["CreationTime"]

    # A taken name is refused, and nothing changes on the host.
    failed = job_ok(cs, cs.runCustomAction(customactionid=actions["CreateSnapshot"]["id"], resourceid=vm_id,
                                           parameters={"snapshot_name": "base"}))["customactionresult"]
    assert failed["success"] is False
    assert failed["result"]["message"] == f"Failed to complete CreateSnapshot for {vm['instancename']} with HyperV"
    assert "a snapshot named 'base' already exists" in extension_error(failed["result"]["details"])
    assert sim.snapshots(name) == ["base"]

    # Change the VM behind the extension's back (two processors, set while it is off), checkpoint
    # that, then restore the first checkpoint: the VM is back to one processor.
    job_ok(cs, cs.stopVirtualMachine(id=vm_id))
    sim.ps(f"Set-VMProcessor -VMName {ps_quote(name)} -Count 2")
    job_ok(cs, cs.startVirtualMachine(id=vm_id))
    assert sim.vm(name)["ProcessorCount"] == 2 and sim.state(name) == "Running"
    run_action(cs, actions["CreateSnapshot"], vm_id, snapshot_name="two cpus")
    assert sim.snapshots(name) == ["base", "two cpus"]
    restored = run_action(cs, actions["RestoreSnapshot"], vm_id, snapshot_name="base")
    assert json.loads(restored["result"]["details"])["message"] == "Snapshot 'base' restored"
    hv = sim.vm(name)
    assert hv["ProcessorCount"] == 1
    # The simulator's checkpoints are production checkpoints: the restored VM is off. Stopping an
    # instance that is already off succeeds; starting it runs the restored VM.
    assert hv["State"] == "Off"
    job_ok(cs, cs.stopVirtualMachine(id=vm_id))
    assert vm_of(cs, vm_id)["state"] == "Stopped"
    job_ok(cs, cs.startVirtualMachine(id=vm_id))
    assert sim.state(name) == "Running" and sim.vm(name)["ProcessorCount"] == 1

    deleted = run_action(cs, actions["DeleteSnapshot"], vm_id, snapshot_name="two cpus")
    assert json.loads(deleted["result"]["details"])["message"] == "Snapshot 'two cpus' deleted"
    assert sim.snapshots(name) == ["base"]

    # An unknown checkpoint is Hyper-V's error, reported as a failed action.
    failed = job_ok(cs, cs.runCustomAction(customactionid=actions["DeleteSnapshot"]["id"], resourceid=vm_id,
                                           parameters={"snapshot_name": "missing"}))["customactionresult"]
    assert failed["success"] is False
    assert extension_error(failed["result"]["details"]) == \
        'Remove-VMSnapshot : Hyper-V was unable to find a checkpoint named "missing".'
    assert sim.snapshots(name) == ["base"]

    # Destroy with expunge removes the VM, its checkpoints and its disk from the host.
    job_ok(cs, cs.destroyVirtualMachine(id=vm_id, expunge=True))
    assert vm_of(cs, vm_id) is None
    assert sim.vm(name) is None
    assert not sim.exists(disk)
    assert not sim.exists(vm_dir)


def test_wrong_password_fails_deploy_readably(cs, sim, hyperv, template):
    # The host's password wins over the extension's.
    zone = external_zone(cs, hyperv["id"], dict(HOST_DETAILS, password="Not-The-Password-1"), prefix="hv-badpw")
    before = set(sim.vms())
    vm_id, job = deploy(cs, zone, template, "hv-badpw")
    assert job["jobstatus"] == 2, job
    text = job["jobresult"]["errortext"]
    vm = vm_of(cs, vm_id)
    assert text == (f"Failed to create instance {vm['instancename']}: Exit code: 4, Output: "
                    '{"status":"error","error":"authentication failed: the server rejected the user name or password"}'), text
    assert "Not-The-Password-1" not in text and PASSWORD not in text
    assert set(sim.vms()) == before
    assert vm["state"] != "Running"
    # The instance can still be thrown away.
    job_ok(cs, cs.destroyVirtualMachine(id=vm_id, expunge=True))
    assert vm_of(cs, vm_id) is None
