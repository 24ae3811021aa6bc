"""Ingest: line, lab and ERP messages from NATS JetStream into the write model.

Each kind of message has a durable pull consumer that takes messages in batches. A batch is
interpreted message by message (services.contracts), committed in one event-store
transaction (QualityRecords.record_inspections / record_readings), and only then acked.
A handler hands its batch to a commit task and returns once that commit has begun, so the
next batch is fetched and interpreted while this one commits; one commit runs at a time.

- A message that cannot be interpreted (bad JSON, wrong schema, an unknown plan, a wrong
  unit...) goes to `qrec.dlq.<line or source>` with the reason, and is terminated: it is
  never retried and never holds up the good messages of its batch.
- Anything else that fails (the database is down...) is transient: the batch is nacked with
  a growing delay and comes back; after `max_deliver` deliveries it is dead-lettered too.
- Exactly once in effect: record ids derive from (line, message_id), so a redelivered or
  re-sent message is a duplicate, acked and not recorded again.

Validation happens in services.contracts, not in FastStream: a pydantic failure there would
fail the whole batch. The handlers' annotations are kept for the AsyncAPI document only.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Protocol

import nats
import nats.errors
import orjson
from fast_depends.pydantic import PydanticSerializer
from faststream import AckPolicy, Context
from faststream.nats import JStream, NatsBroker, PullSub
from faststream.nats.message import NatsBatchMessage
from nats.js.api import ConsumerConfig

from domain.application import QualityRecords
from domain.records import QualityError
from domain.reports import Outcome
from services.contracts import (
    BadMessage,
    CalibrationV1,
    CheckpointMessage,
    Contract,
    DeadLetter,
    EventEnvelope,
    GenealogyV1,
    InspectionV1,
    LogResumed,
    LotMovementV1,
    ProcessV1,
    Topology,
    decode,
)
from services.ledger_publish import RESUMED_HEADER
from services.log_identity import LOG_ID_HEADER, described
from services.published_events import POSITION_HEADER, RESUMED, SEGMENT_HEADER
from services.stream_claims import claim_consumer, claim_stream
from services.streams import stream_config

TheBatch = Annotated[NatsBatchMessage, Context("message")]
REASON_HEADER = "Qrec-Reason"
ORIGINAL_SUBJECT_HEADER = "Qrec-Original-Subject"


@dataclass(frozen=True)
class IngestOptions:
    batch_size: int = 500
    # Seconds a fetch waits to fill a batch. Not much lower: a fetch that times out just as
    # a message arrives can strand it until ack_wait (asyncio.wait_for on Python 3.11).
    batch_timeout: float = 0.2
    max_deliver: int = 5
    ack_wait: float = 10.0
    backoff: tuple[float, ...] = (0.5, 2.0, 5.0, 15.0)

    def delay(self, deliveries: int) -> float:
        return self.backoff[min(deliveries, len(self.backoff)) - 1]


@dataclass
class IngestStats:
    received: int = 0
    recorded: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    retried: int = 0
    batches: int = 0
    results: int = 0
    commit_seconds: float = 0.0
    last_errors: list[str] = field(default_factory=list)


class RawMessage(Protocol):
    """What ingest needs of a nats-py message (also what TestNatsBroker hands out)."""

    subject: str
    data: bytes

    async def ack(self) -> None: ...
    async def nak(self, delay: float | None = None) -> None: ...
    async def term(self) -> None: ...


Publish = Callable[[str, bytes, dict[str, str]], Awaitable[Any]]
RecordMany = Callable[[list[Any]], list[Outcome]]


def deliveries(msg: Any) -> int:
    try:
        return int(msg.metadata.num_delivered)
    except Exception:  # noqa: BLE001 - not a JetStream message (TestNatsBroker)
        return 1


def stream_sequence(msg: Any) -> int | None:
    try:
        return int(msg.metadata.sequence.stream)
    except Exception:  # noqa: BLE001
        return None


def header_safe(text: str) -> str:
    return " ".join(text.split())[:1000]


class Ingest:
    """The handlers' logic, apart from FastStream: batches of raw messages in, commits,
    acks and dead letters out."""

    def __init__(self, records: QualityRecords, topology: Topology, publish: Publish,
                 options: IngestOptions | None = None, *, log_id: str) -> None:
        self.records, self.topology, self.publish = records, topology, publish
        self.log_id = log_id
        self.options = options or IngestOptions()
        self.stats = IngestStats()
        # One writer: the store serialises inserts anyway; batches, not threads, give speed.
        # A handler takes the writer for its batch and the commit task gives it back.
        self.writer = asyncio.Semaphore(1)
        self.committing: set[asyncio.Task[None]] = set()
        self.closing = False
        self.in_flight = 0
        self.idle = asyncio.Event()
        self.idle.set()

    async def take_inspections(self, msgs: Sequence[RawMessage]) -> None:
        await self.take(msgs, InspectionV1, self.records.record_inspections)

    async def take_readings(self, msgs: Sequence[RawMessage]) -> None:
        await self.take(msgs, ProcessV1, self.records.record_readings)

    async def take_calibrations(self, msgs: Sequence[RawMessage]) -> None:
        await self.take(msgs, CalibrationV1, self.one_by_one(self.records.record_calibration))

    async def take_lot_movements(self, msgs: Sequence[RawMessage]) -> None:
        await self.take(msgs, LotMovementV1, self.one_by_one(self.records.record_lot_movement))

    async def take_genealogy(self, msgs: Sequence[RawMessage]) -> None:
        await self.take(msgs, GenealogyV1, self.one_by_one(self.records.record_genealogy))

    @staticmethod
    def one_by_one(command: Callable[[Any], Outcome]) -> RecordMany:
        def record_each(reports: list[Any]) -> list[Outcome]:
            outcomes = []
            for report in reports:
                try:
                    outcomes.append(command(report))
                except QualityError as e:
                    outcomes.append(Outcome("rejected", error=e))
            return outcomes
        return record_each

    async def take(self, msgs: Sequence[RawMessage], contract: type[Contract],
                   record: RecordMany) -> None:
        """Interpret a batch, then hand it to a commit task and return once its commit has
        begun: the next batch is fetched and interpreted while this one commits (a pipeline
        two batches deep). The commit task acks after the commit, dead-letters the refused
        messages, and nacks the rest for later."""
        if self.closing:  # shutting down: hand the batch back to the server at once
            for m in msgs:
                await m.nak()
            return
        self.batch_started()
        self.stats.received += len(msgs)
        self.stats.batches += 1
        try:
            good, refused = self.interpret_all(msgs, contract)
            await self.writer.acquire()
        except BaseException:
            self.batch_finished()
            raise
        task = asyncio.create_task(self.commit_then_ack(good, refused, record))
        self.committing.add(task)
        task.add_done_callback(self.commit_task_done)

    def batch_started(self) -> None:
        self.in_flight += 1
        self.idle.clear()

    def batch_finished(self) -> None:
        self.in_flight -= 1
        if not self.in_flight:
            self.idle.set()

    def commit_task_done(self, task: asyncio.Task[None]) -> None:
        self.committing.discard(task)
        self.batch_finished()
        if not task.cancelled() and (e := task.exception()) is not None:
            # Acks or dead letters that did not go out: the server redelivers those messages.
            self.note_error(e)

    def note_error(self, error: BaseException) -> None:
        self.stats.last_errors = (self.stats.last_errors + [f"{type(error).__name__}: {error}"]
                                  )[-5:]

    async def drain(self, timeout: float) -> bool:
        """Stop taking batches; wait for the ones in flight to commit and ack."""
        self.closing = True
        return await self.settle(timeout)

    async def settle(self, timeout: float) -> bool:
        """Wait until every batch taken so far is committed and acked (or handed back)."""
        try:
            await asyncio.wait_for(self.idle.wait(), timeout)
        except TimeoutError:
            return False
        return True

    async def commit_then_ack(self, good: list[tuple[RawMessage, Any]],
                              refused: list[tuple[RawMessage, str]], record: RecordMany) -> None:
        """Runs holding the writer; the commit gives it back."""
        done: list[RawMessage] = []
        try:
            outcomes = await self.commit(record, [report for _, report in good])
        except Exception as e:  # noqa: BLE001 - transient: the store, the network...
            refused += await self.retry_later([m for m, _ in good], e)
        else:
            done = self.sort_outcomes(good, outcomes, refused)
        await self.dead_letter(refused)
        for m in done:  # no reply awaited: an ack is one publish on the connection
            await m.ack()

    def sort_outcomes(self, good: list[tuple[RawMessage, Any]], outcomes: list[Outcome],
                      refused: list[tuple[RawMessage, str]]) -> list[RawMessage]:
        """The messages to ack; the ones the domain rejected are added to `refused`."""
        done = []
        for (msg, report), outcome in zip(good, outcomes, strict=True):
            if outcome.status == "rejected":
                refused.append((msg, outcome.reason or "rejected"))
            else:
                done.append(msg)
                self.count(outcome, report)
        return done

    def interpret_all(self, msgs: Sequence[RawMessage], contract: type[Contract]
                      ) -> tuple[list[tuple[RawMessage, Any]], list[tuple[RawMessage, str]]]:
        good, refused = [], []
        for msg in msgs:
            try:
                good.append((msg, self.interpret(msg, contract)))
            except BadMessage as e:
                refused.append((msg, str(e)))
        return good, refused

    def interpret(self, msg: RawMessage, contract: type[Contract]) -> Any:
        message = decode(msg.data, contract)
        line = getattr(message, "line", None)
        if line is not None and line != self.topology.source_of(msg.subject):
            raise BadMessage(f"line {line!r} in the message, but it came on {msg.subject}")
        return message.to_report()

    async def commit(self, record: RecordMany, reports: list[Any]) -> list[Outcome]:
        """One transaction in a worker thread; the writer is given back as soon as it is
        over, so the next batch commits while this one's acks go out."""
        try:
            if not reports:
                return []
            started = time.perf_counter()
            outcomes = await asyncio.to_thread(record, reports)
            self.stats.commit_seconds += time.perf_counter() - started
            return outcomes
        finally:
            self.writer.release()

    def count(self, outcome: Outcome, report: Any) -> None:
        if outcome.status == "duplicate":
            self.stats.duplicates += 1
            return
        self.stats.recorded += 1
        self.stats.results += len(getattr(report, "results", ())) or 1

    async def retry_later(self, msgs: list[RawMessage], error: Exception
                          ) -> list[tuple[RawMessage, str]]:
        """Nack with backoff; the ones on their last delivery are dead-lettered instead."""
        reason = f"gave up after {self.options.max_deliver} deliveries: " \
                 f"{type(error).__name__}: {error}"
        self.note_error(error)
        last = [m for m in msgs if deliveries(m) >= self.options.max_deliver]
        again = [m for m in msgs if deliveries(m) < self.options.max_deliver]
        self.stats.retried += len(again)
        await asyncio.gather(*(m.nak(delay=self.options.delay(deliveries(m))) for m in again))
        return [(m, reason) for m in last]

    async def dead_letter(self, refused: list[tuple[RawMessage, str]]) -> None:
        async def one(msg: RawMessage, reason: str) -> None:
            try:
                await self.publish(*self.dead_letter_message(msg, reason))
            except Exception:  # noqa: BLE001 - the DLQ is unreachable: try again later
                await msg.nak(delay=self.options.delay(deliveries(msg)))
                return
            self.stats.dead_lettered += 1
            await msg.term()  # never retried
        await asyncio.gather(*(one(m, r) for m, r in refused))

    def dead_letter_message(self, msg: RawMessage, reason: str
                            ) -> tuple[str, bytes, dict[str, str]]:
        seq = stream_sequence(msg)
        letter = DeadLetter(reason=reason, subject=msg.subject, deliveries=deliveries(msg),
                            stream_sequence=seq,
                            message=msg.data.decode("utf-8", errors="replace"))
        headers = {REASON_HEADER: header_safe(reason), ORIGINAL_SUBJECT_HEADER: msg.subject,
                   LOG_ID_HEADER: self.log_id}
        if seq is not None:  # a DLQ publish retried after a crash is dropped by the server
            headers["Nats-Msg-Id"] = f"dlq:{self.topology.lines_stream}:{seq}"
        subject = self.topology.dlq(self.topology.source_of(msg.subject))
        return subject, orjson.dumps(letter.model_dump()), headers


class TimeoutsNatsCanName:
    """A pull subscription whose fetch raises only nats' TimeoutError.

    nats-py's fetch also raises a bare asyncio.TimeoutError when the deadline has passed
    between its requests (the event loop was busy); FastStream's batch pull loop catches
    only nats' TimeoutError, so its task dies and that consumer stops for good, silently
    (ag2ai/faststream#1525). Here a timeout is a timeout: the loop fetches again.
    """

    def __init__(self, subscription: Any) -> None:
        self.subscription = subscription

    async def fetch(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return await self.subscription.fetch(*args, **kwargs)
        except nats.errors.TimeoutError:
            raise
        except TimeoutError:
            raise nats.errors.TimeoutError from None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.subscription, name)


def keep_pull_loops_alive(broker: NatsBroker) -> None:
    for subscriber in broker.subscribers:
        pulled = getattr(subscriber, "subscription", None)
        if hasattr(pulled, "fetch") and not isinstance(pulled, TimeoutsNatsCanName):
            subscriber.subscription = TimeoutsNatsCanName(pulled)  # type: ignore[attr-defined]


async def raw_batch(msg: Any) -> list[bytes]:
    """A decoder that leaves validation to services.contracts (see the module docstring)."""
    return [m.data for m in msg.raw_message]


def build_broker(url: str, topology: Topology, *, for_docs: bool = False, **kwargs: Any
                 ) -> NatsBroker:
    # Handlers validate with services.contracts; FastStream's own validation (needed for
    # the AsyncAPI document only) would fail a whole batch for one bad message.
    serializer = PydanticSerializer() if for_docs else None
    return NatsBroker(url, serializer=serializer, **kwargs)


