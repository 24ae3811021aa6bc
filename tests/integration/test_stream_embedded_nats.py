"""The embedded NATS server qrec starts when QREC_BROKER_URL is empty."""

from __future__ import annotations

import asyncio
from pathlib import Path

import nats

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
