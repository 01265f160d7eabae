"""Task domain: the state machine, routing and the use cases (create, cancel, retry, run)."""
