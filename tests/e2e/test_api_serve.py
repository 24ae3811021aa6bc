"""`qrec users` and `qrec serve` as an administrator and the people they let in use them:
accounts and keys made on the command line, the API served on QREC_API_ADDR, a lock from the
command line that ends a signed-in session at once."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.cli import qrec

REPO = Path(__file__).resolve().parents[2]
PASSWORD = "correct horse battery"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until_serving(url: str, server: subprocess.Popen[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"qrec serve exited: {server.communicate()[0]}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise AssertionError(f"qrec serve did not answer at {url} within {timeout}s")


@pytest.mark.slow
def test_an_admin_adds_people_and_keys_and_the_api_lets_in_only_them(tmp_path: Path) -> None:
    data = tmp_path / "data"
    # The administrator adds a quality engineer (password from stdin, never on the command
    # line) and a key for the ERP; the key is printed once.
    added = qrec("users", "add", "anna", "--name", "Anna Berg", "--role", "quality_engineer",
                 "--password-stdin", data_dir=data, input=PASSWORD + "\n")
    assert added.returncode == 0, added.stderr
    key = qrec("users", "api-key", "create", "erp-1", "--role", "operator", "--reason",
               "ERP link", data_dir=data)
    assert key.returncode == 0, key.stderr
    erp_key = key.stdout.strip()
    assert erp_key.startswith("qrec_") and "shown this once" in key.stderr
    short = qrec("users", "add", "bob", "--name", "Bob", "--password-stdin", data_dir=data,
                 input="short\n")
    assert short.returncode == 2 and "at least 10 characters" in short.stderr
    listed = qrec("users", "list", data_dir=data)
    assert "anna" in listed.stdout and "Anna Berg" in listed.stdout
    assert "key:erp-1" in listed.stdout and "operator" in listed.stdout

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "QREC_DATA_DIR": str(data), "QREC_STORE_URL": "",
           "QREC_BROKER_URL": "", "QREC_API_ADDR": f"127.0.0.1:{port}"}
    server = subprocess.Popen([sys.executable, "-m", "services.cli", "serve"], cwd=REPO,
                              env=env, text=True, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT)
    try:
        wait_until_serving(url, server)
        with httpx.Client(base_url=url) as browser:
            signed_in = browser.post("/api/v1/session",
                                     json={"user": "anna", "password": PASSWORD})
            assert signed_in.status_code == 200, signed_in.text
            assert browser.get("/api/v1/me").json()["roles"] == ["quality_engineer"]
            erp = httpx.get(f"{url}/api/v1/me", headers={"Authorization": f"Bearer {erp_key}"})
            assert erp.json()["principal"] == "key:erp-1"
            # Locked from the command line while she is signed in: her session ends.
            locked = qrec("users", "lock", "anna", "--reason", "left", data_dir=data)
            assert locked.returncode == 0, locked.stderr
            assert browser.get("/api/v1/me").status_code == 401
        revoked = qrec("users", "api-key", "revoke", "erp-1", "--reason", "ERP replaced",
                       data_dir=data)
        assert revoked.returncode == 0, revoked.stderr
        refused = httpx.get(f"{url}/api/v1/me", headers={"Authorization": f"Bearer {erp_key}"})
        assert refused.status_code == 401
    finally:
        server.send_signal(signal.SIGINT)
        out, _ = server.communicate(timeout=30)
    assert server.returncode == 0, out
    assert f"qrec serve: {url}" in out
    # every change to who may act is on record, with who made it and why
    history = qrec("history", "access:key:erp-1", data_dir=data)
    assert "granted role operator" in history.stdout
    assert "revoked role operator" in history.stdout and "ERP replaced" in history.stdout


def test_serve_says_plainly_when_its_address_is_taken(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = qrec("serve", data_dir=tmp_path / "data", QREC_API_ADDR=f"127.0.0.1:{port}")
    assert result.returncode == 3
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr
