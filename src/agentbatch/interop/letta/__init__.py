"""Letta interop: the Agent File (``.af``) format and Letta's batch API shapes.

Pure mapping code (no I/O): ``schema`` validates an Agent File, ``importer`` turns it into
an import plan and a report, ``exporter`` writes our agents back in the same format, and
``batches`` maps Letta's batch requests and responses onto our jobs."""
