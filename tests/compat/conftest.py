"""Fixtures of the client-compatibility suite: a real Trellis server process and real CloudStack
clients (cs, apache-libcloud) talking to it over HTTP."""

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request

import pytest
import requests
from cs import CloudStack

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ADMIN_PASSWORD = "compat-Secret-1"


def trellis_bin():
    path = os.environ.get("TRELLIS_BIN") or os.path.join(ROOT, "target", "debug", "trellis")
    if not os.path.exists(path):
        pytest.fail(f"trellis binary not found at {path}; build it first (cargo build)")
    return path


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A trellis server process with its own data directory."""

    def __init__(self, extra_env=None):
        self.dir = tempfile.mkdtemp(prefix="trellis-compat-")
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.url = f"{self.base}/client/api"
        env = dict(os.environ)
        env["TRELLIS_ADMIN_PASSWORD"] = ADMIN_PASSWORD
        env.setdefault("TRELLIS_LOG", "info,sqlx=warn")
        env.update(extra_env or {})
        self.log_path = os.path.join(self.dir, "server.log")
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [trellis_bin(), "serve", "--listen", f"127.0.0.1:{self.port}", "--data-dir", os.path.join(self.dir, "data")],
            stdout=self.log, stderr=subprocess.STDOUT, env=env,
        )
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(f"{self.base}/healthz", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.1)
        else:
            self.stop()
            raise RuntimeError("server did not become healthy:\n" + open(self.log_path).read())
        s = requests.Session()
        r = s.post(self.url, data={"command": "login", "username": "admin", "password": ADMIN_PASSWORD, "response": "json"})
        r.raise_for_status()
        login = r.json()["loginresponse"]
        r = s.get(self.url, params={"command": "registerUserKeys", "id": login["userid"], "response": "json", "sessionkey": login["sessionkey"]})
        r.raise_for_status()
        keys = r.json()["registeruserkeysresponse"]["userkeys"]
        self.api_key, self.secret = keys["apikey"], keys["secretkey"]

    def cs(self):
        return CloudStack(endpoint=self.url, key=self.api_key, secret=self.secret)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.close()

    def logs(self):
        return open(self.log_path).read()


@pytest.fixture(scope="module")
def server():
    srv = Server()
    yield srv
    srv.stop()
    if os.environ.get("TRELLIS_KEEP_COMPAT_DIRS") is None:
        shutil.rmtree(srv.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def cs(server):
    return server.cs()


def wait_job(cs, jobid, timeout=120):
    """Poll a job the way cs' own poll loop does; returns the final queryAsyncJobResult body."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        r = cs.queryAsyncJobResult(jobid=jobid)
        if r["jobstatus"] != 0:
            return r
        time.sleep(0.2)
    raise AssertionError(f"job {jobid} did not finish in {timeout}s")


def job_ok(cs, response, timeout=120):
    """Wait for the job an async call started; it must succeed. Returns its jobresult."""
    r = wait_job(cs, response["jobid"], timeout)
    assert r["jobstatus"] == 1, f"job {response['jobid']} failed: {r.get('jobresult')}"
    return r["jobresult"]


def eventually(check, timeout=30, interval=0.1, what="condition"):
    """Poll `check` until it returns a truthy value (which is returned); fail after `timeout` s."""
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"{what} not reached in {timeout}s (last: {last!r})")


def external_zone(cs, extension_id, host_details=None, prefix="compat"):
    """A zone with a cluster bound to `extension_id`, one host, a tiny offering, a template bound
    to the extension and an L2 network. Returns a dict of ids."""
    suffix = str(int(time.time() * 1000) % 10_000_000)
    zone = cs.createZone(name=f"{prefix}-zone-{suffix}", dns1="192.0.2.53")["zone"]
    cluster = cs.addCluster(zoneid=zone["id"], clustername=f"{prefix}-cluster-{suffix}", hypervisor="External", extensionid=extension_id)["cluster"][0]
    host = cs.addHost(zoneid=zone["id"], clusterid=cluster["id"], url=f"{prefix}-host-{suffix}", hypervisor="External",
                      username="External", password="External", externaldetails=host_details or {})["host"][0]
    offering = cs.createServiceOffering(name=f"{prefix}-tiny-{suffix}", displaytext="tiny", cpunumber=1, cpuspeed=1000, memory=512)["serviceoffering"]
    l2 = cs.listNetworkOfferings(guestiptype="L2")["networkoffering"][0]
    network = cs.createNetwork(name=f"{prefix}-net-{suffix}", displaytext="l2", networkofferingid=l2["id"], zoneid=zone["id"], vlan="100")["network"]
    return {"zone": zone["id"], "cluster": cluster["id"], "host": host["id"], "offering": offering["id"], "network": network["id"]}
