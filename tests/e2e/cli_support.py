"""Drive the CLI in-process as a user would (click's CliRunner), on the SQLite default in a
temporary AGENTBATCH_HOME; seed many agents straight into the store when a test needs
hundreds."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import insert

from agentbatch.app import AgentBatch
from agentbatch.cli.main import cli
from agentbatch.ids import new_id, utcnow
from agentbatch.store.tables import agents

FAST_ENV = {
    "AGENTBATCH_SEND_DELAY": "0",
    "AGENTBATCH_POLL_INTERVAL": "0.02",
    "AGENTBATCH_RETRY_BACKOFF": "0",
    "AGENTBATCH_IDLE_SLEEP": "0.01",
    "COLUMNS": "250",
}


class Cli:
    def __init__(self, home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.home = home  # also AGENTBATCH_HOME: the default SQLite database lives here
        monkeypatch.setenv("AGENTBATCH_HOME", str(home))
        for key, value in FAST_ENV.items():
            monkeypatch.setenv(key, value)
        monkeypatch.delenv("AGENTBATCH_DATABASE_URL", raising=False)
        monkeypatch.delenv("AGENTBATCH_ORG", raising=False)

    @property
    def url(self) -> str:
        return f"sqlite+aiosqlite:///{self.home / 'agentbatch.db'}"

    def __call__(self, *args: str, ok: bool = True) -> Result:
        result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
        if ok:
            assert result.exit_code == 0, result.output
        return result

    def json(self, *args: str) -> Any:
        return json.loads(self(*args, "--json").stdout)

    def write(self, name: str, content: Any) -> str:
        path = self.home / name
        if isinstance(content, str):
            path.write_text(content)
        else:
            path.write_text(json.dumps(content))
        return str(path)

    def agent(self, name: str, script: list[dict[str, Any]] | None = None, **spec: Any) -> str:
        body = {"name": name, "model": "scripted/cli", **spec}
        if script is not None:
            body["model_settings"] = {"script": script}
        return str(self.json("agents", "create", "--file", self.write(f"{name}.json", body))["id"])

    def seed(self, n: int, *, scripts: list[list[dict[str, Any]]] | None = None) -> list[str]:
        """``n`` agents named ``bulk-<i>`` written in bulk (agent i gets scripts[i % len])."""
        return asyncio.run(_seed(self.url, n, scripts or [[]]))


async def _seed(url: str, n: int, scripts: list[list[dict[str, Any]]]) -> list[str]:
    ab = await AgentBatch.open(url, upgrade=True)
    try:
        now = utcnow()
        rows = [
            {
                "id": new_id("agent"),
                "org_id": ab.org_id,
                "name": f"bulk-{i}",
                "system": "You are a helpful agent.",
                "model": "scripted/bulk",
                "model_settings": {"script": scripts[i % len(scripts)]},
                "tool_names": ["send_message"],
                "tool_rules": [],
                "message_buffer_autoclear": False,
                "metadata": {},
                "created_at": now,
                "updated_at": now,
            }
            for i in range(n)
        ]
        async with ab.db.write() as conn:
            for start in range(0, n, 2000):
                await conn.execute(insert(agents), rows[start : start + 2000])
        return [r["id"] for r in rows]
    finally:
        await ab.close()
