"""qrec's edges: settings and composition, broker apps, CLI, HTTP API, simulator."""
