"""Run `qrec` as a user does: a separate process, settings from the environment."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def qrec(*args: str, data_dir: Path, timeout: float = 120, input: str | None = None,
         **env: str) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, "QREC_DATA_DIR": str(data_dir), "QREC_STORE_URL": "",
               "QREC_BROKER_URL": "", **env}
    return subprocess.run([sys.executable, "-m", "services.cli", *args], env=environ,
                          capture_output=True, text=True, timeout=timeout, check=False,
                          input=input)
