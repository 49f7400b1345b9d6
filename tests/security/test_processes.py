"""Processes: a tool cannot see or signal the runtime or another organisation's calls,
leaves no process behind, and its fork and memory bombs stop at the per-call limits."""

from __future__ import annotations

import asyncio
import json
import os
from types import SimpleNamespace
from typing import Any

from tests.security.conftest import MAX_PROCESSES, MEMORY_MB, ORG_A, ORG_B, World, tool_source

QUICK = tool_source("quick", "time.sleep(0.05)\nreturn str(n * n)", params="n: int")

KILL_ALL = tool_source(
    "kill_all",
    """
seen = {}
for pid in sorted(int(p) for p in os.listdir("/proc") if p.isdigit()):
    try:
        seen[pid] = open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\\0", b" ").decode()
    except OSError:
        pass
with open("/tmp/seen.json", "w") as f:  # for nobody: this call will not finish
    json.dump(seen, f)
try:
    os.kill(runtime_pid, signal.SIGKILL)
except OSError:
    pass
for pid in seen:
    if pid != os.getpid():
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
os.kill(-1, signal.SIGKILL)  # everything this uid may signal
return "still here"
""",
    params="runtime_pid: int",
)

SEE = tool_source(
    "see",
    """
pids = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
lines = []
for pid in pids:
    try:
        lines.append(open(f"/proc/{pid}/cmdline", "rb").read().decode("utf-8", "replace"))
    except OSError:
        pass
try:
    os.kill(runtime_pid, 0)
    runtime = "visible"
except ProcessLookupError:
    runtime = "invisible"
except PermissionError:
    runtime = "visible but protected"
return json.dumps({"pids": pids, "cmdlines": lines, "runtime": runtime})
""",
    params="runtime_pid: int",
)


async def test_tool_sees_and_signals_only_its_own_sandbox(world: World) -> None:
    seen = await world.value(ORG_A, SEE, {"runtime_pid": os.getpid()})

    assert seen["runtime"] == "invisible"
    assert len(seen["pids"]) <= 4  # bwrap's init, the worker, this call
    assert not any("pytest" in line for line in seen["cmdlines"])


async def test_tool_that_kills_everything_it_can_fails_only_its_own_call(world: World) -> None:
    b_agents = []
    name = await world.tool(ORG_B, QUICK)
    for i in range(6):
        agent = await world.app.agents.create_agent(
            ORG_B, {"name": f"b-{i}", "model": "scripted/x", "tools": [name]}
        )
        b_agents.append(agent["id"])
    job_b = await world.app.jobs.create_job(
        ORG_B,
        {
            "requests": [{"agent_id": a, "messages": "go"} for a in b_agents],
            "max_steps": 1,
            "options": {"script": [{"tool": name, "args": {"n": 7}, "heartbeat": False}]},
        },
    )

    attack = world.call(ORG_A, KILL_ALL, {"runtime_pid": os.getpid()})
    (status, text), b = await asyncio.gather(attack, world.app.run_job(job_b["id"], timeout_s=120))

    assert status == "Failed"
    assert text.startswith("the tool crashed its sandbox")
    assert b["status"] == "completed" and b["runs"]["completed"] == 6
    for agent in b_agents:
        messages = await world.app.jobs.job_messages(ORG_B, job_b["id"], agent_id=agent)
        assert json.loads(messages[-1]["content"]) == {"status": "OK", "message": "49"}
    # the runtime lives on and A's next call runs in a fresh sandbox
    assert await world.value(ORG_A, SEE, {"runtime_pid": os.getpid()})
    assert await world.wait_no_leftovers() == []


async def test_a_crashed_sandbox_is_flagged_for_the_runtime(world: World) -> None:
    row = SimpleNamespace(
        org_id=ORG_A,
        name="kill_all",
        source=KILL_ALL,
        settings={"wants_agent_id": False, "wants_memory": False},
    )
    crashed = await world.app.tool_executor.run_custom(row, "a", {"runtime_pid": 1}, {})
    failed = await world.app.tool_executor.run_custom(
        SimpleNamespace(
            org_id=ORG_A,
            name="boom",
            source=tool_source("boom", "raise ValueError('boom')"),
            settings={},
        ),
        "a",
        {},
        {},
    )

    assert not crashed.ok and crashed.sandbox_crashed
    assert not failed.ok and not failed.sandbox_crashed  # an ordinary tool error


