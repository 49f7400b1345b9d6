"""The worker: submit, poll, apply, finish. The only place that combines store, providers
and tools."""
