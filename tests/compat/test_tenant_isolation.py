"""Tenant isolation against the built-in Hyper-V and Proxmox extensions, through the real `cs` client.

Two ordinary accounts (A and B) and the admin. B tries to reach A's disk or VM the ways an
ordinary account could: a template of its own pointing at A's disk, a deploy-time override, a
Proxmox `template_id` naming A's VMID, a UNC path. The server refuses what a tenant may not set;
where the admin has made a key user-settable, the extension itself refuses, and the simulators'
state (read back over WinRM and the Proxmox API) shows nothing was cloned or copied."""

import time

import pytest
from cs import CloudStack, CloudStackApiException

from conftest import external_zone, wait_job
from test_hyperv import HyperVSim, PASSWORD as HV_PASSWORD, SWITCH, TEMPLATE_PATH, USER as HV_USER, VHD_PATH, VM_PATH
from test_proxmox import NODE, SECRET, TOKEN, TEMPLATE_VMID, USER as PVE_USER, ProxmoxSim

pytestmark = pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")


def account(server, cs, name):
    """A fresh User-role account with API keys, as a `cs` client."""
    created = cs.createAccount(accounttype=0, username=name, password="pw-123456", email=f"{name}@example.org",
                               firstname=name, lastname="Tenant")["account"]
    keys = cs.registerUserKeys(id=created["user"][0]["id"])["userkeys"]
    return CloudStack(endpoint=server.url, key=keys["apikey"], secret=keys["secretkey"])


@pytest.fixture(scope="module")
def tenants(server, cs):
    suffix = str(int(time.time() * 1000) % 1_000_000)
    return account(server, cs, f"alice{suffix}"), account(server, cs, f"bob{suffix}")


def api_error(call, **kwargs):
    with pytest.raises(CloudStackApiException) as err:
        call(**kwargs)
    return err.value.error["errorcode"], err.value.error["errortext"]


def deploy(client, zone, template_id, name, **extra):
    r = client.deployVirtualMachine(zoneid=zone["zone"], serviceofferingid=zone["offering"], templateid=template_id,
                                    name=name, **extra)
    return r["id"], wait_job(client, r["jobid"])


def job_error(job):
    assert job["jobstatus"] == 2, job
    return job["jobresult"]["errortext"]


# --------------------------------------------------------------------------------------------- Hyper-V

@pytest.fixture(scope="module")
def hv_sim():
    s = HyperVSim()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def hv(cs, hv_sim):
    ext = cs.listExtensions(name="HyperV")["extension"][0]
    details = {"url": hv_sim.url, "username": HV_USER, "password": HV_PASSWORD, "verify_tls_certificate": "false"}
    cs.updateExtension(id=ext["id"], details=details)
    zone = external_zone(cs, ext["id"], {"network_switch": SWITCH, "vhd_path": VHD_PATH, "vm_path": VM_PATH,
                                         "image_roots": "C:\\Templates;C:\\ISO"}, prefix="iso-hv")
    official = cs.registerTemplate(name="hv-official", displaytext="admin's template", format="EXTERNAL",
                                   hypervisor="External", url="none", extensionid=ext["id"], ispublic=True,
                                   externaldetails={"template_path": TEMPLATE_PATH, "generation": "2"})["template"][0]
    return {"ext": ext, "details": details, "zone": zone, "official": official}


