"""Tools: built-ins that run inside the apply transaction, and the sandbox for custom ones."""