# One durable consumer each.
INGESTED = ("inspection", "process", "calibration", "lot", "genealogy")


def subscribe_ingest(broker: NatsBroker, ingest_of: Callable[[], Ingest], topology: Topology,
                     options: IngestOptions, log_id: str | None = None) -> None:
    """The durable batch pull consumers, each naming the log it consumes for (the subjects
    qrec publishes on are added for the AsyncAPI document by document_outputs)."""
    lines = JStream(name=topology.lines_stream, declare=False)

    def consumer(subject: str, what: str, title: str, description: str) -> Any:
        return broker.subscriber(
            subject, stream=lines, durable=topology.durable(what),
            pull_sub=PullSub(options.batch_size, timeout=options.batch_timeout, batch=True),
            # One more than ingest's own limit: ingest dead-letters on the last delivery,
            # the server's limit only stops a loop if a worker dies on that one.
            config=ConsumerConfig(max_deliver=options.max_deliver + 1,
                                  ack_wait=options.ack_wait,
                                  max_ack_pending=max(20_000, 4 * options.batch_size),
                                  description=described(f"qrec ingest of {what}", log_id)
                                  if log_id else None),
            ack_policy=AckPolicy.MANUAL, decoder=raw_batch, title=title,
            description=description)

    @consumer(topology.inspections, "inspection", "line inspection results",
              "Inspection results from a line (schema qrec.inspection.v1).")
    async def when_a_line_reports_inspections_record_them(
            batch: list[InspectionV1], msg: TheBatch) -> None:
        await ingest_of().take_inspections(msg.raw_message)

    @consumer(topology.readings, "process", "line process readings",
              "Process-parameter readings from a line (schema qrec.process.v1).")
    async def when_a_line_reports_readings_record_them(
            batch: list[ProcessV1], msg: TheBatch) -> None:
        await ingest_of().take_readings(msg.raw_message)

    @consumer(topology.calibrations, "calibration", "lab calibrations",
              "Calibration results from a calibration lab (schema qrec.calibration.v1).")
    async def when_a_lab_reports_calibrations_record_them(
            batch: list[CalibrationV1], msg: TheBatch) -> None:
        await ingest_of().take_calibrations(msg.raw_message)

    @consumer(topology.lot_movements, "lot", "ERP lot movements",
              "Lots shipped or returned, from the ERP (schema qrec.lot.v1).")
    async def when_the_erp_moves_a_lot_record_it(
            batch: list[LotMovementV1], msg: TheBatch) -> None:
        await ingest_of().take_lot_movements(msg.raw_message)

    @consumer(topology.genealogy, "genealogy", "ERP lot genealogy",
              "A lot made (or received) with its quantity and the component lots it "
              "consumed, from the ERP (schema qrec.genealogy.v1). A cycle is refused.")
    async def when_the_erp_reports_genealogy_record_it(
            batch: list[GenealogyV1], msg: TheBatch) -> None:
        await ingest_of().take_genealogy(msg.raw_message)


