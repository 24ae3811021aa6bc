"""Event bodies as orjson, decoded back into typed events.

orjson writes dataclasses, datetimes and UUIDs natively; on the way back each event
class's field types (resolved once per class) turn strings into datetimes, UUIDs and
nested value objects again. Old schema versions are upcast on read through the event
class's ``upcast_vN_vN+1`` methods, never rewritten in the store.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable
from datetime import datetime
from functools import cache
from typing import Any
from uuid import UUID

import orjson
from eventsourcing.domain import Snapshot
from eventsourcing.persistence import Mapper, MapperDeserialisationError, StoredEvent, Transcoder
from eventsourcing.utils import get_topic, resolve_topic

Convert = Callable[[Any], Any]


def _identity(value: Any) -> Any:
    return value


def _optional(inner: Convert) -> Convert:
    return lambda value: None if value is None else inner(value)


def _sequence(inner: Convert) -> Convert:
    return lambda values: tuple(inner(v) for v in values)


def _mapping(inner: Convert) -> Convert:
    return lambda values: {k: inner(v) for k, v in values.items()}


def _converter(hint: Any) -> Convert:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        return _optional(_converter(inner[0])) if len(inner) == 1 else _identity
    if origin in (tuple, list, frozenset):
        return _sequence(_converter(args[0])) if args else _identity
    if origin is dict:
        return _mapping(_converter(args[1])) if args else _identity
    if hint is datetime:
        return datetime.fromisoformat
    if hint is UUID:
        return UUID
    if dataclasses.is_dataclass(hint):
        return _dataclass_converter(typing.cast(type, hint))
    return _identity


@cache
def _field_converters(cls: type) -> dict[str, Convert]:
    hints = typing.get_type_hints(cls)
    converters = {name: _converter(hint) for name, hint in hints.items()}
    return {name: conv for name, conv in converters.items() if conv is not _identity}


def _dataclass_converter(cls: type) -> Convert:
    def convert(data: dict[str, Any]) -> Any:
        return cls(**coerce_fields(cls, data))

    return convert


def coerce_fields(cls: type, state: dict[str, Any]) -> dict[str, Any]:
    for name, convert in _field_converters(cls).items():
        if name in state:
            state[name] = convert(state[name])
    return state


def _default(obj: Any) -> Any:
    if isinstance(obj, (set, frozenset)):
        return sorted(obj)
    raise TypeError(f"cannot encode {type(obj).__name__} in an event body")


def tagged(value: Any) -> Any:
    """A JSON-able form of aggregate state that keeps its types (for snapshots, whose
    state has no declared field types): tuples, sets, datetimes, UUIDs, dataclasses."""
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, datetime):
        return {"__dt": value.isoformat()}
    if isinstance(value, UUID):
        return {"__uuid": str(value)}
    if isinstance(value, list):
        return [tagged(v) for v in value]
    if isinstance(value, tuple):
        return {"__tuple": [tagged(v) for v in value]}
    if isinstance(value, (set, frozenset)):
        return {"__set": [tagged(v) for v in sorted(value, key=repr)]}
    if isinstance(value, dict):
        return {"__dict": [[tagged(k), tagged(v)] for k, v in value.items()]}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: tagged(getattr(value, f.name)) for f in dataclasses.fields(value)}
        return {"__dc": get_topic(type(value)), "f": fields}
    raise TypeError(f"cannot snapshot {type(value).__name__}")


def untagged(value: Any) -> Any:
    if isinstance(value, list):
        return [untagged(v) for v in value]
    if not isinstance(value, dict):
        return value
    if "__dt" in value:
        return datetime.fromisoformat(value["__dt"])
    if "__uuid" in value:
        return UUID(value["__uuid"])
    if "__tuple" in value:
        return tuple(untagged(v) for v in value["__tuple"])
    if "__set" in value:
        return {untagged(v) for v in value["__set"]}
    if "__dict" in value:
        return {untagged(k): untagged(v) for k, v in value["__dict"]}
    if "__dc" in value:
        return resolve_topic(value["__dc"])(**{k: untagged(v) for k, v in value["f"].items()})
    return value


@cache
def _stored_form(cls: type) -> tuple[str, int, bool]:
    """What writing an event of this class needs to know about it, looked up once."""
    return get_topic(cls), getattr(cls, "class_version", 1), issubclass(cls, Snapshot)


class OrjsonTranscoder(Transcoder):
    def encode(self, obj: Any) -> bytes:
        return orjson.dumps(obj, default=_default)

    def decode(self, data: bytes) -> Any:
        return orjson.loads(data)


class TypedMapper(Mapper[UUID]):
    """Stored events in and out, with orjson bodies and typed fields."""

    def __init__(self, transcoder: Transcoder | None = None, **kwargs: Any) -> None:
        super().__init__(transcoder=OrjsonTranscoder(), **kwargs)

    def to_stored_event(self, domain_event: Any) -> StoredEvent:
        topic, class_version, is_snapshot = _stored_form(domain_event.__class__)
        state = vars(domain_event).copy()
        originator_id = state.pop("originator_id")
        originator_version = state.pop("originator_version")
        if class_version > 1:
            state["class_version"] = class_version
        if is_snapshot:
            state["state"] = tagged(state["state"])
        body = orjson.dumps(state, default=_default)
        if self.compressor:
            body = self.compressor.compress(body)
        if self.cipher:
            body = self.cipher.encrypt(body)
        return StoredEvent(originator_id, originator_version, topic, body)

    def to_domain_event(self, stored_event: StoredEvent) -> Any:
        cls = resolve_topic(stored_event.topic)
        try:
            state = self.decode_state(stored_event.state)
            self.upcast(cls, state)
            coerce_fields(cls, state)
            if issubclass(cls, Snapshot):
                state["state"] = untagged(state["state"])
        except Exception as e:
            raise MapperDeserialisationError(
                f"cannot read stored event {stored_event.originator_id} "
                f"v{stored_event.originator_version} ({stored_event.topic}): {e}"
            ) from e
        oid = stored_event.originator_id
        state["originator_id"] = oid if isinstance(oid, UUID) else UUID(str(oid))
        state["originator_version"] = stored_event.originator_version
        event = object.__new__(cls)
        object.__setattr__(event, "__dict__", state)
        return event

    def decode_state(self, body: bytes) -> dict[str, Any]:
        if self.cipher:
            body = self.cipher.decrypt(body)
        if self.compressor:
            body = self.compressor.decompress(body)
        return typing.cast(dict[str, Any], orjson.loads(body))

    @staticmethod
    def upcast(cls: type, state: dict[str, Any]) -> None:
        target = getattr(cls, "class_version", 1)
        version = state.pop("class_version", 1)
        while version < target:
            getattr(cls, f"upcast_v{version}_v{version + 1}")(state)
            version += 1
