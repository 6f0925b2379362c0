"""Running Trellis for real, seen by real clients: `cs` over https against a server started with
`--tls-cert`/`--tls-key` (a CA bundle, and `dangerous_no_tls_verify`), and `response=xml` answers
read by Python's xml.etree."""

import os
import shutil
import subprocess
import tempfile
import time
import xml.etree.ElementTree as ET

import pytest
import requests
from cs import CloudStack, CloudStackException

from conftest import ADMIN_PASSWORD, free_port, trellis_bin


def self_signed(directory):
    """A self-signed certificate for localhost and 127.0.0.1 made by openssl; (cert, key) paths."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    cert = os.path.join(directory, "cert.pem")
    key = os.path.join(directory, "key.pem")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
        check=True, capture_output=True,
    )
    return cert, key


class HttpsServer:
    """`trellis serve` over https; the certificate and key come from TRELLIS_TLS_CERT/_KEY."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="trellis-compat-tls-")
        self.cert, self.key = self_signed(self.dir)
        self.port = free_port()
        self.base = f"https://127.0.0.1:{self.port}"
        self.url = f"{self.base}/client/api"
        env = dict(os.environ)
        env.update({
            "TRELLIS_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "TRELLIS_LOG": "info,sqlx=warn",
            "TRELLIS_TLS_CERT": self.cert,
            "TRELLIS_TLS_KEY": self.key,
        })
        self.log_path = os.path.join(self.dir, "server.log")
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [trellis_bin(), "serve", "--listen", f"127.0.0.1:{self.port}", "--data-dir", os.path.join(self.dir, "data")],
            stdout=self.log, stderr=subprocess.STDOUT, env=env,
        )
        deadline = time.time() + 60
        while True:
            try:
                if requests.get(f"{self.base}/healthz", verify=self.cert, timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.time() > deadline or self.proc.poll() is not None:
                self.stop()
                raise RuntimeError("https server did not become healthy:\n" + open(self.log_path).read())
            time.sleep(0.1)
        try:
            self.api_key, self.secret = self.register_keys()
        except Exception:
            self.stop()
            raise

    def register_keys(self):
        # verify= on each request: REQUESTS_CA_BUNDLE in the environment would override Session.verify.
        s = requests.Session()
        r = s.post(self.url, data={"command": "login", "username": "admin", "password": ADMIN_PASSWORD, "response": "json"},
                   verify=self.cert)
        r.raise_for_status()
        login = r.json()["loginresponse"]
        r = s.get(self.url, params={"command": "registerUserKeys", "id": login["userid"], "response": "json", "sessionkey": login["sessionkey"]},
                  verify=self.cert)
        r.raise_for_status()
        keys = r.json()["registeruserkeysresponse"]["userkeys"]
        return keys["apikey"], keys["secretkey"]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.close()


@pytest.fixture(scope="module")
def https_server():
    srv = HttpsServer()
    yield srv
    srv.stop()
    if os.environ.get("TRELLIS_KEEP_COMPAT_DIRS") is None:
        shutil.rmtree(srv.dir, ignore_errors=True)


def test_cs_over_https_with_a_ca_bundle(https_server):
    cs = CloudStack(endpoint=https_server.url, key=https_server.api_key, secret=https_server.secret,
                    verify=https_server.cert)
    zone = cs.createZone(name="tls-zone")["zone"]
    zones = cs.listZones(name="tls-zone")["zone"]
    assert [z["id"] for z in zones] == [zone["id"]]


def test_cs_over_https_without_verification(https_server):
    cs = CloudStack(endpoint=https_server.url, key=https_server.api_key, secret=https_server.secret,
                    dangerous_no_tls_verify=True)
    assert "capability" in cs.listCapabilities()


def test_cs_refuses_an_untrusted_certificate(https_server):
    cs = CloudStack(endpoint=https_server.url, key=https_server.api_key, secret=https_server.secret)
    with pytest.raises((requests.exceptions.SSLError, CloudStackException)):
        cs.listZones()


def get_xml(session, url, sessionkey, **params):
    r = session.get(url, params={**params, "response": "xml", "sessionkey": sessionkey})
    assert r.headers["Content-Type"].startswith("text/xml"), r.headers["Content-Type"]
    return r.status_code, ET.fromstring(r.content)


def test_xml_answers_parse_with_elementtree(server):
    s = requests.Session()
    r = s.post(server.url, data={"command": "login", "username": "admin", "password": ADMIN_PASSWORD, "response": "xml"})
    assert r.status_code == 200
    login = ET.fromstring(r.content)
    assert login.tag == "loginresponse"
    key = login.findtext("sessionkey")
    assert key

    status, zone = get_xml(s, server.url, key, command="createZone", name="xml-compat-zone")
    assert status == 200 and zone.tag == "createzoneresponse"
    assert zone.get("cloud-stack-version")
    zone_id = zone.findtext("zone/id")
    assert zone.findtext("zone/name") == "xml-compat-zone"

    status, listing = get_xml(s, server.url, key, command="listZones", name="xml-compat-zone")
    assert status == 200 and listing.tag == "listzonesresponse"
    assert listing.findtext("count") == "1"
    assert [z.findtext("id") for z in listing.findall("zone")] == [zone_id]

    status, error = get_xml(s, server.url, key, command="deleteZone")
    assert status == 431 and error.tag == "deletezoneresponse"
    assert error.findtext("errorcode") == "431"
    assert error.findtext("cserrorcode")
    assert error.findtext("errortext")

    status, done = get_xml(s, server.url, key, command="deleteZone", id=zone_id)
    assert status == 200 and done.findtext("success") == "true"

    status, account = get_xml(s, server.url, key, command="createAccount", username="xml-compat-user",
                              password="pw-123456", email="u@example.org", firstname="F", lastname="L",
                              accounttype="0")
    assert status == 200, ET.tostring(account)
    account_id = account.findtext("account/id")
    status, submitted = get_xml(s, server.url, key, command="deleteAccount", id=account_id)
    assert status == 200 and submitted.tag == "deleteaccountresponse"
    job_id = submitted.findtext("jobid")
    assert job_id
    deadline = time.time() + 30
    while True:
        status, job = get_xml(s, server.url, key, command="queryAsyncJobResult", jobid=job_id)
        assert status == 200 and job.tag == "queryasyncjobresultresponse"
        if job.findtext("jobstatus") != "0":
            break
        assert time.time() < deadline, ET.tostring(job)
        time.sleep(0.1)
    assert job.findtext("jobstatus") == "1", ET.tostring(job)
    assert job.findtext("jobresult/success") == "true"