class IngestService:
    """The ingest FastStream broker around one Ingest: start, drain, stop."""

    def __init__(self, records: QualityRecords, url: str, topology: Topology,
                 options: IngestOptions | None = None, *, log_id: str) -> None:
        self.options = options or IngestOptions()
        self.url, self.log_id = url, log_id
        self.broker = build_broker(url, topology, logger=None)
        self.ingest = Ingest(records, topology, self.publish_dead_letter, self.options,
                             log_id=log_id)
        self.topology = topology
        subscribe_ingest(self.broker, lambda: self.ingest, topology, self.options, log_id)

    async def publish_dead_letter(self, subject: str, body: bytes,
                                  headers: dict[str, str]) -> Any:
        return await self.broker.publish(body, subject, headers=headers,
                                         stream=self.topology.dlq_stream)

    async def start(self) -> None:
        await self.claim()
        await self.broker.start()
        keep_pull_loops_alive(self.broker)

    async def claim(self) -> None:
        """The lines and dead-letter streams and the durable consumers must be this log's
        (services.stream_claims) before a message is taken: two stores on one prefix would
        split every line's messages between them."""
        nc = await nats.connect(self.url, name=f"{self.topology.prefix}-ingest-claim")
        try:
            js, t = nc.jetstream(), self.topology
            await claim_stream(js, stream_config(t, t.lines_stream), self.log_id, "ingest")
            for what in INGESTED:
                await claim_consumer(js, t.lines_stream, t.durable(what), self.log_id,
                                     "ingest")
            await claim_stream(js, stream_config(t, t.dlq_stream), self.log_id, "ingest",
                               own=older_dead_letters)
        finally:
            await nc.close()

    async def stop(self, timeout: float = 30.0) -> None:
        """A batch being committed finishes and is acked; batches fetched after that are
        nacked; then the consumers stop. Nothing is half-committed: a batch is one
        transaction, and an unacked message is redelivered."""
        await self.ingest.drain(timeout)
        await self.broker.stop()


