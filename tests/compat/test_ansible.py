"""Ansible's CloudStack collection (ngine_io.cloudstack) against a real server: `ansible-playbook`
runs small playbooks on localhost, the outcome is checked through `cs`.

The collection's modules lost their `cs_` prefix in 3.0 (`cs_instance` became `instance`); the
tests use whichever names the installed collection has. Credentials reach the modules through
CLOUDSTACK_ENDPOINT / CLOUDSTACK_KEY / CLOUDSTACK_SECRET."""

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time

import pytest

from conftest import external_zone

BIN = os.path.dirname(sys.executable)
PLAYBOOK = shutil.which("ansible-playbook", path=BIN + os.pathsep + os.environ.get("PATH", ""))

pytestmark = pytest.mark.skipif(PLAYBOOK is None, reason="ansible-playbook is not installed (pip install ansible)")

# Module names of collection 3.x, with their 2.x spelling.
LEGACY = {"template": "cs_template", "ssh_key": "cs_sshkeypair", "instance": "cs_instance", "affinity_group": "cs_affinitygroup",
          "domain": "cs_domain", "account": "cs_account", "user": "cs_user", "role": "cs_role",
          "role_permission": "cs_role_permission", "resource_limit": "cs_resourcelimit"}


def ansible_env(server, home):
    env = dict(os.environ)
    env.update({
        "CLOUDSTACK_ENDPOINT": server.url,
        "CLOUDSTACK_KEY": server.api_key,
        "CLOUDSTACK_SECRET": server.secret,
        "CLOUDSTACK_TIMEOUT": "30",
        "ANSIBLE_HOME": home,
        "ANSIBLE_LOCAL_TEMP": os.path.join(home, "tmp"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_LOCALHOST_WARNING": "false",
        "ANSIBLE_INVENTORY_UNPARSED_WARNING": "false",
        "ANSIBLE_DEPRECATION_WARNINGS": "false",
        "ANSIBLE_RETRY_FILES_ENABLED": "false",
    })
    return env


class Ansible:
    """Runs one-play playbooks on localhost and returns what each task registered."""

    def __init__(self, server, directory):
        self.dir = directory
        self.env = ansible_env(server, os.path.join(directory, "home"))
        self.count = 0
        doc = subprocess.run([os.path.join(os.path.dirname(PLAYBOOK), "ansible-doc"), "-j", "-t", "module", "ngine_io.cloudstack.instance"],
                             capture_output=True, text=True, env=self.env, timeout=60)
        self.v3 = doc.returncode == 0 and "ngine_io.cloudstack.instance" in doc.stdout

    def module(self, name):
        return "ngine_io.cloudstack." + (name if self.v3 else LEGACY[name])

    def run(self, *tasks, expect_ok=True):
        """Run `tasks` ((module, args) pairs) in order; returns the registered result of each."""
        self.count += 1
        out = os.path.join(self.dir, f"result-{self.count}.json")
        plays = []
        for i, (mod, args) in enumerate(tasks):
            plays.append({"name": f"task {i}", self.module(mod): args, "register": f"r{i}"})
        names = ", ".join(f"'r{i}': r{i}" for i in range(len(tasks)))
        plays.append({"name": "save results", "ansible.builtin.copy": {"content": "{{ {" + names + "} | to_json }}", "dest": out}})
        playbook = [{
            "hosts": "localhost", "connection": "local", "gather_facts": False,
            "vars": {"ansible_python_interpreter": "{{ ansible_playbook_python }}"},
            "tasks": plays,
        }]
        path = os.path.join(self.dir, f"play-{self.count}.yml")
        with open(path, "w") as f:
            json.dump(playbook, f, indent=1)  # JSON is YAML
        r = subprocess.run([PLAYBOOK, "-i", "localhost,", path], capture_output=True, text=True, env=self.env, timeout=120)
        if not expect_ok:
            assert r.returncode != 0, r.stdout
            return r.stdout + r.stderr
        assert r.returncode == 0, f"ansible-playbook failed:\n{r.stdout}\n{r.stderr}"
        with open(out) as f:
            results = json.load(f)
        return [results[f"r{i}"] for i in range(len(tasks))]


@pytest.fixture(scope="module")
def env(server, cs, tmp_path_factory):
    ext = cs.createExtension(name="ans", type="Orchestrator")["extension"]
    ids = external_zone(cs, ext["id"], prefix="ans")
    ids["zonename"] = cs.listZones(id=ids["zone"])["zone"][0]["name"]
    ids["offeringname"] = cs.listServiceOfferings(id=ids["offering"])["serviceoffering"][0]["name"]
    ids["networkname"] = cs.listNetworks(id=ids["network"])["network"][0]["name"]
    ids["extension"] = ext["id"]
    tmpl = cs.registerTemplate(name="ans-bound", displaytext="ans-bound", format="EXTERNAL", hypervisor="External", url="none",
                               zoneid=ids["zone"], extensionid=ext["id"])["template"][0]
    ids["template"] = tmpl["id"]
    ids["ansible"] = Ansible(server, str(tmp_path_factory.mktemp("ansible")))
    return ids


def instance_args(env, name, **extra):
    args = {"name": name, "zone": env["zonename"], "template": "ans-bound", "service_offering": env["offeringname"],
            "networks": [env["networkname"]]}
    args.update(extra)
    return args


def vms_named(cs, name):
    return [v for v in cs.listVirtualMachines(listall="true", fetch_list=True) if v["name"] == name]


def test_template_registers_a_qcow2_template_for_external(cs, env):
    args = {"name": "ans-qcow2", "display_text": "Debian cloud image", "url": "http://images.example.org/debian-12.qcow2",
            "format": "QCOW2", "hypervisor": "External", "os_type": "Other (64-bit)", "zone": env["zonename"]}
    first, = env["ansible"].run(("template", args))
    assert first["changed"] is True
    listed = cs.listTemplates(templatefilter="self", name="ans-qcow2")["template"]
    assert len(listed) == 1
    t = listed[0]
    assert (t["format"], t["hypervisor"], t["isready"], t["zoneid"]) == ("QCOW2", "External", True, env["zone"])
    assert t["ostypename"] == "Other (64-bit)" and t["displaytext"] == "Debian cloud image"
    assert first["id"] == t["id"]
    # The module has no extensionid/externaldetails: the template is bound to no extension, and
    # instances from it go to any External cluster (here the zone's only one).
    assert "extensionid" not in t
    # Idempotent: a second run finds it and changes nothing.
    second, = env["ansible"].run(("template", args))
    assert second["changed"] is False and second["id"] == t["id"]
    assert len(cs.listTemplates(templatefilter="self", name="ans-qcow2")["template"]) == 1
    vm, = env["ansible"].run(("instance", instance_args(env, "ans-from-qcow2", template="ans-qcow2")))
    got = cs.listVirtualMachines(id=vm["id"])["virtualmachine"][0]
    assert got["state"] == "Running" and got["templateid"] == t["id"] and got["hostid"] == env["host"]


@pytest.mark.skipif(importlib.util.find_spec("sshpubkeys") is None, reason="the ssh key module needs sshpubkeys (pip install sshpubkeys)")
def test_ssh_key_create_and_register(cs, env, tmp_path):
    created, = env["ansible"].run(("ssh_key", {"name": "ans-created"}))
    assert created["changed"] is True and "PRIVATE KEY" in created["private_key"]
    listed = cs.listSSHKeyPairs(name="ans-created")["sshkeypair"]
    assert [k["fingerprint"] for k in listed] == [created["fingerprint"]]

    key = tmp_path / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "ans@example", "-f", str(key)], check=True)
    public = (tmp_path / "id_ed25519.pub").read_text().strip()
    fp = subprocess.run(["ssh-keygen", "-l", "-E", "md5", "-f", str(key) + ".pub"], capture_output=True, text=True, check=True).stdout.split()[1]
    registered, = env["ansible"].run(("ssh_key", {"name": "ans-registered", "public_key": public}))
    assert registered["changed"] is True
    listed = cs.listSSHKeyPairs(name="ans-registered")["sshkeypair"]
    assert len(listed) == 1 and listed[0]["fingerprint"] == fp.removeprefix("MD5:")
    # The module finds the key again by its MD5 fingerprint: nothing to do the second time.
    again, = env["ansible"].run(("ssh_key", {"name": "ans-registered", "public_key": public}))
    assert again["changed"] is False
    assert len(cs.listSSHKeyPairs(name="ans-registered")["sshkeypair"]) == 1


