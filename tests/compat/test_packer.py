"""Packer's CloudStack builder against a real server: `packer build` deploys an instance, stops it,
captures its ROOT volume with createTemplate (the extension's `createtemplate` action) and cleans
up. Run with `"communicator": "none"`, so nothing has to boot."""

import json
import os
import shutil
import subprocess

import pytest

from conftest import external_zone

PACKER = shutil.which("packer")

pytestmark = pytest.mark.skipif(PACKER is None, reason="packer is not installed (apt-get install packer)")

# An extension that answers the lifecycle actions (power state kept in a file per instance) and
# captures a disk on `createtemplate`.
EXTENSION = r"""#!/usr/bin/env bash
set -u
action=$1
payload=$(cat "$2")
name=$(grep -o '"virtualmachinename":"[^"]*"' <<<"$payload" | head -n 1 | cut -d'"' -f4)
state_dir="$(dirname "$0")/.state"
mkdir -p "$state_dir"
echo "$action $name" >>"$state_dir/actions.log"
case "$action" in
  prepare) echo "" ;;
  create|start|reboot) printf poweron >"$state_dir/$name"; echo '{"status":"success"}' ;;
  stop) printf poweroff >"$state_dir/$name"; echo '{"status":"success"}' ;;
  delete) rm -f "$state_dir/$name"; echo '{"status":"success"}' ;;
  status) printf '{"status":"success","power_state":"%s"}\n' "$(cat "$state_dir/$name" 2>/dev/null || echo poweroff)" ;;
  createtemplate)
    grep -o '"templatename":"[^"]*"' <<<"$payload" | cut -d'"' -f4 >"$state_dir/captured-name"
    echo '{"status":"success","details":{"image":"captured.qcow2"},"size":1073741824}' ;;
  *) echo '{"status":"error","error":"unsupported"}'; exit 6 ;;
esac
"""


@pytest.fixture(scope="module")
def zone(cs):
    root = cs.listCapabilities()["capability"]["extensionspath"]
    directory = os.path.join(root, "packer-capture")
    os.makedirs(directory, exist_ok=True)
    exe = os.path.join(directory, "capture.sh")
    with open(exe, "w") as f:
        f.write(EXTENSION)
    os.chmod(exe, 0o755)
    ext = cs.createExtension(name="packer-capture", type="Orchestrator", path="packer-capture/capture.sh")["extension"]
    assert ext["pathready"] is True, ext
    ids = external_zone(cs, ext["id"], prefix="packer")
    tmpl = cs.registerTemplate(name="packer-source", format="QCOW2", hypervisor="External", url="http://images.example.org/base.qcow2",
                               zoneid=ids["zone"], extensionid=ext["id"], externaldetails={"image": "base.qcow2", "pool": "fast"})["template"][0]
    ids["template"] = tmpl["id"]
    ids["extension"] = ext["id"]
    ids["state"] = os.path.join(directory, ".state")
    return ids


def packer_build(server, zone, tmp_path, template_os, name):
    """`packer build` of a JSON template with the cloudstack builder; returns the finished process."""
    template = {
        "builders": [{
            "type": "cloudstack",
            "api_url": server.url,
            "api_key": server.api_key,
            "secret_key": server.secret,
            "zone": zone["zone"],
            "network": zone["network"],
            "service_offering": zone["offering"],
            "source_template": zone["template"],
            "instance_name": f"{name}-build",
            "template_name": name,
            "template_display_text": "golden image",
            "template_os": template_os,
            "communicator": "none",
            "use_local_ip_address": True,
            "expunge": True,
            "async_timeout": "2m",
        }],
    }
    path = tmp_path / "template.json"
    path.write_text(json.dumps(template))
    env = dict(os.environ, CHECKPOINT_DISABLE="1", PACKER_CACHE_DIR=str(tmp_path / "cache"), HOME=str(tmp_path))
    # Packer sleeps 30 s after createTemplate before it cleans up: a build takes about 40 s.
    return subprocess.run([PACKER, "build", "-machine-readable", str(path)], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)


def test_packer_build_captures_a_template(server, cs, zone, tmp_path):
    os_type = cs.listOsTypes(description="Other (64-bit)")["ostype"][0]["id"]
    r = packer_build(server, zone, tmp_path, os_type, "packer-golden")
    assert r.returncode == 0, f"packer build failed:\n{r.stdout}\n{r.stderr}"
    artifact = [line.split(",")[-1] for line in r.stdout.splitlines() if ",artifact,0,id," in line]

    listed = cs.listTemplates(templatefilter="self", name="packer-golden")["template"]
    assert len(listed) == 1, listed
    t = listed[0]
    assert artifact == [t["id"]]
    assert t["displaytext"] == "golden image" and t["ostypeid"] == os_type and t["isready"] is True
    assert (t["format"], t["hypervisor"], t["size"], t["extensionid"]) == ("QCOW2", "External", 1073741824, zone["extension"])
    # The capture's details laid over the source template's.
    assert t["details"]["External:image"] == "captured.qcow2" and t["details"]["External:pool"] == "fast"
    with open(os.path.join(zone["state"], "captured-name")) as f:
        assert f.read().strip() == "packer-golden"
    # Packer stopped the instance before the capture and expunged it afterwards.
    with open(os.path.join(zone["state"], "actions.log")) as f:
        actions = [line.split()[0] for line in f]
    assert actions.index("stop") < actions.index("createtemplate") < actions.index("delete")
    assert [v for v in cs.listVirtualMachines(listall="true", fetch_list=True) if v["name"] == "packer-golden-build"] == []


def test_packer_resolves_template_os_by_name(server, cs, zone, tmp_path):
    # Packer looks the OS type up with listOsTypes description=... and decodes the answer with
    # its Go SDK, whose OsType.isuserdefined is a boolean.
    r = packer_build(server, zone, tmp_path, "Other (64-bit)", "packer-by-os-name")
    assert r.returncode == 0, f"packer build failed:\n{r.stdout}\n{r.stderr}"
    t = cs.listTemplates(templatefilter="self", name="packer-by-os-name")["template"][0]
    assert t["ostypename"] == "Other (64-bit)"
