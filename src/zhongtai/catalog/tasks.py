"""Job handlers and named schedules of this context."""