def test_instance_with_tags(cs, env):
    tags = [{"key": "env", "value": "ci"}, {"key": "owner", "value": "ansible"}]
    vm, = env["ansible"].run(("instance", instance_args(env, "ans-tagged", tags=tags)))
    assert vm["changed"] is True and vm["state"] == "Running"
    listed = cs.listTags(resourceid=vm["id"], resourcetype="UserVm")["tag"]
    assert sorted((t["key"], t["value"]) for t in listed) == [("env", "ci"), ("owner", "ansible")]
    got = cs.listVirtualMachines(id=vm["id"])["virtualmachine"][0]
    assert sorted((t["key"], t["value"]) for t in got["tags"]) == [("env", "ci"), ("owner", "ansible")]
    assert [v["id"] for v in cs.listVirtualMachines(tags=[{"key": "env", "value": "ci"}], listall="true", fetch_list=True)] == [vm["id"]]
    # Same play again: no new instance, no change.
    again, = env["ansible"].run(("instance", instance_args(env, "ans-tagged", tags=tags)))
    assert again["changed"] is False and again["id"] == vm["id"]
    assert len(vms_named(cs, "ans-tagged")) == 1


def test_affinity_group_and_instance_in_it(cs, env):
    types = cs.listAffinityGroupTypes()["affinityGroupType"]
    assert types[0]["type"] == "host anti-affinity"
    group, vm = env["ansible"].run(
        ("affinity_group", {"name": "ans-spread", "description": "spread"}),
        ("instance", instance_args(env, "ans-spread-1", affinity_groups=["ans-spread"])),
    )
    assert group["changed"] is True and group["affinity_type"] == "host anti-affinity"
    listed = cs.listAffinityGroups(name="ans-spread")["affinitygroup"]
    assert len(listed) == 1 and listed[0]["type"] == "host anti-affinity"
    assert vm["state"] == "Running"
    assert listed[0]["id"] in [g["id"] for g in cs.listVirtualMachines(id=vm["id"])["virtualmachine"][0]["affinitygroup"]]
    members = cs.listAffinityGroups(name="ans-spread")["affinitygroup"][0].get("virtualmachineIds", [])
    assert vm["id"] in members


