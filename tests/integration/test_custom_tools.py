"""Custom Python tools inside jobs: registration, the sandbox pool, failures, isolation.

Every test runs a real job (scripted model) whose agents call tools registered from
source; the calls run in the sandbox's warm worker processes. SQLite and PostgreSQL,
except the 100-agent parallelism test (SQLite: it measures the pool, not the database).
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from agentbatch.app import AgentBatch
from agentbatch.errors import Conflict, InvalidInput
from agentbatch.providers.registry import ProviderRegistry
from agentbatch.runtime.tool_exec import ToolExecutor
from agentbatch.testing.recording import RecordingProvider
from agentbatch.tools.builtins import ToolResult
from tests.conftest import fast_settings
from tests.helpers import history, kinds, make_agents, run_job

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the sandbox needs Linux"
)

RESULT_CHARS = 1000  # the executor's result limit in these tests

REPLY = {"tool": "send_message", "args": {"message": "done"}, "heartbeat": False}

FORECAST = '''
from typing import Literal


def forecast(city: str, days: int = 3, unit: Literal["c", "f"] = "c") -> str:
    """Forecast the weather for a city.

    Args:
        city: The city's name.
        days: How many days ahead.
        unit: Celsius or Fahrenheit.
    """
    return f"{city}: sunny for {days} days (unit {unit})"
'''

SLOW_SQUARE = '''
import time


def slow_square(n: str) -> dict:
    """Square a number, slowly.

    Args:
        n: The number, as text.
    """
    started = time.time()
    time.sleep(0.2)
    return {"n": n, "square": int(n) ** 2, "start": started, "end": time.time()}
'''

ECHO = '''
def echo(text: str) -> str:
    """Echo the text back."""
    return "echo: " + text
'''

FAILING: dict[str, tuple[str, dict[str, Any], str]] = {
    # name: (body, tool settings, what the failed result says)
    "raises": (
        'raise ValueError("no such city: Atlantis")',
        {},
        "ValueError: no such city: Atlantis",
    ),
    "sleeps": ("time.sleep(60)", {"timeout_s": 0.5}, "tool timed out after 0.5 s"),
    "hogs_memory": (
        "blob = bytearray(1024 * 1024 * 1024)\n    return str(len(blob))",
        {"memory_mb": 64},
        "tool exceeded its memory limit (64 MB)",
    ),
    "exits": ("os._exit(3)", {}, "tool process died (exit code 3) without a result"),
    "floods": (
        'print("x" * (8 * 1024 * 1024))\n    return "printed"',
        {},
        "output truncated at 65536 bytes",
    ),
}


def failing_source(name: str, body: str) -> str:
    return (
        f'import os\nimport time\n\n\ndef {name}() -> str:\n    """Fail as {name}."""\n    {body}\n'
    )


@asynccontextmanager
async def open_app(
    database_url: str,
    recorder: RecordingProvider,
    *,
    max_result_chars: int | None = None,
    **settings: Any,
) -> AsyncIterator[AgentBatch]:
    """An app whose runtime settings are ``fast_settings(**settings)``; with
    ``max_result_chars``, its own ToolExecutor (else the one AgentBatch builds)."""
    runtime = fast_settings(**settings)
    tools = None
    if max_result_chars is not None:
        tools = ToolExecutor(size=runtime.tool_concurrency, max_result_chars=max_result_chars)
    app = await AgentBatch.open(
        database_url,
        settings=runtime,
        registry=ProviderRegistry({"scripted": recorder}),
        tools=tools,
        upgrade=True,
    )
    try:
        yield app
    finally:
        await app.close()


@pytest.fixture
async def tapp(database_url: str, recorder: RecordingProvider) -> AsyncIterator[AgentBatch]:
    async with open_app(
        database_url, recorder, max_result_chars=RESULT_CHARS, tool_concurrency=4
    ) as app:
        yield app


async def add_tool(app: AgentBatch, source: str, **settings: Any) -> dict[str, Any]:
    return await app.tools.create_tool(app.org_id, {"source": source, **settings})


def result_of(message: dict[str, Any]) -> tuple[str, str]:
    """(status, message) of a tool-result message."""
    body = json.loads(message["content"])
    return body["status"], body["message"]


async def start_job(app: AgentBatch, requests: list[dict[str, Any]], **job: Any) -> dict[str, Any]:
    created = await app.jobs.create_job(app.org_id, {"requests": requests, **job})
    return await app.run_job(created["id"], timeout_s=60)


# -- registration --------------------------------------------------------------------------


async def test_tool_registered_from_source_gets_its_schema_and_reaches_the_model(
    tapp: AgentBatch, recorder: RecordingProvider
) -> None:
    tool = await add_tool(tapp, FORECAST)
    assert tool["name"] == "forecast"
    assert tool["description"] == "Forecast the weather for a city."
    assert tool["parameters"] == {
        "type": "object",
        "properties": {
            "city": {"type": "string", "description": "The city's name."},
            "days": {"type": "integer", "description": "How many days ahead.", "default": 3},
            "unit": {
                "type": "string",
                "enum": ["c", "f"],
                "description": "Celsius or Fahrenheit.",
                "default": "c",
            },
        },
        "required": ["city"],
    }
    assert tool["settings"]["wants_agent_id"] is False
    assert tool["settings"]["wants_memory"] is False
    assert await tapp.tools.get_tool(tapp.org_id, "forecast") == tool
    listed = {t["name"]: t for t in await tapp.tools.list_tools(tapp.org_id)}
    assert "forecast" in listed and "send_message" in listed

    with pytest.raises(Conflict, match="already exists"):
        await add_tool(tapp, FORECAST)
    with pytest.raises(InvalidInput, match="docstring"):
        await add_tool(tapp, "def nodoc(x: int) -> int:\n    return x\n")

    [agent] = await make_agents(tapp, 1, tools=["forecast", "send_message"])
    script = [{"tool": "forecast", "args": {"city": "Oslo", "days": 2}, "heartbeat": True}, REPLY]
    job = await run_job(tapp, [agent], script=script)
    assert job["status"] == "completed"
    msgs = await history(tapp, job["id"], agent)
    assert result_of(msgs[2]) == ("OK", "Oslo: sunny for 2 days (unit c)")
    offered = {t.name: t for t in recorder.requests[agent][0].tools}
    assert offered["forecast"].description == "Forecast the weather for a city."
    assert (
        offered["forecast"].parameters["properties"]["city"]
        == tool["parameters"]["properties"]["city"]
    )
    assert "request_heartbeat" in offered["forecast"].parameters["properties"]


# -- parallelism ---------------------------------------------------------------------------


def max_overlap(intervals: list[tuple[float, float]]) -> int:
    events = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals])
    running = peak = 0
    for _, step in events:
        running += step
        peak = max(peak, running)
    return peak


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_hundred_agents_call_a_custom_tool_in_parallel_through_the_pool(
    database_url: str, recorder: RecordingProvider
) -> None:
    concurrency = 25
    async with open_app(database_url, recorder, tool_concurrency=concurrency) as app:
        await add_tool(app, SLOW_SQUARE)
        ids = await make_agents(app, 100, tools=["slow_square", "send_message"])
        script = [{"tool": "slow_square", "args": {"n": "{input}"}, "heartbeat": True}, REPLY]
        started = time.perf_counter()
        job = await start_job(
            app,
            [{"agent_id": a, "messages": str(i)} for i, a in enumerate(ids)],
            options={"script": script},
        )
        elapsed = time.perf_counter() - started
        assert job["status"] == "completed" and job["runs"]["completed"] == 100

        intervals = []
        for i, agent_id in enumerate(ids):
            msgs = await history(app, job["id"], agent_id)
            assert kinds(msgs) == ["input", "assistant", "tool", "heartbeat", "assistant", "tool"]
            status, text = result_of(msgs[2])
            assert status == "OK", text
            value = json.loads(text)
            assert (value["n"], value["square"]) == (str(i), i * i)  # its own call's value
            assert msgs[2]["tool_call_id"] == msgs[1]["tool_calls"][0]["id"]
            intervals.append((value["start"], value["end"]))

        pool = app.tool_executor.pool
        assert pool is not None and pool.size == concurrency  # RuntimeSettings.tool_concurrency
        peak = max_overlap(intervals)
    # 100 calls x 0.2 s would take 20 s one after another.
    assert elapsed < 8.0, f"job took {elapsed:.1f} s"
    assert concurrency // 2 <= peak <= concurrency, f"{peak} calls ran at once"


# -- failures ------------------------------------------------------------------------------


async def test_each_failure_kind_gives_a_failed_result_and_the_run_goes_on(
    tapp: AgentBatch,
) -> None:
    await add_tool(tapp, ECHO)
    agents = {}
    for name, (body, settings, _) in FAILING.items():
        await add_tool(tapp, failing_source(name, body), **settings)
        script = [
            {"tool": name, "args": {}, "heartbeat": True},
            {"tool": "echo", "args": {"text": "after " + name}, "heartbeat": True},
            REPLY,
        ]
        [agents[name]] = await make_agents(
            tapp, 1, tools=[name, "echo", "send_message"], model_settings={"script": script}
        )
    started = time.perf_counter()
    job = await run_job(tapp, list(agents.values()))
    assert time.perf_counter() - started < 20
    assert job["status"] == "completed" and job["runs"]["completed"] == len(FAILING)

    for name, agent_id in agents.items():
        msgs = await history(tapp, job["id"], agent_id)
        assert kinds(msgs) == ["input"] + ["assistant", "tool", "heartbeat"] * 2 + [
            "assistant",
            "tool",
        ], name
        status, text = result_of(msgs[2])
        assert status == "Failed", (name, text)
        assert text == FAILING[name][2], (name, text)
        assert "failed" in json.loads(msgs[3]["content"])["reason"]
        # the next step happened, on the same (recovered) pool
        assert result_of(msgs[5]) == ("OK", f"echo: after {name}")
        assert result_of(msgs[8]) == ("OK", "Sent message successfully.")

    # the pool is back to full strength: a later job's calls all succeed
    [again] = await make_agents(tapp, 1, tools=["echo", "send_message"])
    script = [
        {"tool_calls": [{"tool": "echo", "args": {"text": str(i)}} for i in range(8)]},
        REPLY,
    ]
    job = await run_job(tapp, [again], script=script)
    msgs = await history(tapp, job["id"], again)
    assert [result_of(m) for m in msgs[2:10]] == [("OK", f"echo: {i}") for i in range(8)]
    pool = tapp.tool_executor.pool
    assert pool is not None and pool.size == 4


async def test_long_return_values_are_truncated_at_the_executor_limit(tapp: AgentBatch) -> None:
    await add_tool(
        tapp,
        'def big(n: int) -> str:\n    """Return n characters."""\n    return "ab\\n" * (n // 3)\n',
    )
    [agent] = await make_agents(tapp, 1, tools=["big", "send_message"])
    script = [
        {
            "tool_calls": [
                {"tool": "big", "args": {"n": 600}},
                {"tool": "big", "args": {"n": 5000}},
                {"tool": "big", "args": {"n": 1_000_000}, "heartbeat": True},  # over 64 KiB
            ]
        },
        REPLY,
    ]
    job = await run_job(tapp, [agent], script=script)
    assert job["status"] == "completed"
    msgs = await history(tapp, job["id"], agent)
    assert result_of(msgs[2]) == ("OK", "ab\n" * 200)
    for message in msgs[3:5]:
        status, text = result_of(message)
        assert status == "OK"
        assert text.startswith("ab\nab\n") and text.endswith(
            f"[truncated at {RESULT_CHARS} characters]"
        )
        assert len(text) < RESULT_CHARS + 50


# -- isolation and injection ---------------------------------------------------------------

SNOOP = '''
import os
import socket


def snoop(runtime_pid: str) -> dict:
    """Look for the runtime's secrets.

    Args:
        runtime_pid: The runtime's process id.
    """
    found = {"env": dict(os.environ), "cwd": os.listdir(".")}
    try:
        with open(f"/proc/{runtime_pid}/environ", "rb") as f:
            found["proc_environ"] = f.read().decode("utf-8", "replace")
    except OSError as exc:
        found["proc_environ"] = "denied: " + type(exc).__name__
    try:
        socket.create_connection(("127.0.0.1", 5432), timeout=2).close()
        found["database"] = "reachable"
    except Exception as exc:
        found["database"] = "unreachable: " + type(exc).__name__
    return found
'''


async def test_tool_sees_its_configured_env_and_none_of_the_runtime_secrets(
    database_url: str, recorder: RecordingProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "secret-xyz")
    monkeypatch.setenv("OPENAI_API_KEY", "secret-xyz")
    monkeypatch.setenv("AGENTBATCH_DATABASE_URL", database_url)
    async with open_app(database_url, recorder, tool_concurrency=2) as app:
        await add_tool(app, SNOOP, env={"GREETING": "hola", "REGION": "eu-west"})
        [agent] = await make_agents(app, 1, tools=["snoop", "send_message"])
        script = [
            {"tool": "snoop", "args": {"runtime_pid": str(os.getpid())}, "heartbeat": True},
            REPLY,
        ]
        job = await run_job(app, [agent], script=script)
        assert job["status"] == "completed"
        status, text = result_of((await history(app, job["id"], agent))[2])
        pool = app.tool_executor.pool
        assert pool is not None
        mode = pool.network_mode
    assert status == "OK", text
    found = json.loads(text)
    assert found["env"] == {"GREETING": "hola", "REGION": "eu-west"}  # exactly its own
    assert "secret-xyz" not in text and database_url not in text
    assert found["cwd"] == []  # a fresh, empty working directory
    assert found["database"].startswith("unreachable")  # network off by default
    if mode in ("userns+netns", "bwrap"):  # documented: these modes hide the runtime's /proc
        assert found["proc_environ"].startswith("denied")


WHOAMI = '''
def whoami(note: str, agent_id: str, memory: dict[str, str]) -> dict:
    """Report who called, with what memory.

    Args:
        note: Anything.
    """
    seen = dict(memory)
    memory["human"] = "overwritten by the tool"
    return {"note": note, "agent_id": agent_id, "memory": seen}
'''


async def test_tool_declaring_agent_id_and_memory_receives_the_callers(tapp: AgentBatch) -> None:
    tool = await add_tool(tapp, WHOAMI)
    assert list(tool["parameters"]["properties"]) == ["note"]  # injected, not asked of the model
    assert tool["settings"]["wants_agent_id"] and tool["settings"]["wants_memory"]
    ids = await make_agents(
        tapp,
        2,
        tools=["whoami", "send_message"],
        blocks=[
            {"label": "human", "value": "Ada, likes tea", "limit": 500},
            {"label": "persona", "value": "a careful helper", "limit": 500},
        ],
    )
    script = [
        {  # a model that tries to pass another agent's id gets its own anyway
            "tool": "whoami",
            "args": {"note": "hi {agent_id}", "agent_id": "agent-forged", "memory": {}},
            "heartbeat": True,
        },
        REPLY,
    ]
    job = await run_job(tapp, ids, script=script)
    assert job["status"] == "completed"
    for agent_id in ids:
        status, text = result_of((await history(tapp, job["id"], agent_id))[2])
        assert status == "OK", text
        assert json.loads(text) == {
            "note": f"hi {agent_id}",
            "agent_id": agent_id,
            "memory": {"human": "Ada, likes tea", "persona": "a careful helper"},
        }
        agent = await tapp.agents.get_agent(tapp.org_id, agent_id)
        human = next(b for b in agent["blocks"] if b["label"] == "human")
        assert human["value"] == "Ada, likes tea"  # the tool got a copy


async def test_custom_and_memory_tools_in_one_response_apply_in_order(tapp: AgentBatch) -> None:
    await add_tool(tapp, WHOAMI)
    [agent] = await make_agents(
        tapp,
        1,
        tools=["whoami", "core_memory_append", "send_message"],
        blocks=[{"label": "human", "value": "Ada", "limit": 500}],
    )
    script = [
        {
            "tool_calls": [
                {"tool": "whoami", "args": {"note": "before"}},
                {"tool": "core_memory_append", "args": {"label": "human", "content": "tea"}},
                {"tool": "whoami", "args": {"note": "after"}},
                {"tool": "whoami", "args": {"note": "again"}, "heartbeat": True},
            ],
        },
        REPLY,
    ]
    job = await run_job(tapp, [agent], script=script)
    assert job["status"] == "completed"
    msgs = await history(tapp, job["id"], agent)
    assert kinds(msgs) == ["input", "assistant"] + ["tool"] * 4 + [
        "heartbeat",
        "assistant",
        "tool",
    ]
    calls = msgs[1]["tool_calls"]
    assert [m["tool_call_id"] for m in msgs[2:6]] == [c["id"] for c in calls]
    results = [result_of(m) for m in msgs[2:6]]
    assert all(status == "OK" for status, _ in results), results
    seen = [json.loads(results[i][1])["memory"]["human"] for i in (0, 2, 3)]
    # each call sees the memory as the calls before it in the response left it
    assert seen == ["Ada", "Ada\ntea", "Ada\ntea"]
    agent_row = await tapp.agents.get_agent(tapp.org_id, agent)
    assert [b["value"] for b in agent_row["blocks"]] == ["Ada\ntea"]


# -- what the executor hands the sandbox ---------------------------------------------------


class RecordingPool:
    """Stands in for the SandboxPool: records calls, answers ``ok``."""

    def __init__(self) -> None:
        self.calls: list[Any] = []

    async def run(self, call: Any) -> Any:
        from agentbatch.tools.sandbox import SandboxResult

        self.calls.append(call)
        return SandboxResult(ok=True, value="fine")


async def test_executor_sends_agent_id_and_memory_only_to_tools_that_declare_them() -> None:
    from types import SimpleNamespace

    pool = RecordingPool()
    executor = ToolExecutor(pool=pool)  # type: ignore[arg-type]
    memory = {"human": "Ada"}

    def row(source: str, **settings: Any) -> Any:
        return SimpleNamespace(name="t", source=source, settings=settings)

    plain = row("...", wants_agent_id=False, wants_memory=False, env={"A": "1"})
    both = row("...", wants_agent_id=True, wants_memory=True, timeout_s=120, memory_mb=64)
    legacy = row("...")  # registered before the wants_* settings existed: the sandbox decides
    for tool in (plain, both, legacy):
        result = await executor.run_custom(tool, "agent-1", {"x": 1}, memory)
        assert result == ToolResult(True, "fine")
    sent = pool.calls
    assert (sent[0].agent_id, sent[0].memory, dict(sent[0].env)) == (None, None, {"A": "1"})
    assert sent[0].limits is None  # the pool's defaults
    assert (sent[1].agent_id, sent[1].memory) == ("agent-1", memory)
    assert sent[1].memory is not memory  # a copy
    # its own timeout and memory; a long timeout is not cut short by the default CPU limit
    assert (sent[1].limits.timeout_s, sent[1].limits.memory_mb, sent[1].limits.cpu_s) == (
        120.0,
        64,
        120,
    )
    assert (sent[2].agent_id, sent[2].memory) == ("agent-1", memory)


async def test_long_lived_worker_sees_a_tool_created_after_it_started(app: AgentBatch) -> None:
    """The worker caches each org's custom tools; a tool created later must still be found."""
    worker = app.worker()
    [first] = await make_agents(app, 1)
    job = await run_job(app, [first], script=[{"tool": "send_message", "args": {"message": "hi"}}])
    await worker.run_until(job["id"], timeout_s=30)  # caches filled, no custom tools yet
    source = 'def double(x: int) -> int:\n    """Twice x."""\n    return 2 * x\n'
    await add_tool(app, source)
    [second] = await make_agents(app, 1, tools=["send_message", "double"])
    created = await app.jobs.create_job(
        app.org_id,
        {
            "requests": [{"agent_id": second, "messages": "go"}],
            "max_steps": 1,
            "options": {"script": [{"tool": "double", "args": {"x": 21}, "heartbeat": False}]},
        },
    )
    await worker.run_until(created["id"], timeout_s=60)
    msgs = await history(app, created["id"], second)
    result = json.loads(msgs[-1]["content"])
    assert result == {"status": "OK", "message": "42"}
