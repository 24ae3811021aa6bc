"""How a qrec process runs its garbage collector (`qrec ...` and the benchmarks).

qrec's hot paths build many small objects that all live until their batch commits (intake:
some 20 per measured result; an `app.save` of 500 records: their events), and its long-running
components keep big, long-lived state (master data, caches, the policy runner's records). At
Python's default (a young collection every 700 allocations) the collector walks the same live
objects again and again and promotes them into full collections."""

from __future__ import annotations

import gc

# Container allocations between two young-generation collections (Python's default: 700).
# Measured on PostgreSQL, batches of 500, medians of interleaved runs: intake ~99 -> ~72 us of
# Python a message; fine-grained commands ~38 -> ~30 us an event.
YOUNG_COLLECTION_THRESHOLD = 20_000


def tune_garbage_collector() -> None:
    """Once, at the start of a process: what start-up built (modules, settings) is frozen out
    of every later collection, and young collections run less often."""
    gc.collect()
    gc.freeze()
    _, middle, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_COLLECTION_THRESHOLD, middle, oldest)