LINGER = tool_source(
    "linger",
    """
detached = subprocess.Popen(
    [sys.executable, "-c", "import os, time\\nwhile True:\\n    os.listdir('/work')\\n    time.sleep(0.01)"],
    start_new_session=True,
)
if os.fork() == 0:  # a double-forked daemon in a session of its own
    os.setsid()
    if os.fork() == 0:
        while True:
            time.sleep(0.01)
    os._exit(0)
return json.dumps({"detached": detached.pid})
""",
)


async def test_no_process_outlives_its_call(world: World) -> None:
    status, text = await world.call(ORG_A, LINGER)
    assert status == "OK", text

    assert await world.wait_no_leftovers() == []
    seen = await world.value(ORG_A, SEE, {"runtime_pid": os.getpid()})
    assert json.loads(text)["detached"] not in seen["pids"]


FORK_BOMB = tool_source(
    "fork_bomb",
    """
children, refused = [], 0
for _ in range(300):
    try:
        pid = os.fork()
    except OSError:
        refused += 1
        continue
    if pid == 0:
        time.sleep(600)
        os._exit(0)
    children.append(pid)
return json.dumps({"forked": len(children), "refused": refused})
""",
)


async def test_fork_bomb_stops_at_the_process_limit(world: World) -> None:
    outcome = await world.value(ORG_A, FORK_BOMB)

    assert outcome["forked"] < MAX_PROCESSES
    assert outcome["refused"] >= 300 - MAX_PROCESSES
    assert await world.wait_no_leftovers() == []
    assert await world.value(ORG_B, QUICK, {"n": 3}) == 9  # others unaffected


MEMORY_BOMB = tool_source(
    "memory_bomb",
    """
read_end, write_end = os.pipe()
children = []
for _ in range(8):
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        block = bytearray(200 * 1024 * 1024)  # zero-filled: every page is touched
        os.write(write_end, b"1")
        time.sleep(600)
        os._exit(0)
    children.append(pid)
os.close(write_end)
holding, dead = 0, 0
import select
deadline = time.time() + 20
while holding + dead < 8 and time.time() < deadline:
    ready, _, _ = select.select([read_end], [], [], 0.05)
    if ready:
        holding += len(os.read(read_end, 8))
    for pid in list(children):
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done:
            children.remove(pid)
            dead += 1
return json.dumps({"holding": holding, "killed": dead})
""",
)


async def test_memory_bomb_stops_at_the_memory_limit(world: World) -> None:
    status, text = await world.call(ORG_A, MEMORY_BOMB)

    # Eight processes of 200 MB each under a 256 MB limit for the whole call: at most one
    # holds its block at a time; the others are killed (or the whole call is).
    if status == "OK":
        outcome = json.loads(text)
        assert outcome["holding"] <= 1 and outcome["killed"] >= 7, outcome
    else:
        assert text == f"tool exceeded its memory limit ({MEMORY_MB} MB)"
    assert await world.wait_no_leftovers() == []
    assert await world.value(ORG_B, QUICK, {"n": 4}) == 16


class PipeHoldingLauncher:
    """The process sandbox's worker, started by a shell that keeps the worker's pipes
    open after the worker ends (as a sandbox's init does while a stray process of the
    call lives on): the runtime then sees no end of the pipe when the worker dies."""

    name = "process"

    def __init__(self) -> None:
        from agentbatch.tools.sandbox.launchers import ProcessLauncher

        self.inner = ProcessLauncher()

    def default_python(self) -> str:
        return self.inner.default_python()

    def launch(self, key: Any) -> Any:
        launch = self.inner.launch(key)
        launch.args = ["/bin/sh", "-c", '"$@"; exec sleep 600', "sh", *launch.args]
        return launch


KILL_WORKER = tool_source(
    "kill_worker", "os.kill(os.getppid(), signal.SIGKILL)\ntime.sleep(600)\nreturn 'x'"
)


async def test_a_tool_that_kills_its_worker_fails_at_once() -> None:
    """The runtime watches the worker process itself, not only its pipe: the call fails
    as soon as the worker dies, not when the call's timeout runs out."""
    from agentbatch.tools.sandbox import SandboxCall, SandboxLimits, SandboxPool

    limits = SandboxLimits(timeout_s=2.0, memory_mb=256, cpu_s=5)
    call = SandboxCall(source=KILL_WORKER, function="kill_worker", limits=limits)
    async with SandboxPool(1, launcher=PipeHoldingLauncher(), grace_s=10.0) as pool:
        result = await pool.run(call)
        again = await pool.run(SandboxCall(source=QUICK, function="quick", arguments={"n": 3}))

    assert result.sandbox_crashed and not result.ok
    assert result.error is not None and "sandbox worker died" in result.error
    assert again.ok and again.value == "9"  # a fresh worker took its place
