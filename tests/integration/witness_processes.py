"""`qrec witness serve` processes for tests: each its own directory and a free port on
127.0.0.1, stopped (by pid) after the test; a restart keeps the directory."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def qrec_witness(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "services.cli_witness", *args], cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True,
                          text=True, timeout=60, check=True)


class WitnessProcess:
    def __init__(self, directory: Path, name: str, vkey: str | None = None) -> None:
        self.directory, self.name = directory, name
        self.vkey = vkey or qrec_witness("init", "--dir", str(directory), "--name",
                                         name).stdout.strip()
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @classmethod
    def existing(cls, directory: Path, name: str, vkey: str) -> WitnessProcess:
        """A witness someone set up already (`qrec witness init`)."""
        return cls(directory, name, vkey)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def watch(self, log_vkey: str) -> None:
        qrec_witness("add-log", "--dir", str(self.directory), log_vkey)

    def start(self) -> WitnessProcess:
        log = open(self.directory / "serve.log", "ab")  # noqa: SIM115 (the child holds it)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "services.cli_witness", "serve", "--dir",
             str(self.directory), "--listen", f"127.0.0.1:{self.port}"], cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=log, stderr=log)
        log.close()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.1)
        raise RuntimeError(f"witness {self.name} did not start: {self.log()}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=20)
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def log(self) -> str:
        path = self.directory / "serve.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""

    def status(self) -> str:
        return qrec_witness("status", "--dir", str(self.directory)).stdout
