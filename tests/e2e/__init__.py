"""End to end: act, Groovy, PostgreSQL, concurrency, the demo and the server matrix (mostly marked slow)."""
