"""schemathesis against a live surveil in a loopback-only network namespace (scripts/fuzz)."""
