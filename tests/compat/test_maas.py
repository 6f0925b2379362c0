"""The built-in MaaS extension end to end: the `cs` client drives a real Trellis server, which runs
`trellis-maas` against the MAAS simulator (`trellis sim maas`, a separate process). After every step
the machines are read back through the MAAS 2.0 API the simulator serves."""

import os
import secrets
import subprocess
import tempfile
import time

import pytest
import requests

from conftest import eventually, external_zone, free_port, job_ok, trellis_bin, wait_job

CONSUMER, TOKEN, TOKEN_SECRET = "CompatConsumer", "CompatToken0000", "CompatSecret0000000000000000000"
API_KEY = f"{CONSUMER}:{TOKEN}:{TOKEN_SECRET}"
MACHINES = 5


class MaasSim:
    """A `trellis sim maas` process and a client of the MAAS API it serves."""

    def __init__(self):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/MAAS"
        self.log = tempfile.NamedTemporaryFile(prefix="trellis-sim-maas-", suffix=".log", delete=False)
        self.proc = subprocess.Popen(
            [trellis_bin(), "sim", "maas", "--listen", f"127.0.0.1:{self.port}", "--machines", str(MACHINES),
             "--apikey", API_KEY],
            stdout=self.log, stderr=subprocess.STDOUT,
        )
        self.http = requests.Session()
        self.http.trust_env = False

        def up():
            if self.proc.poll() is not None:
                raise AssertionError("the maas simulator exited:\n" + self.output())
            try:
                return self.http.get(f"{self.url}/api/2.0/version/", headers=self.auth(), timeout=1).status_code == 200
            except requests.ConnectionError:
                return False

        try:
            eventually(up, timeout=30, what="maas simulator listening")
        except BaseException:
            self.stop()
            raise

    @staticmethod
    def auth(secret=TOKEN_SECRET):
        """The OAuth 1.0 PLAINTEXT header the MAAS CLI sends (empty consumer secret)."""
        return {"Authorization": (
            f'OAuth oauth_version="1.0", oauth_signature_method="PLAINTEXT", oauth_consumer_key="{CONSUMER}", '
            f'oauth_token="{TOKEN}", oauth_signature="&{secret}", oauth_nonce="{secrets.token_hex(8)}", '
            f'oauth_timestamp="{int(time.time())}"')}

    def output(self):
        with open(self.log.name) as f:
            return f.read()

    def get(self, path):
        r = self.http.get(f"{self.url}/api/2.0/{path}", headers=self.auth(), timeout=10)
        r.raise_for_status()
        return r.json()

    def machines(self):
        return {m["system_id"]: m for m in self.get("machines/")}

    def machine(self, system_id):
        return self.get(f"machines/{system_id}/")

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
    s = MaasSim()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def maas(cs, sim):
    """The built-in MaaS extension, pointed at the simulator."""
    found = cs.listExtensions(name="MaaS")["extension"]
    assert len(found) == 1
    ext = found[0]
    assert ext["type"] == "Orchestrator" and ext["orchestratorrequirespreparevm"] is True
    cs.updateExtension(id=ext["id"], details={"endpoint": sim.url, "apikey": API_KEY, "poll_interval": "0.1"})
    ext = cs.listExtensions(id=ext["id"])["extension"][0]
    assert ext["details"]["endpoint"] == sim.url
    return ext


@pytest.fixture(scope="module")
def template(cs, maas):
    return cs.registerTemplate(
        name="maas-jammy", displaytext="Ubuntu 22.04 on bare metal", format="EXTERNAL", hypervisor="External",
        url="http://example.org/unused", extensionid=maas["id"], externaldetails={"distro_series": "jammy"},
    )["template"][0]


@pytest.fixture(scope="module")
def zone(cs, maas):
    return external_zone(cs, maas["id"], prefix="maas")


def vm_of(cs, vm_id):
    found = cs.listVirtualMachines(id=vm_id).get("virtualmachine", [])
    return found[0] if found else None


def deploy(cs, zone, template, name, **extra):
    r = cs.deployVirtualMachine(zoneid=zone["zone"], serviceofferingid=zone["offering"], templateid=template["id"],
                                networkids=zone["network"], name=name, **extra)
    return r["id"], r["jobid"]


def machine_of(cs, sim, vm_id):
    """The machine the instance was given, checked against what the server recorded."""
    vm = vm_of(cs, vm_id)
    system_id = vm["details"]["External:maas_system_id"]
    machine = sim.machine(system_id)
    assert machine["owner_data"].get("trellis_instance_uuid") == vm_id, machine["owner_data"]
    assert vm["nic"][0]["macaddress"] == machine["interface_set"][0]["mac_address"]
    return vm, machine


