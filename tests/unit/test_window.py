"""Context-window planning (pure) and the token counters."""

from __future__ import annotations

from agentbatch.domain.messages import Message, ToolCall
from agentbatch.step.tokens import EstimateCounter, message_tokens
from agentbatch.step.window import (
    FAIL,
    SEND,
    SUMMARISE,
    WindowSettings,
    order_window,
    plan_window,
    summary_message,
)

COUNT = EstimateCounter().count
SETTINGS = WindowSettings(threshold=0.75, target=0.5, summary_tokens=200)


def turn(i: int, size: int = 300) -> list[Message]:
    call = ToolCall(f"c{i}", "send_message", '{"message": "ok"}')
    return [
        Message.user(f"input {i} " + "x" * size),
        Message(role="assistant", tool_calls=(call,), kind="assistant"),
        Message(
            role="tool", content="y" * size, tool_call_id=f"c{i}", name="send_message", kind="tool"
        ),
    ]


def plan(messages: list[Message], stored: int | None = None, fixed: int = 100, window: int = 2000):
    counts = [message_tokens(EstimateCounter(), m) for m in messages]
    return plan_window(
        messages,
        counts,
        stored=len(messages) if stored is None else stored,
        fixed=fixed,
        window=window,
        max_tokens=200,
        settings=SETTINGS,
        count=COUNT,
    )


def test_a_small_window_is_sent_as_is() -> None:
    found = plan(turn(0))
    assert found.action == SEND and found.tokens < 0.75 * 1800


def test_eviction_cuts_before_a_user_message_and_reaches_the_target() -> None:
    messages = [m for i in range(8) for m in turn(i)]
    found = plan(messages)
    assert found.action == SUMMARISE
    assert found.evict % 3 == 0  # whole turns: a tool call never leaves without its result
    assert messages[found.evict].role == "user"
    assert found.kept_tokens <= 0.5 * 1800
    assert found.fold[0].startswith("user: input 0")
    assert any(line.startswith("tool send_message returned") for line in found.fold)


def test_new_messages_never_leave_and_the_summary_heads_the_window() -> None:
    old = [summary_message("before: fact:a1")] + [m for i in range(6) for m in turn(i)]
    new = [Message.user("new input " + "z" * 200)]
    found = plan(old + new, stored=len(old))
    assert found.action == SUMMARISE
    assert found.previous == "before: fact:a1"
    assert found.evict <= len(old) - 1
    mixed = [*turn(0), summary_message("s")]
    assert order_window(mixed)[0].kind == "summary"


def test_a_request_that_cannot_fit_fails_with_the_reason() -> None:
    found = plan(turn(0, size=6000))
    assert found.action == FAIL
    assert "window" in found.note
    found = plan(turn(0), fixed=5000)
    assert found.action == FAIL


def test_evicted_messages_that_do_not_fit_the_summary_request_are_dropped() -> None:
    messages = [m for i in range(12) for m in turn(i, size=900)] + turn(99, size=10)
    found = plan(messages, window=6000)
    assert found.action == SUMMARISE
    assert found.dropped > 0 and "did not fit" in found.note


def test_the_estimate_counts_at_least_one_token_per_three_bytes() -> None:
    assert COUNT("abc" * 10) == 10
    assert COUNT("日本語") == 3  # nine bytes
    assert COUNT("") == 0


def test_window_settings_and_overrides(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import pytest

    from agentbatch.domain.model_settings import settings_problem as window_problem
    from agentbatch.errors import ConfigError
    from agentbatch.memory_settings import MemorySettings, window_for

    settings = MemorySettings()
    assert window_for("anthropic/claude-sonnet-4-5", {}, settings) == 200_000
    assert window_for("anthropic/claude-sonnet-4-5", {"context_window": 8000}, settings) == 8000
    assert window_for("scripted/x", {}, settings) is None  # not managed
    assert window_for("scripted/x", {}, MemorySettings(default_window=9000)) == 9000
    assert window_problem({"context_window": "big"}) is not None
    assert window_problem({"context_window": 10}) is not None
    assert window_problem({"context_window": 4000, "max_tokens": 4000}) is not None
    assert window_problem({"context_window": 4000, "max_tokens": 256}) is None
    monkeypatch.setenv("AGENTBATCH_CONTEXT_THRESHOLD", "0.4")
    monkeypatch.setenv("AGENTBATCH_CONTEXT_TARGET", "0.6")
    with pytest.raises(ConfigError, match="TARGET"):
        MemorySettings.from_env()
