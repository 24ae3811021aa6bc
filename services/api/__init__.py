"""The HTTP API (`qrec serve`): JSON over the same use cases as the CLI (QualityRecords, the
views, the ledger), with identities, roles and problem+json errors. No business rule lives
here: a route parses the request, calls one use case or view query, and says what happened."""
