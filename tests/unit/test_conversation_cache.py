"""Anthropic conversation caching: breakpoints at the end of the request and at the end of
the previous step's request (four at most with tools and system), the ttl option, and the
emulator's accounting of a three-step run: the second and third steps read what the step
before them wrote."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from agentbatch.domain.messages import Message
from agentbatch.providers.anthropic import encode_params
from agentbatch.testing.anthropic.responder import PromptCache
from agentbatch.testing.anthropic.validation import check_params
from agentbatch.tools.builtins import BUILTIN_SPECS
from tests.unit.test_anthropic_encoding import TOOLS, assistant, call, request, tool

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def steps(memory_edit: bool = False) -> list[tuple[Message, ...]]:
    """The windows of a three-step run (each step: a tool call and its result)."""
    name = "core_memory_append" if memory_edit else "note"
    history: list[Message] = [Message.user("Please take notes on what I like: " + "tea " * 200)]
    out = [tuple(history)]
    for k in range(2):
        history += [
            assistant(None, call(f"toolu_{k}", name)),
            tool(f"toolu_{k}", "saved " * 40),
            Message.user("[heartbeat] continue", kind="heartbeat"),
        ]
        out.append(tuple(history))
    return out


def marks(params: dict[str, Any]) -> list[tuple[int, str]]:
    return [
        (i, b["cache_control"]["ttl"])
        for i, turn in enumerate(params["messages"])
        for b in turn["content"]
        if "cache_control" in b
    ]


def encode(window: tuple[Message, ...], option: str | None = "1h") -> dict[str, Any]:
    options = {} if option is None else {"cache_conversation": option}
    params = encode_params(request(*window, options=options, tools=TOOLS))
    check_params(params, verify_signatures=False)
    return params


def test_the_end_and_the_previous_end_carry_breakpoints() -> None:
    first, second, third = steps()
    assert marks(encode(first)) == [(0, "1h")]
    assert marks(encode(second)) == [(0, "1h"), (2, "1h")]
    assert marks(encode(third)) == [(2, "1h"), (4, "1h")]


def test_ttl_option_and_off() -> None:
    third = steps()[2]
    assert marks(encode(third, "5m")) == [(2, "5m"), (4, "5m")]
    assert marks(encode(third, "off")) == []
    assert marks(encode(third, "nonsense")) == []


def test_auto_skips_writes_that_a_memory_edit_would_void() -> None:
    assert marks(encode(steps(memory_edit=True)[2], "auto")) == []
    assert marks(encode(steps(memory_edit=False)[2], "auto")) == [(2, "1h"), (4, "1h")]
    assert marks(encode(steps()[2], None)) == marks(encode(steps()[2], "auto"))  # default
    # the first step: marked unless the agent can edit its memory
    assert marks(encode(steps()[0], "auto")) == [(0, "1h")]
    params = encode_params(
        request(*steps()[0], options={}, tools=(*TOOLS, BUILTIN_SPECS["core_memory_append"]))
    )
    assert marks(params) == []
    # an agent whose only tool is send_message mostly answers in one step: no write
    only_reply = encode_params(
        request(*steps()[0], options={}, tools=(BUILTIN_SPECS["send_message"],))
    )
    assert marks(only_reply) == []


def run_cost(option: str, gap: timedelta, memory_edit: bool = False) -> tuple[float, list[Any]]:
    """Input cost of the run in base-price units (read 0.1, write 1.25 / 2.0) with the
    emulator's prompt cache, steps ``gap`` apart."""
    cache = PromptCache()
    total, usages = 0.0, []
    for k, window in enumerate(steps(memory_edit)):
        params = encode(window, option)
        if memory_edit:  # the memory in the system prompt changes with every step
            params["system"].append({"type": "text", "text": f"memory v{k}"})
        usage = cache.account(params, T0 + k * gap)
        usages.append(usage)
        total += usage.input_tokens + 0.1 * usage.read + 1.25 * usage.write_5m + 2 * usage.write_1h
    return total, usages


def test_each_step_reads_what_the_last_one_wrote() -> None:
    cost, usages = run_cost("1h", timedelta(minutes=20))
    assert usages[0].read == 0 and usages[0].write_1h > 0  # the first step writes
    assert usages[1].read >= usages[0].write_1h  # ... the second reads all of it
    assert usages[2].read >= usages[1].read + usages[1].write_1h
    plain, _ = run_cost("off", timedelta(minutes=20))
    assert cost < plain


def test_five_minute_entries_expire_between_slow_batches() -> None:
    slow_5m, usages = run_cost("5m", timedelta(minutes=20))
    tools_and_system = usages[1].read
    assert usages[2].read == tools_and_system  # nothing of the conversation survived
    assert usages[2].write_5m > usages[1].write_5m
    slow_1h, _ = run_cost("1h", timedelta(minutes=20))
    assert slow_1h < slow_5m


@pytest.mark.parametrize("option", ["1h", "5m"])
def test_a_memory_edit_voids_the_cached_conversation(option: str) -> None:
    edited, usages = run_cost(option, timedelta(minutes=1), memory_edit=True)
    plain, _ = run_cost("off", timedelta(minutes=1), memory_edit=True)
    assert usages[1].read == usages[2].read < usages[1].write_5m + usages[1].write_1h
    # (only the tools and the prompt before the memory survive a memory edit)
    assert edited > plain  # writes that are never read
    auto, _ = run_cost("auto", timedelta(minutes=1), memory_edit=True)
    assert auto < edited
