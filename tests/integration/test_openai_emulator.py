"""The official ``openai`` SDK against the OpenAI batch emulator, over real HTTP."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from openai import OpenAI

from agentbatch.testing.faults import ContentFault, FaultPlan, HttpFault
from agentbatch.testing.openai_emulator import OpenAIEmulator
from agentbatch.testing.server import BackgroundServer

SCRIPT = [
    {"tool_calls": [{"tool": "search", "args": {"q": "{input}"}, "heartbeat": True}]},
    {"text": "done: {input}"},
]


@pytest.fixture
def emulator() -> OpenAIEmulator:
    return OpenAIEmulator(SCRIPT, FaultPlan(), max_bytes=4096, max_requests=5)


@pytest.fixture
def server(emulator: OpenAIEmulator) -> Iterator[BackgroundServer]:
    with emulator.serve() as srv:
        yield srv


@pytest.fixture
def client(server: BackgroundServer) -> Iterator[OpenAI]:
    with OpenAI(api_key="test-key", base_url=f"{server.url}/v1", max_retries=0) as sdk:
        yield sdk


def line(custom_id: str, text: str = "hi", model: str = "gpt-test", **extra: Any) -> dict[str, Any]:
    body = {"model": model, "messages": [{"role": "user", "content": text}], **extra}
    return {"custom_id": custom_id, "method": "POST", "url": "/v1/chat/completions", "body": body}


def upload(client: OpenAI, lines: list[Any], name: str = "input.jsonl") -> str:
    raw = "".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines)
    return client.files.create(file=(name, io.BytesIO(raw.encode())), purpose="batch").id


def create(client: OpenAI, lines: list[Any]) -> Any:
    return client.batches.create(
        input_file_id=upload(client, lines),
        endpoint="/v1/chat/completions",
        completion_window="24h",
        metadata={"job": "t"},
    )


def jsonl(client: OpenAI, file_id: str | None) -> dict[str, dict[str, Any]]:
    assert file_id is not None
    text = client.files.content(file_id).text
    return {r["custom_id"]: r for r in map(json.loads, text.splitlines())}


def test_batch_lifecycle_and_output_file(client: OpenAI) -> None:
    batch = create(client, [line("a", "alpha"), line("b", "beta")])
    assert batch.status == "validating" and batch.metadata == {"job": "t"}
    assert batch.expires_at == batch.created_at + 86400
    done = client.batches.retrieve(batch.id)
    assert done.status == "completed" and done.error_file_id is None
    assert done.request_counts is not None and done.request_counts.model_dump() == {
        "total": 2,
        "completed": 2,
        "failed": 0,
    }
    assert None not in (done.in_progress_at, done.finalizing_at, done.completed_at)
    out = jsonl(client, done.output_file_id)
    response = out["a"]["response"]
    assert out["a"]["id"].startswith("batch_req_") and out["a"]["error"] is None
    assert response["status_code"] == 200 and response["request_id"]
    message = response["body"]["choices"][0]["message"]
    assert response["body"]["choices"][0]["finish_reason"] == "tool_calls"
    assert message["tool_calls"][0]["id"].startswith("call_")
    assert json.loads(message["tool_calls"][0]["function"]["arguments"]) == {
        "q": "alpha",
        "request_heartbeat": True,
    }
    assert response["body"]["usage"]["prompt_tokens_details"]["cached_tokens"] == 0
    output = client.files.retrieve(done.output_file_id or "")
    assert output.purpose == "batch_output"
    assert client.files.delete(output.id).deleted is True
    with pytest.raises(openai.NotFoundError):
        client.files.retrieve(output.id)


def test_list_pagination(client: OpenAI) -> None:
    ids = [create(client, [line("x")]).id for _ in range(5)]
    page = client.batches.list(limit=2)
    assert [b.id for b in page.data] == ids[::-1][:2] and page.has_more
    raw = httpx.get(
        str(client.base_url) + "batches",
        params={"limit": 2, "after": ids[3]},
        headers={"Authorization": "Bearer k"},
    ).json()
    assert raw["object"] == "list" and raw["first_id"] == ids[2] and raw["last_id"] == ids[1]
    assert [b.id for b in client.batches.list(limit=2)] == ids[::-1]
    with pytest.raises(openai.BadRequestError):
        client.batches.list(limit=101)


def test_forced_item_outcomes_fill_the_error_file(client: OpenAI, emulator: OpenAIEmulator) -> None:
    emulator.faults.item_outcomes.update({"b": "expired", "c": "errored", "d": "canceled"})
    emulator.faults.content_outcomes.append(ContentFault("poison", "errored"))
    batch = create(client, [line("a"), line("b"), line("c"), line("d"), line("e", "poison")])
    done = client.batches.retrieve(batch.id)
    assert done.request_counts is not None and done.request_counts.completed == 1
    errors = jsonl(client, done.error_file_id)
    assert errors["b"]["response"] is None and errors["b"]["error"]["code"] == "batch_expired"
    assert errors["d"]["error"]["code"] == "batch_cancelled"
    for custom_id in ("c", "e"):
        assert errors[custom_id]["response"]["status_code"] == 500
        assert errors[custom_id]["response"]["body"]["error"]["type"] == "server_error"
    assert set(jsonl(client, done.output_file_id)) == {"a"}


def test_cancel_in_flight_keeps_partial_results(client: OpenAI, emulator: OpenAIEmulator) -> None:
    emulator.faults.polls_in_progress = 3
    batch = create(client, [line(c) for c in "abcd"])
    first = client.batches.retrieve(batch.id)
    assert first.status == "in_progress" and first.request_counts is not None
    assert first.request_counts.completed == 1
    cancelling = client.batches.cancel(batch.id)
    assert cancelling.status == "cancelling" and cancelling.cancelling_at is not None
    cancelled = client.batches.retrieve(batch.id)
    assert cancelled.status == "cancelled" and cancelled.cancelled_at is not None
    assert len(jsonl(client, cancelled.output_file_id)) == 1
    errors = jsonl(client, cancelled.error_file_id)
    assert {e["error"]["code"] for e in errors.values()} == {"batch_cancelled"} and len(errors) == 3
    assert client.batches.cancel(batch.id).status == "cancelled"
    emulator.faults.polls_in_progress = 0
    ended = create(client, [line("z")])
    client.batches.retrieve(ended.id)
    with pytest.raises(openai.BadRequestError, match="Cannot cancel"):
        client.batches.cancel(ended.id)


def test_polls_in_progress_then_expire(client: OpenAI, emulator: OpenAIEmulator) -> None:
    emulator.faults.polls_in_progress = 2
    batch = create(client, [line("a"), line("b")])
    assert [client.batches.retrieve(batch.id).status for _ in range(3)] == [
        "in_progress",
        "in_progress",
        "completed",
    ]
    slow = create(client, [line("a"), line("b")])
    client.batches.retrieve(slow.id)
    emulator.expire(slow.id)
    expired = client.batches.retrieve(slow.id)
    assert expired.status == "expired" and expired.expired_at is not None
    assert [e["error"]["code"] for e in jsonl(client, expired.error_file_id).values()] == [
        "batch_expired"
    ]


BAD_FILES: list[tuple[list[Any], str, int | None]] = [
    ([line("a"), line("a")], "duplicate_custom_id", 2),
    ([line("a"), "{not json"], "invalid_json_line", 2),
    ([line("a"), line("b", model="other-model")], "mismatched_model", 2),
    ([line(str(i)) for i in range(6)], "too_many_tasks", None),
    ([line("big", "x" * 5000)], "file_too_large", None),
    ([{"custom_id": "a", "method": "POST", "url": "/v1/embeddings", "body": {}}], "invalid_url", 1),
    (
        [{"custom_id": "a", "method": "POST", "url": "/v1/chat/completions", "body": {}}],
        "missing_required_parameter",
        1,
    ),
    (
        [{"method": "POST", "url": "/v1/chat/completions", "body": {"model": "m"}}],
        "missing_required_parameter",
        1,
    ),
]


@pytest.mark.parametrize(("lines", "code", "line_no"), BAD_FILES)
def test_input_file_problems_fail_the_batch(
    client: OpenAI, lines: list[Any], code: str, line_no: int | None
) -> None:
    batch = create(client, lines)
    assert batch.status == "validating"
    failed = client.batches.retrieve(batch.id)
    assert failed.status == "failed" and failed.failed_at is not None
    assert failed.errors is not None and failed.errors.data
    error = failed.errors.data[0]
    assert (error.code, error.line) == (code, line_no)
    assert error.message
    assert failed.output_file_id is None and failed.error_file_id is None


def test_invalid_requests_become_400_lines(client: OpenAI) -> None:
    orphan = [
        {"role": "user", "content": "x"},
        {"role": "tool", "tool_call_id": "c", "content": "r"},
    ]
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    unanswered = [
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "user", "content": "hi"},
    ]
    bad_tool = [{"type": "function", "function": {"name": "f", "parameters": {"type": "array"}}}]
    lines = [
        {**line("orphan"), "body": {"model": "gpt-test", "messages": orphan}},
        {**line("unanswered"), "body": {"model": "gpt-test", "messages": unanswered}},
        line("schema", tools=bad_tool),
        {
            **line("role"),
            "body": {"model": "gpt-test", "messages": [{"role": "bot", "content": "x"}]},
        },
        line("fine"),
    ]
    done = client.batches.retrieve(create(client, lines).id)
    assert done.request_counts is not None and done.request_counts.failed == 4
    errors = jsonl(client, done.error_file_id)
    messages = {k: v["response"]["body"]["error"]["message"] for k, v in errors.items()}
    assert all(v["response"]["status_code"] == 400 for v in errors.values())
    assert "preceeding message with 'tool_calls'" in messages["orphan"]
    assert "did not have response messages: c1" in messages["unanswered"]
    assert "Invalid schema for function 'f'" in messages["schema"]
    assert "Supported values are" in messages["role"]


def test_request_validation_answers_400_and_404(client: OpenAI, server: BackgroundServer) -> None:
    file_id = upload(client, [line("a")])
    one_hour: Any = "1h"  # values the SDK's types forbid, sent anyway
    nowhere: Any = "/v1/nope"
    with pytest.raises(openai.BadRequestError) as window:
        client.batches.create(
            input_file_id=file_id, endpoint="/v1/chat/completions", completion_window=one_hour
        )
    assert window.value.param == "completion_window"
    with pytest.raises(openai.BadRequestError):
        client.batches.create(input_file_id=file_id, endpoint=nowhere, completion_window="24h")
    with pytest.raises(openai.NotFoundError):
        client.batches.create(
            input_file_id="file-missing", endpoint="/v1/chat/completions", completion_window="24h"
        )
    with pytest.raises(openai.NotFoundError):
        client.batches.retrieve("batch_missing")
    with pytest.raises(openai.BadRequestError, match="jsonl"):
        client.files.create(file=("input.txt", io.BytesIO(b"{}")), purpose="batch")
    embeddings = client.batches.create(
        input_file_id=file_id, endpoint="/v1/embeddings", completion_window="24h"
    )
    assert client.batches.retrieve(embeddings.id).status == "failed"  # url does not match endpoint
    denied = httpx.get(f"{server.url}/v1/batches")
    assert denied.status_code == 401 and set(denied.json()["error"]) == {
        "message",
        "type",
        "param",
        "code",
    }


def test_only_the_configured_key_is_accepted() -> None:
    with OpenAIEmulator(SCRIPT, api_key="right").serve() as srv:
        wrong = OpenAI(api_key="wrong", base_url=f"{srv.url}/v1", max_retries=0)
        with pytest.raises(openai.AuthenticationError):
            wrong.batches.list()
        right = OpenAI(api_key="right", base_url=f"{srv.url}/v1", max_retries=0)
        assert right.batches.list().data == []


def test_http_faults(client: OpenAI, emulator: OpenAIEmulator) -> None:
    emulator.faults.http.append(HttpFault(429, path_contains="/batches", retry_after=3))
    with pytest.raises(openai.RateLimitError) as limited:
        client.batches.list()
    assert limited.value.response.headers["retry-after"] == "3"
    assert limited.value.code == "rate_limit_exceeded"
    emulator.faults.http.append(HttpFault(500, path_contains="/files", method="POST"))
    with pytest.raises(openai.InternalServerError):
        upload(client, [line("a")])
    assert client.batches.list().data == []  # faults are used up
    emulator.faults.delay_s = 0.5
    with pytest.raises(openai.APITimeoutError):
        client.with_options(timeout=0.1).batches.list()


HEARTBEAT = '{"type": "heartbeat", "reason": "[automated system message] continue"}'


def test_chat_completions_steps_and_prompt_caching(client: OpenAI) -> None:
    system = {"role": "system", "content": "memory " * 1200}
    first = client.chat.completions.create(
        model="gpt-test",
        messages=[system, {"role": "user", "content": "q1"}],  # type: ignore[list-item]
    )
    calls = first.choices[0].message.tool_calls or []
    assert first.choices[0].finish_reason == "tool_calls" and len(calls) == 1
    history: list[Any] = [
        system,
        {"role": "user", "content": "q1"},
        first.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": calls[0].id, "content": "result"},
        {"role": "user", "content": HEARTBEAT},
    ]
    second = client.chat.completions.create(model="gpt-test", messages=history)
    assert second.choices[0].message.content == "done: q1"  # {input}: the run's input
    # a new run of the same agent (a later job) starts at the top of the script again
    later = [*history, second.choices[0].message.model_dump(exclude_none=True)]
    third = client.chat.completions.create(
        model="gpt-test", messages=[*later, {"role": "user", "content": "q2"}]
    )
    assert third.choices[0].finish_reason == "tool_calls"
    usage = second.usage
    assert usage is not None and usage.prompt_tokens_details is not None
    cached = usage.prompt_tokens_details.cached_tokens or 0
    assert cached >= 1024 and cached % 128 == 0 and cached < usage.prompt_tokens
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="gpt-test", messages=history[:3])


def test_scripted_failures_count_attempts_per_cache_key(
    client: OpenAI, emulator: OpenAIEmulator
) -> None:
    emulator.script = [{"text": "ok", "fail": ["errored"]}]
    first = client.batches.retrieve(create(client, [line("a", prompt_cache_key="agent-1")]).id)
    assert jsonl(client, first.error_file_id)["a"]["response"]["status_code"] == 500
    second = client.batches.retrieve(create(client, [line("a", prompt_cache_key="agent-1")]).id)
    assert jsonl(client, second.output_file_id)["a"]["response"]["status_code"] == 200


def test_admin_endpoints(server: BackgroundServer, client: OpenAI) -> None:
    assert httpx.put(f"{server.url}/_emulator/script", json=[{"text": "hello"}]).status_code == 200
    assert httpx.put(f"{server.url}/_emulator/script", json=[{"nope": 1}]).status_code == 400
    faults = {"http": [{"status": 503, "path_contains": "/chat"}], "polls_in_progress": 1}
    assert httpx.put(f"{server.url}/_emulator/faults", json=faults).status_code == 200
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    reply = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    assert reply.choices[0].message.content == "hello"
    batch = create(client, [line("a")])
    assert client.batches.retrieve(batch.id).status == "in_progress"
    stats = httpx.get(f"{server.url}/_emulator/stats").json()
    assert stats["chat_calls"] == 2 and stats["batches"] == 1
