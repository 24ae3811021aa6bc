"""qrec's write model: quality records as event-sourced aggregates.

Pure Python: no database, broker or settings here. Time and ids come from outside.
"""