def released(sim, system_id):
    m = sim.machine(system_id)
    return m if m["status_name"] == "Ready" else None


def test_lifecycle(cs, sim, maas, template, zone):
    ready_before = {s for s, m in sim.machines().items() if m["status_name"] == "Ready"}
    vm_id, jobid = deploy(cs, zone, template, "maas-web")
    job = wait_job(cs, jobid)
    assert job["jobstatus"] == 1, job.get("jobresult")

    # prepare allocated a Ready machine; create deployed it and waited for Deployed.
    vm, machine = machine_of(cs, sim, vm_id)
    assert vm["state"] == "Running" and vm["hostid"] == zone["host"]
    system_id = machine["system_id"]
    assert system_id in ready_before
    assert machine["status_name"] == "Deployed" and machine["power_state"] == "on"
    assert machine["distro_series"] == "jammy"
    assert machine["owner_data"]["trellis_instance_name"] == vm["instancename"]
    assert vm["details"]["External:hostname"] == machine["hostname"]
    others = {s: m for s, m in sim.machines().items() if s != system_id}
    assert all(m["status_name"] == "Ready" for s, m in others.items() if s in ready_before)

    job_ok(cs, cs.stopVirtualMachine(id=vm_id))
    assert vm_of(cs, vm_id)["state"] == "Stopped"
    machine = sim.machine(system_id)
    assert machine["power_state"] == "off" and machine["status_name"] == "Deployed"

    job_ok(cs, cs.startVirtualMachine(id=vm_id))
    assert vm_of(cs, vm_id)["state"] == "Running"
    machine = sim.machine(system_id)
    assert machine["power_state"] == "on" and machine["status_name"] == "Deployed"
    assert vm_of(cs, vm_id)["details"]["External:maas_system_id"] == system_id, "start keeps the machine"

    job_ok(cs, cs.rebootVirtualMachine(id=vm_id))
    assert vm_of(cs, vm_id)["state"] == "Running"
    machine = sim.machine(system_id)
    assert machine["power_state"] == "on" and machine["status_name"] == "Deployed"

    # Expunge releases the machine back to the pool, with its owner data cleared.
    job_ok(cs, cs.destroyVirtualMachine(id=vm_id, expunge=True))
    assert vm_of(cs, vm_id) is None
    machine = eventually(lambda: released(sim, system_id), what=f"machine {system_id} Ready again")
    assert machine["owner"] is None and machine["owner_data"] == {}


def test_concurrent_deploys_get_different_machines(cs, sim, maas, template, zone):
    eventually(lambda: all(m["status_name"] == "Ready" for m in sim.machines().values()), what="all machines Ready")
    started = [deploy(cs, zone, template, f"maas-par-{i}") for i in range(2)]
    for vm_id, jobid in started:
        job = wait_job(cs, jobid)
        assert job["jobstatus"] == 1, job.get("jobresult")
    machines = [machine_of(cs, sim, vm_id)[1] for vm_id, _ in started]
    assert machines[0]["system_id"] != machines[1]["system_id"]
    for m in machines:
        assert m["status_name"] == "Deployed" and m["power_state"] == "on"
    macs = {vm_of(cs, vm_id)["nic"][0]["macaddress"] for vm_id, _ in started}
    assert len(macs) == 2

    for vm_id, _ in started:
        job_ok(cs, cs.destroyVirtualMachine(id=vm_id, expunge=True))
    for m in machines:
        eventually(lambda: released(sim, m["system_id"]), what=f"machine {m['system_id']} Ready again")


def test_no_machine_left_fails_deploy_with_maas_reason(cs, sim, maas, template, zone):
    eventually(lambda: all(m["status_name"] == "Ready" for m in sim.machines().values()), what="all machines Ready")
    started = [deploy(cs, zone, template, f"maas-fill-{i}") for i in range(MACHINES)]
    for vm_id, jobid in started:
        assert wait_job(cs, jobid)["jobstatus"] == 1
    assert all(m["status_name"] == "Deployed" for m in sim.machines().values())

    vm_id, jobid = deploy(cs, zone, template, "maas-one-too-many")
    job = wait_job(cs, jobid)
    assert job["jobstatus"] == 2, job
    assert "No machine available" in job["jobresult"]["errortext"], job["jobresult"]
    assert vm_of(cs, vm_id)["state"] != "Running"

    for vid, _ in started + [(vm_id, None)]:
        job_ok(cs, cs.destroyVirtualMachine(id=vid, expunge=True))
    eventually(lambda: all(m["status_name"] == "Ready" for m in sim.machines().values()), what="all machines Ready")