def test_instance_absent_then_expunged(cs, env):
    vm, = env["ansible"].run(("instance", instance_args(env, "ans-gone")))
    destroyed, = env["ansible"].run(("instance", {"name": "ans-gone", "zone": env["zonename"], "state": "absent"}))
    assert destroyed["changed"] is True
    assert cs.listVirtualMachines(id=vm["id"])["virtualmachine"][0]["state"] == "Destroyed"
    expunged, = env["ansible"].run(("instance", {"name": "ans-gone", "zone": env["zonename"], "state": "expunged"}))
    assert expunged["changed"] is True
    # Gone for real: not even a Destroyed row for the administrator.
    deadline = time.time() + 30
    while time.time() < deadline and vms_named(cs, "ans-gone"):
        time.sleep(0.2)
    assert vms_named(cs, "ans-gone") == []
    assert cs.listVirtualMachines(id=vm["id"]) == {}
    again, = env["ansible"].run(("instance", {"name": "ans-gone", "zone": env["zonename"], "state": "expunged"}))
    assert again["changed"] is False


def test_instance_absent_then_present_recovers(cs, env):
    vm, = env["ansible"].run(("instance", instance_args(env, "ans-back")))
    env["ansible"].run(("instance", {"name": "ans-back", "zone": env["zonename"], "state": "absent"}))
    assert cs.listVirtualMachines(id=vm["id"])["virtualmachine"][0]["state"] == "Destroyed"
    back, = env["ansible"].run(("instance", instance_args(env, "ans-back")))
    assert back["changed"] is True and back["id"] == vm["id"]
    same = vms_named(cs, "ans-back")
    assert [v["id"] for v in same] == [vm["id"]], same
    # recoverVirtualMachine leaves it Stopped (as upstream); `started` brings it up again.
    assert same[0]["state"] == "Stopped"
    started, = env["ansible"].run(("instance", dict(instance_args(env, "ans-back"), state="started")))
    assert started["id"] == vm["id"] and started["state"] == "Running"
    assert [v["id"] for v in vms_named(cs, "ans-back")] == [vm["id"]]


