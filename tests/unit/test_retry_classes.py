"""Which failures are worth another attempt (providers' item results), which settings are
configuration errors, and how a failing worker backs off."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from agentbatch.errors import ConfigError
from agentbatch.providers.anthropic.decoding import decode_line
from agentbatch.providers.anthropic.provider import AnthropicBatchProvider
from agentbatch.providers.openai_batch import parse_result_line


@pytest.mark.parametrize(
    ("kind", "retryable"),
    [
        ("invalid_request_error", False),
        ("not_found_error", False),
        ("authentication_error", False),
        ("overloaded_error", True),
        ("api_error", True),
        ("rate_limit_error", True),
    ],
)
def test_anthropic_errored_items_are_retried_only_when_transient(
    kind: str, retryable: bool
) -> None:
    line = {
        "custom_id": "item-1",
        "result": {
            "type": "errored",
            "error": {"type": "error", "error": {"type": kind, "message": "m"}},
        },
    }
    result = decode_line(line)
    assert (result.outcome.value, result.retryable) == ("errored", retryable)
    assert result.error == f"{kind}: m"


@pytest.mark.parametrize(
    ("status", "retryable"),
    [(400, False), (404, False), (422, False), (429, True), (500, True), (503, True)],
)
def test_openai_failed_lines_are_retried_only_when_transient(status: int, retryable: bool) -> None:
    line = {
        "custom_id": "item-1",
        "response": {"status_code": status, "body": {"error": {"message": "nope"}}},
    }
    result = parse_result_line(line)
    assert result is not None and result.retryable is retryable
    expired = parse_result_line(
        {"custom_id": "i", "error": {"code": "batch_expired", "message": "x"}}
    )
    assert expired is not None and expired.retryable and expired.outcome.value == "expired"


def test_missing_key_and_bad_base_url_are_configuration_errors(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with pytest.raises(ConfigError, match="ANTHROPIC_API_KEY is not set"):
        AnthropicBatchProvider().check_config()
    monkeypatch.setenv("ANTHROPIC_API_KEY", "k")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "not a url")
    with pytest.raises(ConfigError, match="ANTHROPIC_BASE_URL"):
        AnthropicBatchProvider().check_config()
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:9")
    AnthropicBatchProvider().check_config()  # well-formed: reachability is not checked here


async def test_a_failing_worker_backs_off_with_one_line_per_failure(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from agentbatch.runtime.worker import MAX_BACKOFF_S, Worker

    class Ctx:
        settings: Any = type("S", (), {"idle_sleep_s": 0.5})()

    worker = Worker.__new__(Worker)
    worker.ctx = Ctx()  # type: ignore[assignment]
    worker._failures = 0
    waits: list[float] = []

    async def idle(seconds: float) -> None:
        waits.append(seconds)

    worker._idle = idle  # type: ignore[method-assign]
    caplog.set_level(logging.INFO, "agentbatch.runtime.worker")
    for _ in range(8):
        try:
            raise OSError("disk full")
        except OSError as exc:
            await worker._back_off(exc)
    assert waits == [1, 2, 4, 8, 16, 32, MAX_BACKOFF_S, MAX_BACKOFF_S]
    records = [r for r in caplog.records if r.name == "agentbatch.runtime.worker"]
    assert len(records) == 8  # one line per back-off
    assert records[0].exc_info is not None  # the first failure's traceback, once
    assert all(r.exc_info is None for r in records[1:])
    assert "8 in a row: OSError: disk full" in records[-1].getMessage()


def test_a_malformed_result_line_fails_only_its_item() -> None:
    bad_usage = {
        "custom_id": "item-1",
        "result": {
            "type": "succeeded",
            "message": {"content": [], "usage": {"input_tokens": "12abc"}},
        },
    }
    no_id = {
        "custom_id": "item-2",
        "result": {
            "type": "succeeded",
            "message": {"content": [{"type": "tool_use", "name": "x", "input": {}}]},
        },
    }
    for line in (bad_usage, no_id):
        result = decode_line(line)
        assert result.outcome.value == "errored" and result.retryable
        assert result.custom_id == line["custom_id"]
        assert result.error is not None and result.error.startswith("unreadable result")
    broken = parse_result_line(
        {"custom_id": "item-3", "response": {"status_code": 200, "body": {"choices": "x"}}}
    )
    assert broken is not None and broken.outcome.value == "errored"
