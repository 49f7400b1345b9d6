"""Logging: the ids of the job, run and provider batch being worked on, on every line.

The runtime binds ids around each unit of work (``bind(job_id=…)``, a context variable,
so background tasks inherit them); a filter copies them onto each record. Lines are text
(``… job_id=job_… batch_id=pbatch_…``) or, with ``AGENTBATCH_LOG_FORMAT=json``, one JSON
object per line with ``ts``, ``level``, ``logger``, ``message`` and the ids."""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator
from contextvars import ContextVar
from datetime import UTC, datetime

IDS = ("job_id", "run_id", "batch_id", "item_id", "agent_id")
_bound: ContextVar[dict[str, str] | None] = ContextVar("agentbatch_log_ids", default=None)


@contextlib.contextmanager
def bind(**ids: str | None) -> Iterator[None]:
    """Add ids to every log line written inside this block (and tasks started from it)."""
    current = _bound.get()
    merged = dict(current) if current else {}
    merged.update({k: v for k, v in ids.items() if v})
    token = _bound.set(merged)
    try:
        yield
    finally:
        _bound.reset(token)


def bound_ids() -> dict[str, str]:
    return dict(_bound.get() or {})


class IdsFilter(logging.Filter):
    """Copies the bound ids onto the record (``extra=`` ids given to a call win)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in (_bound.get() or {}).items():
            if not getattr(record, key, None):
                setattr(record, key, value)
        return True


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        ids = " ".join(f"{k}={v}" for k in IDS if (v := getattr(record, k, None)))
        return f"{line} [{ids}]" if ids else line


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in IDS:
            value = getattr(record, key, None)
            if value:
                out[key] = value
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False, default=str)


def setup_logging(verbose: bool, log_format: str = "text") -> None:
    """The root handler for the command line (text or JSON lines on stderr)."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    handler.addFilter(IdsFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.INFO if verbose else logging.WARNING)
