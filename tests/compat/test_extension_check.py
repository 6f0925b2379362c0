"""`trellis extension check` passes on every built-in extension against its simulator, and on the
scaffold a user-defined extension gets."""

import os
import subprocess
import time
import urllib.request
import ssl

import pytest

from conftest import ROOT, free_port, trellis_bin


def binary(name):
    path = os.path.join(os.path.dirname(trellis_bin()), name)
    if not os.path.exists(path):
        pytest.fail(f"{name} not built next to trellis; run cargo build --workspace --bins")
    return path


def start_sim(kind, port, extra=()):
    proc = subprocess.Popen([trellis_bin(), "sim", kind, "--listen", f"127.0.0.1:{port}", *extra], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    scheme = "https" if kind == "hyperv" else "http"
    path = {"proxmox": "/api2/json/version", "maas": "/MAAS/api/2.0/version/", "hyperv": "/wsman"}[kind]
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"{scheme}://127.0.0.1:{port}{path}", timeout=1, context=ctx)
            return proc
        except urllib.error.HTTPError:
            return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"{kind} simulator did not start")


def check(exe, *args):
    r = subprocess.run([trellis_bin(), "extension", "check", exe, "--timeout", "60", *args], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "PASSED" in r.stdout
    return r.stdout


def test_proxmox_passes():
    port = free_port()
    sim = start_sim("proxmox", port)
    try:
        out = check(binary("trellis-proxmox"), "--extension-detail", f"url=http://127.0.0.1:{port}", "--extension-detail", "user=root@pam",
                    "--extension-detail", "token=trellis", "--extension-detail", "secret=secret", "--host-detail", "node=pve1",
                    "--host-detail", "network_bridge=vmbr0", "--vm-detail", "template_id=9000")
        assert "0 fail" in out and "getconsole  pass" in out
    finally:
        sim.kill()


def test_maas_passes():
    port = free_port()
    sim = start_sim("maas", port)
    try:
        check(binary("trellis-maas"), "--extension-detail", f"endpoint=http://127.0.0.1:{port}/MAAS",
              "--extension-detail", "apikey=TrellisSimConsumer:TrellisSimToken00:TrellisSimSecret000000000000000")
    finally:
        sim.kill()


def test_hyperv_passes():
    port = free_port()
    sim = start_sim("hyperv", port)
    try:
        check(binary("trellis-hyperv"), "--host-detail", f"url=https://127.0.0.1:{port}", "--host-detail", "username=Administrator",
              "--host-detail", "password=Trellis-Sim-1", "--host-detail", "verify_tls_certificate=false", "--host-detail", "network_switch=External",
              "--host-detail", "vhd_path=C:\\Hyper-V\\Virtual Hard Disks",
              "--host-detail", "image_roots=C:\\Templates", "--vm-detail", "template_path=C:\\Templates\\ubuntu-24.04.vhdx")
    finally:
        sim.kill()


def test_broken_extension_fails(tmp_path):
    exe = tmp_path / "broken.sh"
    exe.write_text("#!/bin/sh\necho 'not json'\nexit 0\n")
    exe.chmod(0o755)
    r = subprocess.run([trellis_bin(), "extension", "check", str(exe), "--timeout", "10"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 1, r.stdout
