"""The Anthropic Message Batches emulator, driven over HTTP by the official SDK."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import anthropic
import httpx
import pytest

from agentbatch.testing.anthropic import AnthropicEmulator
from agentbatch.testing.anthropic.blocks import sign_thinking
from agentbatch.testing.faults import ContentFault, FaultPlan, HttpFault
from agentbatch.testing.server import BackgroundServer

SCRIPT: list[dict[str, Any]] = [
    {
        "tool": "note",
        "args": {"text": "got {input}"},
        "reasoning": "think first",
        "heartbeat": True,
    },
    {"text": "all done"},
]
TOOLS = [{"name": "note", "description": "Take a note", "input_schema": {"type": "object"}}]


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def emu(clock: Clock) -> AnthropicEmulator:
    return AnthropicEmulator(SCRIPT, FaultPlan(), clock, max_requests=50, max_body_bytes=64_000)


@pytest.fixture
def srv(emu: AnthropicEmulator) -> Iterator[BackgroundServer]:
    with emu.serve() as server:
        yield server


@pytest.fixture
async def client(srv: BackgroundServer) -> AsyncIterator[anthropic.AsyncAnthropic]:
    c = anthropic.AsyncAnthropic(base_url=srv.url, api_key="test", max_retries=0)
    yield c
    await c.close()


def req(custom_id: str, text: str = "hello", **params: Any) -> Any:
    body: dict[str, Any] = {
        "model": "claude-test",
        "max_tokens": 256,
        "messages": [{"role": "user", "content": text}],
    }
    body.update(params)
    return {"custom_id": custom_id, "params": body}


async def results_of(client: anthropic.AsyncAnthropic, batch_id: str) -> dict[str, Any]:
    return {r.custom_id: r.result async for r in await client.messages.batches.results(batch_id)}


async def test_batch_lifecycle_and_message_shape(
    client: anthropic.AsyncAnthropic, clock: Clock
) -> None:
    batch = await client.messages.batches.create(requests=[req("a", "alpha"), req("b", "beta")])
    assert batch.id.startswith("msgbatch_") and batch.type == "message_batch"
    assert batch.processing_status == "in_progress" and batch.results_url is None
    assert batch.request_counts.processing == 2 and batch.request_counts.succeeded == 0
    assert batch.created_at == clock.now and batch.expires_at == clock.now + timedelta(hours=24)

    clock.now += timedelta(minutes=3)
    done = await client.messages.batches.retrieve(batch.id)
    assert done.processing_status == "ended" and done.ended_at == clock.now
    assert done.request_counts.succeeded == 2 and done.request_counts.processing == 0
    assert done.results_url and done.results_url.startswith("http://127.0.0.1")

    results = await results_of(client, batch.id)
    assert set(results) == {"a", "b"}
    result = results["a"]
    assert result.type == "succeeded"
    message = result.message
    assert message.role == "assistant" and message.model == "claude-test"
    assert message.stop_reason == "tool_use" and message.stop_sequence is None
    thinking, tool_use = message.content
    assert thinking.type == "thinking" and thinking.thinking == "think first"
    assert thinking.signature == sign_thinking("think first")
    assert tool_use.type == "tool_use" and tool_use.id.startswith("toolu_")
    assert tool_use.name == "note"
    assert tool_use.input == {"text": "got alpha", "request_heartbeat": True}
    assert message.usage.input_tokens > 0 and message.usage.output_tokens > 0


async def test_results_come_in_a_shuffled_order(client: anthropic.AsyncAnthropic) -> None:
    ids = [f"r{i}" for i in range(12)]
    batch = await client.messages.batches.create(requests=[req(i) for i in ids])
    await client.messages.batches.retrieve(batch.id)
    order = [r.custom_id async for r in await client.messages.batches.results(batch.id)]
    assert sorted(order) == sorted(ids) and order != ids


async def test_list_is_newest_first_with_cursor_pagination(
    client: anthropic.AsyncAnthropic,
) -> None:
    created = [(await client.messages.batches.create(requests=[req("x")])).id for _ in range(5)]
    newest_first = list(reversed(created))
    first = await client.messages.batches.list(limit=2)
    assert [b.id for b in first.data] == newest_first[:2]
    assert first.has_more and first.first_id == newest_first[0] and first.last_id == newest_first[1]
    everything = [b.id async for b in await client.messages.batches.list(limit=2)]
    assert everything == newest_first
    before = await client.messages.batches.list(before_id=newest_first[3], limit=2)
    assert [b.id for b in before.data] == newest_first[1:3] and before.has_more
    for bad in (0, 1001):
        with pytest.raises(anthropic.BadRequestError):
            await client.messages.batches.list(limit=bad)


async def test_delete_only_after_the_batch_ended(
    client: anthropic.AsyncAnthropic, emu: AnthropicEmulator
) -> None:
    emu.faults.polls_in_progress = 1
    batch = await client.messages.batches.create(requests=[req("a")])
    with pytest.raises(anthropic.BadRequestError):
        await client.messages.batches.delete(batch.id)
    await client.messages.batches.retrieve(batch.id)
    assert (await client.messages.batches.retrieve(batch.id)).processing_status == "ended"
    deleted = await client.messages.batches.delete(batch.id)
    assert deleted.id == batch.id and deleted.type == "message_batch_deleted"
    with pytest.raises(anthropic.NotFoundError) as err:
        await client.messages.batches.retrieve(batch.id)
    assert err.value.body["error"]["type"] == "not_found_error"  # type: ignore[index]


async def test_auth_and_version_headers_are_required(srv: BackgroundServer) -> None:
    url = f"{srv.url}/v1/messages/batches"
    async with httpx.AsyncClient() as http:
        no_key = await http.get(url, headers={"anthropic-version": "2023-06-01"})
        no_version = await http.get(url, headers={"x-api-key": "k"})
        ok = await http.get(url, headers={"x-api-key": "k", "anthropic-version": "2023-06-01"})
    assert no_key.status_code == 401
    assert no_key.json()["type"] == "error"
    assert no_key.json()["error"]["type"] == "authentication_error"
    assert no_version.status_code == 400
    assert no_version.json()["error"]["type"] == "invalid_request_error"
    assert ok.status_code == 200 and ok.headers["request-id"].startswith("req_")


@pytest.mark.parametrize(
    ("requests", "fragment"),
    [
        ([], "at least 1 item"),
        ([req("bad id!")], "custom_id"),
        ([req("x" * 65)], "custom_id"),
        ([req("same"), req("same")], "duplicate custom_id"),
        ([{"custom_id": "a", "params": {"max_tokens": 5, "messages": []}}], "params.model"),
        ([{"custom_id": "a", "params": {"model": "m", "messages": []}}], "params.max_tokens"),
        ([{"custom_id": "a", "params": {"model": "m", "max_tokens": 5}}], "params.messages"),
        ([req("a", stream=True)], "stream"),
        ([req(f"r{i}") for i in range(51)], "at most 50"),
    ],
)
async def test_create_rejects_what_the_api_rejects(
    client: anthropic.AsyncAnthropic, requests: list[dict[str, Any]], fragment: str
) -> None:
    with pytest.raises(anthropic.BadRequestError) as err:
        await client.messages.batches.create(requests=requests)  # type: ignore[arg-type]
    body = err.value.body
    assert isinstance(body, dict) and body["error"]["type"] == "invalid_request_error"
    assert fragment in body["error"]["message"]


async def test_oversized_body_is_413_request_too_large(client: anthropic.AsyncAnthropic) -> None:
    with pytest.raises(anthropic.APIStatusError) as err:
        await client.messages.batches.create(requests=[req("big", "x" * 70_000)])
    assert err.value.status_code == 413
    assert err.value.body["error"]["type"] == "request_too_large"  # type: ignore[index]


def _tool_turns(result: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {"role": "user", "content": "go"},
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "toolu_1", "name": "note", "input": {}}],
        },
        {"role": "user", "content": [result]},
    ]


_CC = {"type": "ephemeral"}
BAD_PARAMS: dict[str, dict[str, Any]] = {  # name -> params (see REASONS)
    "starts_with_assistant": {"messages": [{"role": "assistant", "content": "hi"}]},
    "same_role_twice": {
        "messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]
    },
    "result_without_use": {
        "tools": TOOLS,
        "messages": _tool_turns(
            {"type": "tool_result", "tool_use_id": "toolu_other", "content": "x"}
        ),
    },
    "use_without_result": {
        "tools": TOOLS,
        "messages": _tool_turns({"type": "text", "text": "no result here"}),
    },
    "text_before_result": {
        "tools": TOOLS,
        "messages": [
            *_tool_turns({"type": "text", "text": "first"})[:2],
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "first"},
                    {"type": "tool_result", "tool_use_id": "toolu_1", "content": "x"},
                ],
            },
        ],
    },
    "tool_blocks_without_tools": {
        "messages": _tool_turns({"type": "tool_result", "tool_use_id": "toolu_1", "content": "x"})
    },
    "five_breakpoints": {
        "system": [{"type": "text", "text": f"s{i}", "cache_control": _CC} for i in range(5)],
    },
    "bad_ttl": {
        "system": [
            {"type": "text", "text": "s", "cache_control": {"type": "ephemeral", "ttl": "10m"}}
        ]
    },
    "1h_after_5m": {
        "tools": [{**TOOLS[0], "cache_control": _CC}],
        "system": [
            {"type": "text", "text": "s", "cache_control": {"type": "ephemeral", "ttl": "1h"}}
        ],
    },
    "cache_on_thinking": {
        "messages": [
            {"role": "user", "content": "q"},
            {
                "role": "assistant",
                "content": [
                    {
                        "type": "thinking",
                        "thinking": "t",
                        "signature": sign_thinking("t"),
                        "cache_control": _CC,
                    }
                ],
            },
        ]
    },
    "forged_signature": {
        "messages": [
            {"role": "user", "content": "q"},
            {
                "role": "assistant",
                "content": [{"type": "thinking", "thinking": "t", "signature": "forged"}],
            },
            {"role": "user", "content": "more"},
        ]
    },
    "schema_not_object": {"tools": [{"name": "note", "input_schema": {"type": "string"}}]},
    "bad_tool_name": {"tools": [{"name": "bad name!", "input_schema": {"type": "object"}}]},
    "tool_choice_unknown_tool": {"tools": TOOLS, "tool_choice": {"type": "tool", "name": "nope"}},
    "tool_choice_bad_type": {"tools": TOOLS, "tool_choice": {"type": "sometimes"}},
    "blank_text": {"messages": [{"role": "user", "content": [{"type": "text", "text": "  "}]}]},
    "temperature_too_high": {"temperature": 1.5},
    "unknown_param": {"frequency_penalty": 0.5},
}

REASONS = {
    "starts_with_assistant": 'first message must use the "user" role',
    "same_role_twice": "roles must alternate",
    "result_without_use": "unexpected `tool_use_id`",
    "use_without_result": "without `tool_result` blocks",
    "text_before_result": "must come first",
    "tool_blocks_without_tools": "must define tools",
    "five_breakpoints": "A maximum of 4 blocks with cache_control",
    "bad_ttl": "ttl",
    "1h_after_5m": "ttl='1h'",
    "cache_on_thinking": "cache_control cannot be set",
    "forged_signature": "Invalid `signature`",
    "schema_not_object": "input_schema.type",
    "bad_tool_name": "name: String should match pattern",
    "tool_choice_unknown_tool": "not found in tools",
    "tool_choice_bad_type": "tool_choice",
    "blank_text": "non-whitespace text",
    "temperature_too_high": "temperature",
    "unknown_param": "Extra inputs are not permitted",
}


async def test_bad_params_become_errored_results(client: anthropic.AsyncAnthropic) -> None:
    requests = [req(name, **params) for name, params in BAD_PARAMS.items()]
    batch = await client.messages.batches.create(requests=[*requests, req("good")])
    done = await client.messages.batches.retrieve(batch.id)
    assert done.request_counts.errored == len(BAD_PARAMS) and done.request_counts.succeeded == 1
    results = await results_of(client, batch.id)
    assert results.pop("good").type == "succeeded"
    for name, result in results.items():
        assert result.type == "errored", name
        assert (
            result.error.type == "error" and result.error.error.type == "invalid_request_error"
        ), name
        assert REASONS[name] in result.error.error.message, (name, result.error.error.message)


async def test_prompt_cache_writes_then_reads_until_the_ttl_passes(
    client: anthropic.AsyncAnthropic, clock: Clock
) -> None:
    cached = {
        "tools": [{**TOOLS[0], "cache_control": {"type": "ephemeral", "ttl": "1h"}}],
        "system": [
            {
                "type": "text",
                "text": "You are a careful note taker. " * 20,
                "cache_control": {"type": "ephemeral", "ttl": "1h"},
            }
        ],
    }

    async def usages(*names: str) -> dict[str, Any]:
        batch = await client.messages.batches.create(requests=[req(n, n, **cached) for n in names])
        await client.messages.batches.retrieve(batch.id)
        return {cid: r.message.usage for cid, r in (await results_of(client, batch.id)).items()}

    first = await usages("a", "b")
    assert first["a"].cache_creation_input_tokens > 0 and first["a"].cache_read_input_tokens == 0
    assert (
        first["a"].cache_creation.ephemeral_1h_input_tokens
        == first["a"].cache_creation_input_tokens
    )
    assert first["b"].cache_read_input_tokens == first["a"].cache_creation_input_tokens
    assert first["b"].cache_creation_input_tokens == 0
    clock.now += timedelta(minutes=50)
    assert (await usages("c"))["c"].cache_read_input_tokens > 0
    clock.now += timedelta(hours=2)
    assert (await usages("d"))["d"].cache_creation_input_tokens > 0


async def test_429_carries_retry_after_and_500_is_api_error(
    client: anthropic.AsyncAnthropic, emu: AnthropicEmulator
) -> None:
    emu.faults.http.append(
        HttpFault(429, path_contains="/messages/batches", method="POST", retry_after=2)
    )
    with pytest.raises(anthropic.RateLimitError) as limited:
        await client.messages.batches.create(requests=[req("a")])
    assert limited.value.response.headers["retry-after"] == "2"
    assert limited.value.body["error"]["type"] == "rate_limit_error"  # type: ignore[index]
    batch = await client.messages.batches.create(requests=[req("a")])  # the fault was used up

    emu.faults.http.append(HttpFault(500, method="GET"))
    with pytest.raises(anthropic.InternalServerError) as failed:
        await client.messages.batches.retrieve(batch.id)
    assert failed.value.body["error"]["type"] == "api_error"  # type: ignore[index]
    assert (await client.messages.batches.retrieve(batch.id)).processing_status == "ended"


async def test_slow_responses_time_the_client_out(
    srv: BackgroundServer, emu: AnthropicEmulator
) -> None:
    emu.faults.delay_s = 0.5
    impatient = anthropic.AsyncAnthropic(base_url=srv.url, api_key="t", max_retries=0, timeout=0.1)
    started = time.monotonic()
    with pytest.raises(anthropic.APITimeoutError):
        await impatient.messages.batches.list()
    assert time.monotonic() - started < 0.45
    await impatient.close()


async def test_batch_stays_in_progress_for_the_configured_polls(
    client: anthropic.AsyncAnthropic, emu: AnthropicEmulator
) -> None:
    emu.faults.polls_in_progress = 2
    batch = await client.messages.batches.create(requests=[req("a"), req("b")])
    statuses = [
        (await client.messages.batches.retrieve(batch.id)).processing_status for _ in range(3)
    ]
    assert statuses == ["in_progress", "in_progress", "ended"]


async def test_forced_item_outcomes(
    client: anthropic.AsyncAnthropic, emu: AnthropicEmulator
) -> None:
    emu.faults.item_outcomes.update({"e": "errored", "x": "expired", "c": "canceled"})
    emu.faults.content_outcomes.append(ContentFault("poison", "errored", times=1))
    requests = [req("e"), req("x"), req("c"), req("p1", "poison"), req("p2", "poison"), req("ok")]
    batch = await client.messages.batches.create(requests=requests)
    counts = (await client.messages.batches.retrieve(batch.id)).request_counts
    assert (counts.succeeded, counts.errored, counts.expired, counts.canceled) == (2, 2, 1, 1)
    results = await results_of(client, batch.id)
    assert results["e"].type == "errored" and results["e"].error.error.type == "api_error"
    assert results["x"].type == "expired" and results["c"].type == "canceled"
    assert results["p1"].type == "errored" and results["p2"].type == "succeeded"


async def test_cancel_in_flight_cancels_unprocessed_items(
    client: anthropic.AsyncAnthropic, emu: AnthropicEmulator, clock: Clock
) -> None:
    emu.faults.polls_in_progress = 3
    batch = await client.messages.batches.create(requests=[req(f"r{i}") for i in range(4)])
    await client.messages.batches.retrieve(batch.id)  # a quarter is processed by now
    canceling = await client.messages.batches.cancel(batch.id)
    assert canceling.processing_status == "canceling" and canceling.cancel_initiated_at == clock.now
    assert canceling.request_counts.processing == 4
    ended = await client.messages.batches.retrieve(batch.id)
    assert ended.processing_status == "ended"
    assert (ended.request_counts.succeeded, ended.request_counts.canceled) == (1, 3)
    c = ended.request_counts
    assert c.processing + c.succeeded + c.errored + c.canceled + c.expired == 4


async def test_unfinished_items_expire_after_24_hours(
    client: anthropic.AsyncAnthropic, emu: AnthropicEmulator, clock: Clock
) -> None:
    emu.faults.polls_in_progress = 10
    batch = await client.messages.batches.create(requests=[req("a"), req("b")])
    clock.now += timedelta(hours=25)
    ended = await client.messages.batches.retrieve(batch.id)
    assert ended.processing_status == "ended" and ended.request_counts.expired == 2
    clock.now += timedelta(days=30)
    assert (await client.messages.batches.retrieve(batch.id)).archived_at is not None


async def test_beta_namespace_and_admin_endpoints(
    client: anthropic.AsyncAnthropic, srv: BackgroundServer
) -> None:
    async with httpx.AsyncClient(base_url=srv.url) as http:
        assert (
            await http.put("/_emulator/script", json=[{"text": "from admin"}])
        ).status_code == 200
        assert (await http.put("/_emulator/script", json={"not": "a list"})).status_code == 400
        faults = {"polls_in_progress": 1, "http": [{"status": 529, "method": "POST", "times": 1}]}
        assert (await http.put("/_emulator/faults", json=faults)).status_code == 200
    with pytest.raises(anthropic.APIStatusError) as overloaded:
        await client.beta.messages.batches.create(requests=[req("a")])
    assert overloaded.value.status_code == 529
    batch = await client.beta.messages.batches.create(
        requests=[req("a")], betas=["message-batches-2024-09-24"]
    )
    assert (
        await client.beta.messages.batches.retrieve(batch.id)
    ).processing_status == "in_progress"
    await client.beta.messages.batches.retrieve(batch.id)
    results = [r async for r in await client.beta.messages.batches.results(batch.id)]
    assert results[0].result.type == "succeeded"
    block = results[0].result.message.content[0]
    assert block.type == "text" and block.text == "from admin"