async def older_dead_letters(msg: Any) -> bool:
    """Dead letters without a log id are an older qrec's: nothing to check them against."""
    return True


def specification(topology: Topology | None = None) -> Any:
    """The AsyncAPI document of every subject qrec reads or writes (docs/asyncapi.json;
    docs/streams.md says the rest)."""
    from faststream.specification import AsyncAPI

    topology = topology or Topology()
    broker = build_broker("nats://127.0.0.1:4222", topology, for_docs=True)
    subscribe_ingest(broker, _no_ingest, topology, IngestOptions())
    document_outputs(broker, topology)
    spec: Any = AsyncAPI(broker, title="qrec", version="1",
                    description="qrec's message stream: line, lab and ERP messages in "
                                "(contracts v1, and the ERP's genealogy); dead letters, "
                                "committed events and signed checkpoints out, each naming "
                                "the store's log (docs/streams.md)."
                    ).to_specification()
    for title, headers in OUTPUT_HEADERS.items():
        # FastStream does not write message headers; AsyncAPI 3 has them as a schema.
        setattr(spec.components.messages[f"{title}:Message"], "headers",  # noqa: B010
                {"type": "object", "properties": {
                    name: {"type": "string", "description": text}
                    for name, text in headers.items()},
                 "required": [name for name in headers if name not in ONLY_AFTER_A_RESUME]})
    return spec


ONLY_AFTER_A_RESUME = {SEGMENT_HEADER, RESUMED_HEADER}
LOG_ID = {LOG_ID_HEADER: "the log id of the store that published it (docs/streams.md)"}
OUTPUT_HEADERS = {
    "dead letters": {**LOG_ID, REASON_HEADER: "why it was refused",
                     ORIGINAL_SUBJECT_HEADER: "the subject it came on"},
    "committed events": {**LOG_ID, "Nats-Msg-Id": "the event id",
                         POSITION_HEADER: "the store position",
                         SEGMENT_HEADER: "after a resume only: the stream sequence of the "
                                         "marker its segment began with"},
    "log resumed": {**LOG_ID, POSITION_HEADER: "the last position the store and the "
                                               "stream share"},
    "ledger checkpoints": {**LOG_ID, "Nats-Msg-Id": "key id, tree size and root",
                           RESUMED_HEADER: "on the checkpoint a resume publishes only: the "
                                           "stream sequence before it"},
}


def document_outputs(broker: NatsBroker, topology: Topology) -> None:
    """The subjects qrec publishes on, for the AsyncAPI document (ingest, the relay and the
    ledger publish with their own connections)."""
    broker.publisher(topology.dlq("{source}"), title="dead letters", schema=DeadLetter,
                     description=f"Messages that cannot be interpreted, with the reason (also "
                                 f"in the {REASON_HEADER} header). Never retried.")
    broker.publisher(topology.event("{record_kind}", "{event_name}"),
                     title="committed events", schema=EventEnvelope,
                     description="Every committed event once, in store order, naming its "
                                 "log, record (id and key) and position; Nats-Msg-Id is the "
                                 "event id. Published by services.relay.")
    broker.publisher(topology.event(*RESUMED), title="log resumed", schema=LogResumed,
                     description="A restored store's events go on after this marker "
                                 "(qrec stream resume-after-restore).")
    broker.publisher(topology.checkpoints, title="ledger checkpoints",
                     schema=CheckpointMessage,
                     description="Signed checkpoints of the ledger (tree size, root), for "
                                 "copies outside the database.")


def _no_ingest() -> Ingest:
    raise RuntimeError("documentation only")
