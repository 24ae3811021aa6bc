"""Identity: who is calling. Credentials (argon2 password hashes, hashed API keys, sessions,
lockout counters) and the security log live in tables beside the event log, never in it;
who holds which role is the write model's access record (domain.access)."""