def test_hyperv_tenant_cannot_reach_another_tenants_disk(cs, tenants, hv, hv_sim):
    a, b = tenants
    zone = hv["zone"]
    vm_a, job = deploy(a, zone, hv["official"]["id"], "hv-a")
    assert job["jobstatus"] == 1, job
    inst_a = a.listVirtualMachines(id=vm_a)["virtualmachine"][0]
    name_a = f"{inst_a['instancename']}-{vm_a}"
    disk_a = f"{VHD_PATH}\\{name_a}.vhdx"
    assert hv_sim.exists(disk_a)
    before = set(hv_sim.vms())

    # B's own template bound to the extension, pointing at A's disk: binding is the admin's.
    code, text = api_error(b.registerTemplate, name="official-ubuntu", format="EXTERNAL", hypervisor="External",
                           url="none", extensionid=hv["ext"]["id"], externaldetails={"template_path": disk_a})
    assert code == 531 and "allow.user.template.extension" in text, text
    # B's deploy-time override of the admin's template_path: refused, key named, nothing run.
    code, text = api_error(b.deployVirtualMachine, zoneid=zone["zone"], serviceofferingid=zone["offering"],
                           templateid=hv["official"]["id"], externaldetails={"template_path": disk_a})
    assert code == 431 and "'template_path'" in text, text
    assert b.listVirtualMachines().get("count", 0) == 0

    # Defence in depth: the admin lets tenants choose template_path on a template that sets none.
    # The server lets the value through; the extension refuses A's disk, UNC paths and '..'.
    cs.updateExtension(id=hv["ext"]["id"], details={**hv["details"], "user.settable.details": "template_path"})
    byo = cs.registerTemplate(name="hv-bring-your-own", displaytext="t", format="EXTERNAL", hypervisor="External",
                              url="none", extensionid=hv["ext"]["id"], ispublic=True,
                              externaldetails={"generation": "2"})["template"][0]
    code, text = api_error(b.deployVirtualMachine, zoneid=zone["zone"], serviceofferingid=zone["offering"],
                           templateid=hv["official"]["id"], externaldetails={"template_path": disk_a})
    assert code == 431 and "cannot be overridden" in text and "'template_path' (template)" in text, text
    for path, reason in [
        (disk_a, "vhd_path"),
        ("\\\\attacker.example\\share\\ubuntu.vhdx", "UNC"),
        (f"C:\\Templates\\..\\Hyper-V\\Virtual Hard Disks\\{name_a}.vhdx", "'..'"),
        ("D:\\Elsewhere\\disk.vhdx", "outside the image roots"),
    ]:
        vm_b, job = deploy(b, zone, byo["id"], "hv-b", externaldetails={"template_path": path})
        text = job_error(job)
        assert reason in text, f"{path}: {text}"
        assert set(hv_sim.vms()) == before, f"{path} created a vm: {set(hv_sim.vms()) - before}"
        assert not hv_sim.exists(f"{VHD_PATH}\\{b.listVirtualMachines(id=vm_b)['virtualmachine'][0]['instancename']}-{vm_b}.vhdx")
        wait_job(cs, cs.destroyVirtualMachine(id=vm_b, expunge=True)["jobid"])  # expunge is admin-only by default
    # A path under the image roots works for B.
    vm_b, job = deploy(b, zone, byo["id"], "hv-b-ok", externaldetails={"template_path": TEMPLATE_PATH})
    assert job["jobstatus"] == 1, job
    assert len(set(hv_sim.vms()) - before) == 1
    assert hv_sim.exists(disk_a)


# --------------------------------------------------------------------------------------------- Proxmox

@pytest.fixture(scope="module")
def pve_sim():
    s = ProxmoxSim()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def pve(cs, pve_sim):
    ext = cs.listExtensions(name="Proxmox")["extension"][0]
    details = {"url": pve_sim.url, "user": PVE_USER, "token": TOKEN, "secret": SECRET}
    cs.updateExtension(id=ext["id"], details=details)
    zone = external_zone(cs, ext["id"], {"node": NODE, "network_bridge": "vmbr0"}, prefix="iso-pve")
    official = cs.registerTemplate(name="pve-official", displaytext="t", format="EXTERNAL", hypervisor="External",
                                   url="none", extensionid=ext["id"], ispublic=True,
                                   externaldetails={"template_id": str(TEMPLATE_VMID)})["template"][0]
    return {"ext": ext, "details": details, "zone": zone, "official": official}


def test_proxmox_tenant_cannot_clone_another_tenants_vm(cs, tenants, pve, pve_sim):
    a, b = tenants
    zone = pve["zone"]
    vm_a, job = deploy(a, zone, pve["official"]["id"], "pve-a")
    assert job["jobstatus"] == 1, job
    inst_a = a.listVirtualMachines(id=vm_a)["virtualmachine"][0]
    vmid_a = pve_sim.vm_named(inst_a["instancename"])["vmid"]
    before = set(pve_sim.vms())

    code, text = api_error(b.deployVirtualMachine, zoneid=zone["zone"], serviceofferingid=zone["offering"],
                           templateid=pve["official"]["id"],
                           externaldetails={"template_id": str(vmid_a), "is_full_clone": "true"})
    assert code == 431 and "'template_id'" in text and "'is_full_clone'" in text, text
    assert set(pve_sim.vms()) == before

    # Admin made both settable on a template that names no template_id: Proxmox is asked whether
    # A's VMID is a template, and the extension refuses to clone it.
    cs.updateExtension(id=pve["ext"]["id"], details={**pve["details"],
                                                     "user.settable.details": "template_id,is_full_clone"})
    byo = cs.registerTemplate(name="pve-bring-your-own", displaytext="t", format="EXTERNAL", hypervisor="External",
                              url="none", extensionid=pve["ext"]["id"], ispublic=True)["template"][0]
    code, text = api_error(b.deployVirtualMachine, zoneid=zone["zone"], serviceofferingid=zone["offering"],
                           templateid=pve["official"]["id"], externaldetails={"template_id": str(vmid_a)})
    assert code == 431 and "'template_id' (template)" in text, text
    vm_b, job = deploy(b, zone, byo["id"], "pve-b",
                       externaldetails={"template_id": str(vmid_a), "is_full_clone": "true"})
    text = job_error(job)
    assert f"template_id {vmid_a} is not a template" in text, text
    assert set(pve_sim.vms()) == before, f"a clone was made: {set(pve_sim.vms()) - before}"
    assert pve_sim.status(vmid_a) == "running"
    # The real template still clones for B.
    vm_b2, job = deploy(b, zone, byo["id"], "pve-b-ok", externaldetails={"template_id": str(TEMPLATE_VMID)})
    assert job["jobstatus"] == 1, job
    assert len(set(pve_sim.vms()) - before) == 1
