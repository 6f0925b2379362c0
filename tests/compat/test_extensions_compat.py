"""The extensions API through the real `cs` client: every command, the values clients read, and
errors as CloudStackApiException with the right codes."""

import pytest
from cs import CloudStack, CloudStackApiException

from conftest import external_zone, job_ok, wait_job


def api_error(fn, **kw):
    with pytest.raises(CloudStackApiException) as e:
        fn(**kw)
    return e.value.error


def test_extension_commands_round_trip(cs):
    ext = cs.createExtension(name="cs-ext", type="Orchestrator", description="d", details={"abc": "xyz"})["extension"]
    assert ext["state"] == "Enabled" and ext["pathready"] is True and ext["details"] == {"abc": "xyz"}
    assert api_error(cs.createExtension, name="cs-ext", type="Orchestrator")["errorcode"] == 530
    # Bad input is the caller's error: 431, with the parameter named.
    assert api_error(cs.createExtension, name="bad", type="Random")["errorcode"] == 431
    listed = cs.listExtensions(name="cs-ext")
    assert listed["count"] == 1 and listed["extension"][0]["id"] == ext["id"]
    upd = cs.updateExtension(id=ext["id"], description="new", details={"k1": "v1", "k2": "v2"})["extension"]
    assert upd["description"] == "new" and upd["details"] == {"k1": "v1", "k2": "v2"}

    zone = cs.createZone(name="cs-ext-zone")["zone"]
    cluster = cs.addCluster(zoneid=zone["id"], clustername="cs-ext-cluster", hypervisor="External")["cluster"][0]
    reg = cs.registerExtension(extensionid=ext["id"], resourceid=cluster["id"], resourcetype="Cluster", details={"region": "a"})["extension"]
    assert reg["resources"][0]["id"] == cluster["id"] and reg["resources"][0]["details"] == {"region": "a"}
    assert api_error(cs.deleteExtension, id=ext["id"])["errorcode"] == 530

    action = cs.addCustomAction(extensionid=ext["id"], name="Reset", description="reset it",
                                parameters=[{"name": "mode", "type": "STRING", "valueoptions": "soft,hard", "required": "true"}],
                                successmessage="{{actionName}} done", enabled="true")["extensioncustomaction"]
    assert action["parameters"][0]["valueoptions"] == ["soft", "hard"]
    assert action["allowedroletypes"] == ["Admin"]
    actions = cs.listCustomActions(extensionid=ext["id"], fetch_list=True)
    assert [a["name"] for a in actions] == ["Reset"]
    upd = cs.updateCustomAction(id=action["id"], allowedroletypes="User", timeout=30)["extensioncustomaction"]
    assert upd["allowedroletypes"] == ["Admin", "User"] and upd["timeout"] == 30
    assert cs.deleteCustomAction(id=action["id"])["success"] is True

    un = cs.unregisterExtension(extensionid=ext["id"], resourceid=cluster["id"], resourcetype="Cluster")["extension"]
    assert "resources" not in un
    assert cs.deleteExtension(id=ext["id"], cleanup="true")["success"] is True
    assert cs.listExtensions(name="cs-ext") == {}


def test_run_custom_action_on_scaffolded_extension(cs):
    ext = cs.createExtension(name="cs-scaffold", type="Orchestrator")["extension"]
    ids = external_zone(cs, ext["id"], prefix="scaffold")
    tmpl = cs.registerTemplate(name="scaffold-tmpl", format="EXTERNAL", hypervisor="External", url="none", zoneid=ids["zone"], extensionid=ext["id"])["template"][0]
    job = cs.deployVirtualMachine(zoneid=ids["zone"], serviceofferingid=ids["offering"], templateid=tmpl["id"], networkids=ids["network"], name="scaffold-vm")
    done = wait_job(cs, job["jobid"])
    assert done["jobstatus"] == 1, done
    vm = done["jobresult"]["virtualmachine"]
    assert vm["state"] == "Running"
    action = cs.addCustomAction(extensionid=ext["id"], name="Hello", enabled="true", errormessage="{{actionName}} failed on {{resourceName}}")["extensioncustomaction"]
    run = cs.runCustomAction(customactionid=action["id"], resourceid=vm["id"])
    res = wait_job(cs, run["jobid"])
    assert res["jobstatus"] == 1
    result = res["jobresult"]["customactionresult"]
    # The scaffold answers unknown actions with an error: success is false, the job itself succeeds.
    assert result["success"] is False
    assert result["result"]["message"] == f"Hello failed on {vm['instancename']}"
    assert "Invalid action" in result["result"]["details"]


def test_a_huge_bad_parameter_is_a_readable_error(server):
    # A 1 MB value (sent in a POST body, as cs does with method="post") once came back whole in
    # the X-Description header, and http.client refused the header line (LineTooLong) before cs
    # could show the error. Now the error is bounded and cs shows it.
    post = CloudStack(endpoint=server.url, key=server.api_key, secret=server.secret, method="post")
    err = api_error(post.listZones, id="z" * 1_000_000)
    assert err["errorcode"] == 431, err
    assert len(err["errortext"]) < 2200 and "truncated" in err["errortext"], err["errortext"][:200]


def test_import_and_sync_through_cs(cs, tmp_path):
    """importExtension from a manifest served over HTTP (archive checked against its SHA-256),
    then syncExtension of the one server, both through the real `cs` client."""
    import hashlib
    import http.server
    import io
    import threading
    import zipfile

    entry = b"#!/bin/sh\necho '{\"status\":\"success\",\"power_state\":\"poweron\"}'\n"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        info = zipfile.ZipInfo("cs-imp-main/run.sh")
        info.external_attr = 0o755 << 16
        z.writestr(info, entry)
    archive = buf.getvalue()
    site = tmp_path / "site"
    (site / "repo" / "archive" / "refs" / "heads").mkdir(parents=True)
    (site / "repo" / "archive" / "refs" / "heads" / "main.zip").write_bytes(archive)
    handler = lambda *a, **kw: http.server.SimpleHTTPRequestHandler(*a, directory=str(site), **kw)
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    (site / "m.yaml").write_text(
        "metadata:\n  name: cs-imp\nsource:\n  url: " + base + "/repo\n  refs: main\n"
        "spec:\n  type: Orchestrator\n  entrypoint:\n    path: run.sh\n"
    )
    try:
        err = api_error(cs.importExtension, manifesturl=base + "/m.yaml", checksum="ab" * 32)
        assert err["errorcode"] == 431 and hashlib.sha256(archive).hexdigest() in err["errortext"]
        ext = cs.importExtension(manifesturl=base + "/m.yaml",
                                 checksum=hashlib.sha256(archive).hexdigest())["extension"]
        assert ext["name"] == "cs-imp" and ext["pathready"] is True
        assert ext["path"].endswith("/cs-imp/run.sh")
        server = cs.listManagementServers()["managementserver"][0]
        job = cs.syncExtension(id=ext["id"], sourcemanagementserverid=server["id"])
        assert job_ok(cs, job)["success"] is True
    finally:
        httpd.shutdown()
