"""Instances through apache-libcloud (list_locations/sizes/images, create_node, list_nodes,
reboot_node, destroy_node) and the whole flow through cs."""

import pytest
from cs import CloudStackApiException
from libcloud.compute.providers import get_driver
from libcloud.compute.types import Provider, NodeState

from conftest import external_zone, wait_job


def setup_zone(cs, name):
    ext = cs.createExtension(name=name, type="Orchestrator")["extension"]
    ids = external_zone(cs, ext["id"], prefix=name)
    tmpl = cs.registerTemplate(name=f"{name}-tmpl", displaytext="t", format="EXTERNAL", hypervisor="External", url="none", zoneid=ids["zone"], extensionid=ext["id"])["template"][0]
    ids["template"] = tmpl["id"]
    ids["extension"] = ext["id"]
    return ids


def test_libcloud_node_lifecycle(server, cs):
    ids = setup_zone(cs, "lc")
    driver = get_driver(Provider.CLOUDSTACK)(key=server.api_key, secret=server.secret, url=server.url, secure=False)
    location = [l for l in driver.list_locations() if l.id == ids["zone"]][0]
    size = [s for s in driver.list_sizes() if s.id == ids["offering"]][0]
    image = [i for i in driver.list_images(location=location) if i.id == ids["template"]][0]
    node = driver.create_node(name="lc-node", size=size, image=image, location=location, ex_start_vm=True)
    assert node.state == NodeState.RUNNING
    nodes = {n.id: n for n in driver.list_nodes()}
    assert nodes[node.id].name == "lc-node"
    assert nodes[node.id].extra["zone_id"] == ids["zone"]
    assert driver.reboot_node(nodes[node.id]) is True
    assert driver.destroy_node(nodes[node.id]) is True
    vm = cs.listVirtualMachines(id=node.id)["virtualmachine"][0]
    assert vm["state"] == "Destroyed"


def test_cs_whole_flow(cs):
    ids = setup_zone(cs, "flow")
    job = cs.deployVirtualMachine(zoneid=ids["zone"], serviceofferingid=ids["offering"], templateid=ids["template"], networkids=ids["network"], name="flow-vm", details={"note": "x"}, externaldetails={"flavor": "gold"})
    vm = wait_job(cs, job["jobid"])["jobresult"]["virtualmachine"]
    assert vm["state"] == "Running" and vm["nic"][0]["macaddress"]
    for cmd, want in [("stopVirtualMachine", "Stopped"), ("startVirtualMachine", "Running"), ("rebootVirtualMachine", "Running")]:
        r = wait_job(cs, getattr(cs, cmd)(id=vm["id"])["jobid"])
        assert r["jobstatus"] == 1 and r["jobresult"]["virtualmachine"]["state"] == want, r
    # Operations CloudStack blocks for External instances: a clear error, no job.
    with pytest.raises(CloudStackApiException) as err:
        cs.migrateVirtualMachine(virtualmachineid=vm["id"])
    assert err.value.error["errorcode"] == 431
    assert err.value.error["errortext"] == "Migrate VM instance operation is not allowed for External hypervisor type"
    with pytest.raises(CloudStackApiException) as err:
        cs.scaleVirtualMachine(id=vm["id"], serviceofferingid=ids["offering"])
    assert err.value.error["errortext"].startswith("Operation not supported for instance: i-")
    listed = cs.listVirtualMachines(extensionid=ids["extension"], fetch_list=True)
    assert [v["id"] for v in listed] == [vm["id"]]
    r = wait_job(cs, cs.destroyVirtualMachine(id=vm["id"], expunge="true")["jobid"])
    assert r["jobstatus"] == 1
    assert cs.listVirtualMachines(id=vm["id"]) == {}
