"""Read models built from the notification log, and the audit ledger."""
