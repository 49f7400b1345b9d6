"""The `agentbatch` command line."""
