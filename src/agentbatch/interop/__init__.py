"""Moving agents and results in and out of other systems: Letta's Agent File and batch API,
OpenAI Batch API input and output files, CSV and JSONL."""
