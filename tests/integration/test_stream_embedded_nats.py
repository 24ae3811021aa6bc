"""The embedded NATS server qrec starts when QREC_BROKER_URL is empty."""

from __future__ import annotations

import asyncio
from pathlib import Path

import nats
import pytest

from services.embedded_nats import EmbeddedNats


def test_the_embedded_server_runs_jetstream_on_loopback_with_data_in_the_data_dir(
        tmp_path: Path) -> None:
    with EmbeddedNats(tmp_path) as server:
        assert server.url.startswith("nats://127.0.0.1:")

        async def publish_one() -> int:
            nc = await nats.connect(server.url)
            js = nc.jetstream()
            await js.add_stream(name="EMBEDDED", subjects=["embedded.>"])
            ack = await js.publish("embedded.hello", b"hi")
            await nc.close()
            return ack.seq

        assert asyncio.run(publish_one()) == 1
        assert (tmp_path / "nats" / "jetstream").is_dir()
    assert server.process is not None and server.process.poll() is not None


def test_each_line_the_lab_and_the_erp_may_publish_only_their_own_subjects(
        tmp_path: Path) -> None:
    with EmbeddedNats(tmp_path) as server:
        assert oct((tmp_path / "nats" / "users.json").stat().st_mode & 0o777) == "0o600"

        async def publish_as(user: str, subjects: list[str]) -> list[str]:
            refused: list[str] = []

            async def note(e: Exception) -> None:
                refused.append(str(e))

            nc = await nats.connect(server.url_for(user), error_cb=note)
            for subject in subjects:
                await nc.publish(subject, b"{}")
            await nc.flush()
            await asyncio.sleep(0.2)
            await nc.close()
            return refused

        async def stored() -> list[str]:
            nc = await nats.connect(server.url)  # qrec itself
            sub = await nc.subscribe("qrec.>")
            line = await publish_as("line-L1", ["qrec.line.L1.inspection",
                                                "qrec.line.L2.inspection", "qrec.erp.lot"])
            lab = await publish_as("lab", ["qrec.lab.calibration", "qrec.line.L1.process"])
            seen = []
            while True:
                try:
                    seen.append((await sub.next_msg(timeout=0.5)).subject)
                except nats.errors.TimeoutError:
                    break
            await nc.close()
            assert len(line) == 2 and all("permissions violation" in r.lower() for r in line), line
            assert len(lab) == 1 and "qrec.line.l1.process" in lab[0].lower(), lab
            return seen

        assert sorted(asyncio.run(stored())) == ["qrec.lab.calibration",
                                                 "qrec.line.L1.inspection"]

        async def wrong_password() -> None:
            await nats.connect(server.url_for("line-L1").replace("line-L1:", "line-L1:x"),
                               allow_reconnect=False, max_reconnect_attempts=1)

        with pytest.raises(Exception, match="(?i)authorization"):
            asyncio.run(wrong_password())