def test_domain_account_user_and_limit_lifecycle(cs, env):
    a = env["ansible"]
    a.run(
        ("domain", {"path": "ansdom", "network_domain": "ansdom.example"}),
        ("account", {"name": "ansacct", "domain": "ansdom", "username": "ansuser1", "password": "pw-123456",
                     "first_name": "A", "last_name": "B", "email": "a@example.org", "account_type": "user"}),
        ("user", {"username": "ansuser2", "account": "ansacct", "domain": "ansdom", "password": "pw-123456",
                  "first_name": "C", "last_name": "D", "email": "c@example.org", "keys_registered": True}),
        ("resource_limit", {"resource_type": "instance", "limit": 3, "account": "ansacct", "domain": "ansdom"}),
    )
    dom = cs.listDomains(name="ansdom")["domain"][0]
    assert (dom["path"], dom["networkdomain"]) == ("ROOT/ansdom", "ansdom.example")
    acct = cs.listAccounts(name="ansacct", domainid=dom["id"])["account"][0]
    assert acct["vmlimit"] == "3" and acct["vmavailable"] == "3", acct
    users = {u["username"]: u for u in cs.listUsers(domainid=dom["id"], listall="true")["user"]}
    assert set(users) == {"ansuser1", "ansuser2"} and users["ansuser2"]["apikey"]
    # A second run changes nothing.
    again = a.run(("resource_limit", {"resource_type": "instance", "limit": 3, "account": "ansacct", "domain": "ansdom"}),
                  ("user", {"username": "ansuser2", "account": "ansacct", "domain": "ansdom", "password": "pw-123456",
                            "first_name": "C", "last_name": "D", "email": "c@example.org"}))
    assert not again[0]["changed"] and not again[1]["changed"], again
    # States: lock and unlock the user, lock and enable the account.
    a.run(("user", {"username": "ansuser2", "domain": "ansdom", "state": "locked"}))
    assert cs.listUsers(id=users["ansuser2"]["id"])["user"][0]["state"] == "locked"
    a.run(("user", {"username": "ansuser2", "domain": "ansdom", "state": "unlocked"}),
          ("account", {"name": "ansacct", "domain": "ansdom", "state": "locked"}))
    assert cs.listUsers(id=users["ansuser2"]["id"])["user"][0]["state"] == "enabled"
    assert cs.listAccounts(id=acct["id"])["account"][0]["state"] == "locked"
    a.run(("account", {"name": "ansacct", "domain": "ansdom", "state": "enabled"}),
          ("user", {"username": "ansuser2", "domain": "ansdom", "state": "absent"}))
    assert cs.listAccounts(id=acct["id"])["account"][0]["state"] == "enabled"
    assert [u["username"] for u in cs.listUsers(domainid=dom["id"], listall="true")["user"]] == ["ansuser1"]
    # The domain goes with its account when cleaned up.
    a.run(("domain", {"path": "ansdom", "state": "absent", "clean_up": True}))
    assert not cs.listDomains(name="ansdom").get("domain")
    assert not cs.listAccounts(name="ansacct", listall="true").get("account")


def test_role_and_its_permissions(cs, env):
    a = env["ansible"]
    a.run(
        ("role", {"name": "ans-readers", "role_type": "User", "description": "read only"}),
        ("role_permission", {"role": "ans-readers", "name": "list*", "permission": "allow"}),
        ("role_permission", {"role": "ans-readers", "name": "listVirtualMachines", "permission": "deny"}),
    )
    role = cs.listRoles(name="ans-readers")["role"][0]
    rules = lambda: [(p["rule"], p["permission"]) for p in cs.listRolePermissions(roleid=role["id"])["rolepermission"]]
    assert rules() == [("list*", "allow"), ("listVirtualMachines", "deny")]
    # parent=0 moves a rule to the top (the module sends the whole ruleorder).
    a.run(("role_permission", {"role": "ans-readers", "name": "listVirtualMachines", "parent": 0}))
    assert rules() == [("listVirtualMachines", "deny"), ("list*", "allow")]
    a.run(("role_permission", {"role": "ans-readers", "name": "list*", "permission": "deny"}))
    assert rules()[1] == ("list*", "deny")
    a.run(("role_permission", {"role": "ans-readers", "name": "list*", "state": "absent"}),
          ("role_permission", {"role": "ans-readers", "name": "listVirtualMachines", "state": "absent"}),
          ("role", {"name": "ans-readers", "state": "absent"}))
    assert not cs.listRoles(name="ans-readers").get("role")