def test_bad_api_key_is_reported(cs, sim, maas, template):
    # The host's apikey wins over the extension's.
    zone = external_zone(cs, maas["id"], {"apikey": f"{CONSUMER}:{TOKEN}:wrong-secret"}, prefix="maas-badkey")
    before = sim.machines()
    vm_id, jobid = deploy(cs, zone, template, "maas-badkey")
    job = wait_job(cs, jobid)
    assert job["jobstatus"] == 2, job
    text = job["jobresult"]["errortext"]
    assert "401" in text and "Invalid signature" in text and "wrong-secret" not in text, text
    assert {s: m["status_name"] for s, m in sim.machines().items()} == {s: m["status_name"] for s, m in before.items()}
    job_ok(cs, cs.destroyVirtualMachine(id=vm_id, expunge=True))


def test_power_changes_behind_the_server_are_picked_up(cs, sim, maas, template, zone):
    vm_id, jobid = deploy(cs, zone, template, "maas-oob")
    assert wait_job(cs, jobid)["jobstatus"] == 1
    _, machine = machine_of(cs, sim, vm_id)
    system_id = machine["system_id"]
    cs.updateConfiguration(name="extension.power.sync.interval", value="1")
    try:
        # Someone powers the machine off in MAAS; the server's power sweep (`statuses`) notices.
        r = sim.http.post(f"{sim.url}/api/2.0/machines/{system_id}/", data={"op": "power_off"},
                          headers=sim.auth(), timeout=10)
        r.raise_for_status()
        eventually(lambda: sim.machine(system_id)["power_state"] == "off", what="machine off")
        vm = eventually(lambda: (lambda v: v if v["state"] == "Stopped" else None)(vm_of(cs, vm_id)),
                        what="instance seen Stopped")
        assert vm["powerstate"] == "PowerOff"
    finally:
        cs.updateConfiguration(name="extension.power.sync.interval", value="60")

    # Starting it through the server powers the same machine on again.
    job_ok(cs, cs.startVirtualMachine(id=vm_id))
    machine = sim.machine(system_id)
    assert machine["power_state"] == "on" and machine["status_name"] == "Deployed"
    job_ok(cs, cs.destroyVirtualMachine(id=vm_id, expunge=True))
    eventually(lambda: released(sim, system_id), what=f"machine {system_id} Ready again")


def test_failed_create_releases_the_machine(cs, sim, maas, template, zone):
    eventually(lambda: all(m["status_name"] == "Ready" for m in sim.machines().values()), what="all machines Ready")
    # Deploy-time external details override the template's; MAAS refuses this series, so create
    # fails after prepare allocated a machine, and the server's cleanup (`delete`) releases it.
    vm_id, jobid = deploy(cs, zone, template, "maas-badseries", externaldetails={"distro_series": "plan9"})
    job = wait_job(cs, jobid)
    assert job["jobstatus"] == 2, job
    text = job["jobresult"]["errortext"]
    assert text.startswith("Failed to create instance") and "'plan9' is not a valid distro_series" in text, text
    vm = vm_of(cs, vm_id)
    assert vm["state"] == "Error"  # as upstream after a failed deployment
    system_id = vm["details"]["External:maas_system_id"]
    machine = eventually(lambda: released(sim, system_id), what=f"machine {system_id} Ready again")
    assert machine["owner"] is None and machine["owner_data"] == {}
    job_ok(cs, cs.destroyVirtualMachine(id=vm_id, expunge=True))


def test_deploy_onto_a_chosen_machine(cs, sim, maas, template, zone):
    wanted = eventually(lambda: sorted(s for s, m in sim.machines().items() if m["status_name"] == "Ready"),
                        what="a Ready machine")[-1]
    vm_id, jobid = deploy(cs, zone, template, "maas-pinned", externaldetails={"maas_system_id": wanted})
    assert wait_job(cs, jobid)["jobstatus"] == 1
    _, machine = machine_of(cs, sim, vm_id)
    assert machine["system_id"] == wanted and machine["status_name"] == "Deployed"
    job_ok(cs, cs.destroyVirtualMachine(id=vm_id, expunge=True))
    eventually(lambda: released(sim, wanted), what=f"machine {wanted} Ready again")
