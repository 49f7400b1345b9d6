"""A two-organisation runtime whose custom tools run in the bubblewrap sandbox.

Each attack test registers a hostile tool for organisation A, lets a scripted agent of A
call it through a real job, and checks what the tool could reach, and that the runtime
and organisation B were unaffected. The database is the SQLite file under
``AGENTBATCH_HOME`` (the file a tool must not reach); the runtime's environment holds a
provider key (a secret a tool must not read).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import pytest

from agentbatch.app import AgentBatch, ensure_org
from agentbatch.providers.registry import ProviderRegistry
from agentbatch.security_settings import SecuritySettings
from agentbatch.testing.recording import RecordingProvider
from agentbatch.tools.sandbox.bwrap import probe
from tests.conftest import fast_settings

ORG_A = "org-a"
ORG_B = "org-b"
MAX_PROCESSES = 32
MEMORY_MB = 256
REPLY = {"tool": "send_message", "args": {"message": "done"}, "heartbeat": False}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/security/" in str(item.path).replace("\\", "/"):
            item.add_marker(pytest.mark.security)


@pytest.fixture
def secret() -> str:
    return "sk-ant-secret-" + uuid.uuid4().hex


@dataclass
class World:
    app: AgentBatch
    home: Path
    database: Path
    secret: str
    tools: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)

    async def tool(self, org: str, source: str, **settings: Any) -> str:
        name = source.split("def ", 1)[1].split("(", 1)[0]
        if (org, name) not in self.tools:
            body = {"source": source, **settings}
            self.tools[org, name] = await self.app.tools.create_tool(org, body)
        return name

    async def call(
        self, org: str, source: str, args: dict[str, Any] | None = None, **settings: Any
    ) -> tuple[str, str]:
        """Run a job in which one agent of ``org`` calls the tool once: (status, text)."""
        name = await self.tool(org, source, **settings)
        agent = await self.app.agents.create_agent(
            org,
            {"name": f"{name}-{uuid.uuid4().hex[:6]}", "model": "scripted/x", "tools": [name]},
        )
        script = [{"tool": name, "args": args or {}, "heartbeat": False}]
        created = await self.app.jobs.create_job(
            org,
            {
                "requests": [{"agent_id": agent["id"], "messages": "go"}],
                "max_steps": 1,
                "options": {"script": script},
            },
        )
        job = await self.app.run_job(created["id"], timeout_s=120)
        assert job["status"] == "completed", job
        messages = await self.app.jobs.job_messages(org, created["id"], agent_id=agent["id"])
        body = json.loads(messages[-1]["content"])
        return str(body["status"]), str(body["message"])

    async def value(self, org: str, source: str, args: dict[str, Any] | None = None) -> Any:
        status, text = await self.call(org, source, args)
        assert status == "OK", text
        return json.loads(text)

    def sandbox_processes(self) -> list[psutil.Process]:
        """Every process inside the pool's sandboxes, except bubblewrap itself, the
        workers and their spare children (what a call may leave behind)."""
        pool = self.app.tool_executor.pool
        assert pool is not None and pool.backend == "bwrap"
        left = []
        for pid in pool.worker_pids():
            try:
                tree = psutil.Process(pid).children(recursive=True)
            except psutil.NoSuchProcess:
                continue
            # bwrap's init, the worker and (at most) its spare child
            extra = [p for p in tree if _alive(p)][3:]
            left.extend(extra)
        return left

    async def wait_no_leftovers(self) -> list[psutil.Process]:
        for _ in range(100):
            left = self.sandbox_processes()
            if not left:
                return left
            await asyncio.sleep(0.05)
        return self.sandbox_processes()


def _alive(process: psutil.Process) -> bool:
    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.fixture
async def world(
    request: pytest.FixtureRequest,
    _home: Path,
    recorder: RecordingProvider,
    secret: str,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[World]:
    """The runtime; ``@pytest.mark.security_settings(**fields)`` changes its settings."""
    features, problem = probe()
    if features is None:
        pytest.skip(f"the security tests need bubblewrap: {problem}")
    monkeypatch.setenv("ANTHROPIC_API_KEY", secret)
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    database = _home / "agentbatch.db"
    marker = request.node.get_closest_marker("security_settings")
    security = SecuritySettings(
        **{
            "sandbox": "bwrap",
            "tool_max_timeout_s": 30,
            "tool_max_memory_mb": MEMORY_MB,
            "tool_max_processes": MAX_PROCESSES,
            **(marker.kwargs if marker else {}),
        }
    )
    app = await AgentBatch.open(
        f"sqlite+aiosqlite:///{database}",
        settings=fast_settings(tool_concurrency=4),
        registry=ProviderRegistry({"scripted": recorder}),
        security=security,
        org_id=ORG_A,
        upgrade=True,
    )
    app.require_isolation()  # as the authenticated HTTP server does
    await ensure_org(app.db, ORG_B)
    try:
        yield World(app, _home, database, secret)
    finally:
        await app.close()


def tool_source(name: str, body: str, params: str = "") -> str:
    """A tool ``name(params)`` with ``body`` (indented here), returning JSON."""
    indented = "\n".join(f"    {line}" for line in body.strip("\n").splitlines())
    return (
        "import json, os, signal, socket, subprocess, sys, time\n\n\n"
        f"def {name}({params}) -> str:\n"
        f'    """Attack: {name}."""\n'
        f"{indented}\n"
    )
