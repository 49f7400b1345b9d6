"""Turn run results (``services.results.run_result`` dicts) into export lines: JSONL, CSV,
or the OpenAI Batch API output shape. Pure: the caller streams rows in and writes lines out."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

FORMATS = ("jsonl", "csv", "openai")

CSV_COLUMNS = (
    "agent_id",
    "agent_name",
    "status",
    "stop_reason",
    "input",
    "reply",
    "error",
    "steps",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "cost_usd",
    "model",
    "run_id",
    "finished_at",
)

_FINISH = {
    "max_steps": "length",
    "terminal_tool": "stop",
    "final_reply": "stop",
    "end_turn": "stop",
}


def jsonl_line(row: Mapping[str, Any]) -> str:
    return json.dumps(dict(row), ensure_ascii=False) + "\n"


def csv_header() -> str:
    return _csv_line(CSV_COLUMNS)


def csv_line(row: Mapping[str, Any]) -> str:
    return _csv_line(["" if row.get(c) is None else row.get(c) for c in CSV_COLUMNS])


def _csv_line(values: Any) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(values)
    return buf.getvalue()


def _unix(value: str | None) -> int:
    return int(datetime.fromisoformat(value).timestamp()) if value else 0


def openai_line(row: Mapping[str, Any], custom_id: str) -> str:
    """One line of an OpenAI batch output file: a chat.completion for a run that ended
    normally (``finish_reason`` ``length`` when it ran out of steps), an error otherwise."""
    line: dict[str, Any] = {"id": f"batch_req_{row['run_id']}", "custom_id": custom_id}
    if row["status"] == "completed":
        model = str(row["model"]).split("/", 1)[-1]
        body = {
            "id": f"chatcmpl-{row['run_id']}",
            "object": "chat.completion",
            "created": _unix(row.get("finished_at")),
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": row.get("reply"), "refusal": None},
                    "finish_reason": _FINISH.get(str(row.get("stop_reason")), "stop"),
                    "logprobs": None,
                }
            ],
            "usage": {
                "prompt_tokens": row["input_tokens"] + row["cache_read_tokens"],
                "completion_tokens": row["output_tokens"],
                "total_tokens": row["input_tokens"]
                + row["cache_read_tokens"]
                + row["output_tokens"],
                "prompt_tokens_details": {"cached_tokens": row["cache_read_tokens"]},
            },
            "agentbatch": {"stop_reason": row.get("stop_reason"), "steps": row["steps"]},
        }
        line["response"] = {"status_code": 200, "request_id": row["run_id"], "body": body}
        line["error"] = None
    else:
        code = {"failed": "run_failed", "cancelled": "run_cancelled"}.get(
            str(row["status"]), "run_not_finished"
        )
        message = row.get("error") or f"the run is {row['status']}"
        line["response"] = None
        line["error"] = {"code": code, "message": message}
    return json.dumps(line, ensure_ascii=False) + "\n"


def custom_id_rule(metadata: Mapping[str, Any]) -> Callable[[Mapping[str, Any]], str]:
    """How a job submitted from an OpenAI batch file named its requests: by agent name, by
    agent id, or one custom_id per agent; other jobs use the agent id."""
    source = metadata.get("openai_batch") if isinstance(metadata, dict) else None
    if isinstance(source, dict):
        mapping = source.get("custom_ids")
        if isinstance(mapping, dict):
            return lambda row: str(mapping.get(row["agent_id"], row["agent_id"]))
        if source.get("custom_id") == "name":
            return lambda row: str(row["agent_name"])
    return lambda row: str(row["agent_id"])
