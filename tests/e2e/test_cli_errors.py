"""What a user sees when qrec cannot reach what it needs: a sentence, not a traceback."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from services.settings import Settings, SettingsError
from tests.e2e.cli import qrec

SAMPLE = Path(__file__).parents[2] / "services" / "samples" / "masterdata.yaml"


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_an_unreachable_postgresql_store_is_named_with_exit_code_3(tmp_path: Path) -> None:
    url = f"postgresql://postgres@127.0.0.1:{closed_port()}/qrec"
    result = qrec("import", str(SAMPLE), data_dir=tmp_path, QREC_STORE_URL=url,
                  QREC_PG_SCHEMA="plant_a")
    assert result.returncode == 3
    assert f"the store at {url} cannot be used" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_unreachable_broker_stops_qrec_run_at_once_with_exit_code_3(tmp_path: Path) -> None:
    url = f"nats://127.0.0.1:{closed_port()}"
    result = qrec("run", "--for", "30", data_dir=tmp_path, timeout=60, QREC_BROKER_URL=url)
    assert result.returncode == 3
    assert f"no NATS server reachable at {url}" in result.stderr
    assert "Traceback" not in result.stderr


def test_passwords_in_the_store_and_broker_urls_are_never_printed(tmp_path: Path) -> None:
    # deploy/ puts the NATS and PostgreSQL passwords in the URLs
    port = closed_port()
    store = qrec("import", str(SAMPLE), data_dir=tmp_path,
                 QREC_STORE_URL=f"postgresql://qrec:s3cret-pg@127.0.0.1:{port}/qrec")
    assert store.returncode == 3
    assert f"postgresql://qrec:***@127.0.0.1:{port}/qrec" in store.stderr
    broker = qrec("run", "--for", "30", data_dir=tmp_path, timeout=60,
                  QREC_BROKER_URL=f"nats://qrec:s3cret-nats@127.0.0.1:{port}")
    assert broker.returncode == 3
    assert f"nats://qrec:***@127.0.0.1:{port}" in broker.stderr
    wrong = qrec("import", str(SAMPLE), data_dir=tmp_path,
                 QREC_BROKER_URL="tls://qrec:s3cret-tls@nats.plant:4222")
    assert wrong.returncode == 2 and "tls://qrec:***@nats.plant:4222" in wrong.stderr
    for result in (store, broker, wrong):
        assert "s3cret" not in result.stdout + result.stderr


def test_a_store_url_of_another_kind_is_refused_before_anything_runs(tmp_path: Path) -> None:
    result = qrec("import", str(SAMPLE), data_dir=tmp_path, QREC_STORE_URL="mysql://db/qrec")
    assert result.returncode == 2
    assert "QREC_STORE_URL must be empty (SQLite) or postgresql://" in result.stderr


def test_a_time_or_record_qrec_cannot_read_is_a_usage_error_with_the_reason(
        tmp_path: Path) -> None:
    late = qrec("history", "lot:LOT-1", "--as-of", "yesterday", data_dir=tmp_path)
    assert late.returncode == 2
    assert "not a time: 'yesterday'" in late.stderr and "Traceback" not in late.stderr
    bogus = qrec("audit", "export", "bogus", "-o", str(tmp_path / "p.json"), data_dir=tmp_path)
    assert bogus.returncode == 2
    assert "a record is a UUID or kind:key" in bogus.stderr and "Traceback" not in bogus.stderr


def test_a_stream_prefix_that_is_not_one_subject_token_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="'plant.a'"):
        Settings.from_env({"QREC_STREAM_PREFIX": "plant.a"})
    flag = qrec("run", "--for", "1", "--stream-prefix", "a*", data_dir=tmp_path)
    assert flag.returncode == 2, flag.stderr
    assert "QREC_STREAM_PREFIX must be letters, digits, '-' or '_'" in flag.stderr
    assert "'a*'" in flag.stderr and "Traceback" not in flag.stderr
