"""Moving agents in and out of other systems (Letta's Agent File and batch API)."""
