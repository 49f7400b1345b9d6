"""Chaos test: two worker processes on PostgreSQL, killed, paused and cancelled under load.

Not part of the default run: ``make chaos`` (or ``python -m tests.chaos.run``)."""
