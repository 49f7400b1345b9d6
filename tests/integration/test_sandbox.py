"""The sandbox, for real: warm workers, forked children, limits, isolation; every test runs
on the process sandbox and on bubblewrap (skipped where bubblewrap cannot run)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
import uuid
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from agentbatch.tools.sandbox import (
    SandboxCall,
    SandboxLimits,
    SandboxPool,
    SandboxResult,
    isolation,
)
from agentbatch.tools.sandbox.bwrap import probe

pytestmark = [
    pytest.mark.asyncio(loop_scope="module"),
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the sandbox needs Linux"),
]

FAST = SandboxLimits(timeout_s=5.0, memory_mb=128, cpu_s=5, max_output_bytes=64 * 1024)


@pytest.fixture(scope="module", params=["process", "bwrap"])
def backend(request: pytest.FixtureRequest) -> str:
    if request.param == "bwrap":
        features, problem = probe()
        if features is None:
            pytest.skip(problem)
    return str(request.param)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def pool(backend: str) -> AsyncIterator[SandboxPool]:
    async with SandboxPool(2, default_limits=FAST, backend=backend) as sandbox:
        yield sandbox


def tool(body: str, name: str = "tool", params: str = "") -> SandboxCall:
    """A call to a tool whose body is ``body`` (indented by the helper)."""
    source = "import os, sys\n\n\ndef {name}({params}):\n{body}\n".format(
        name=name, params=params, body="\n".join(f"    {line}" for line in body.splitlines())
    )
    return SandboxCall(source=source, function=name)


def with_(call: SandboxCall, **changes: object) -> SandboxCall:
    fields = {
        "source": call.source,
        "function": call.function,
        "arguments": call.arguments,
        "env": call.env,
        "agent_id": call.agent_id,
        "memory": call.memory,
        "requirements": call.requirements,
        "limits": call.limits,
        "allow_network": call.allow_network,
    }
    fields.update(changes)
    return SandboxCall(**fields)  # type: ignore[arg-type]


async def assert_recovers(pool: SandboxPool) -> None:
    """After a failure, the pool still answers normal calls, on every worker."""
    results = await asyncio.gather(*(pool.run(tool("return 40 + 2")) for _ in range(pool.size)))
    assert [r.value for r in results] == [42] * pool.size, results


async def test_returns_value_and_captured_output(pool: SandboxPool) -> None:
    call = SandboxCall(
        source="def greet(name: str, times: int = 1) -> dict:\n"
        '    """Greet."""\n'
        '    print("hello", name)\n'
        '    print("to stderr", file=__import__("sys").stderr)\n'
        '    return {"greeting": "hi " + name, "times": times, "pair": (1, 2.5), "none": None}\n',
        function="greet",
        arguments={"name": "Zoë", "times": 2},
    )

    result = await pool.run(call)

    assert result.ok, result
    assert result.value == {"greeting": "hi Zoë", "times": 2, "pair": [1, 2.5], "none": None}
    assert result.stdout == "hello Zoë\nto stderr\n"
    assert result.error is None
    assert 0 < result.duration_s < 5


async def test_values_json_cannot_hold_go_through_repr(pool: SandboxPool) -> None:
    result = await pool.run(
        tool(
            "class Point:\n    def __repr__(self):\n        return 'Point()'\n"
            "return {'set': {3}, 'point': Point()}"
        )
    )

    assert result.ok, result
    assert result.value == {"set": "{3}", "point": "Point()"}


async def test_async_tool(pool: SandboxPool) -> None:
    call = SandboxCall(
        source="import asyncio\n\nasync def later(x: int) -> int:\n"
        "    await asyncio.sleep(0.01)\n    return x * 2\n",
        function="later",
        arguments={"x": 21},
    )

    assert (await pool.run(call)).value == 42


async def test_exception_gives_type_message_and_traceback(pool: SandboxPool) -> None:
    result = await pool.run(tool("raise ValueError('city not found: Atlantis')"))

    assert not result.ok
    assert result.error == "ValueError: city not found: Atlantis"
    assert 'File "<tool>"' in result.stdout and "raise ValueError" in result.stdout


async def test_bad_arguments_and_missing_function(pool: SandboxPool) -> None:
    wrong = await pool.run(with_(tool("return 1"), arguments={"nope": 1}))
    missing = await pool.run(with_(tool("return 1"), function="absent"))
    syntax = await pool.run(SandboxCall(source="def tool(:\n", function="tool"))

    assert wrong.error is not None and wrong.error.startswith("TypeError: ")
    assert missing.error == "NameError: tool source defines no function 'absent'"
    assert syntax.error is not None and syntax.error.startswith("SyntaxError: ")


async def test_infinite_loop_times_out_and_pool_recovers(pool: SandboxPool) -> None:
    limits = SandboxLimits(timeout_s=1.0, cpu_s=30)
    started = time.monotonic()

    result = await pool.run(with_(tool("while True:\n    pass"), limits=limits))

    assert not result.ok
    assert result.error == "tool timed out after 1 s"
    assert time.monotonic() - started < 3
    await assert_recovers(pool)


async def test_sleeping_tool_and_its_children_are_killed_at_the_timeout(
    pool: SandboxPool,
) -> None:
    body = "import subprocess, time\nsubprocess.Popen(['sleep', '30'])\ntime.sleep(30)"

    result = await pool.run(with_(tool(body), limits=SandboxLimits(timeout_s=0.5)))

    assert result.error == "tool timed out after 0.5 s"
    await assert_recovers(pool)


async def test_cpu_limit(pool: SandboxPool) -> None:
    limits = SandboxLimits(timeout_s=10.0, cpu_s=1)

    result = await pool.run(with_(tool("while True:\n    pass"), limits=limits))

    assert result.error == "tool exceeded its CPU time limit (1 s)"
    await assert_recovers(pool)


async def test_memory_hog_fails_with_a_clear_message(pool: SandboxPool) -> None:
    limits = SandboxLimits(memory_mb=64)

    hog = await pool.run(with_(tool("return len(bytearray(512 * 1024 * 1024))"), limits=limits))
    within = await pool.run(with_(tool("return len(bytearray(16 * 1024 * 1024))"), limits=limits))

    assert not hog.ok
    assert hog.error == "tool exceeded its memory limit (64 MB)"
    assert within.value == 16 * 1024 * 1024
    await assert_recovers(pool)


async def test_threads_fit_in_the_memory_limit(pool: SandboxPool) -> None:
    body = (
        "import threading\n"
        "out = []\n"
        "threads = [threading.Thread(target=lambda: out.append(bytes(100_000))) for _ in range(8)]\n"
        "[t.start() for t in threads]\n"
        "[t.join() for t in threads]\n"
        "return len(out)"
    )

    result = await pool.run(with_(tool(body), limits=SandboxLimits(memory_mb=128)))

    assert result.value == 8, result


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ("os._exit(3)", "tool process died (exit code 3) without a result"),
        ("os.kill(os.getpid(), 9)", "tool process died (signal 9: SIGKILL)"),
        ("import ctypes\nctypes.string_at(0)", "tool process died (signal 11: SIGSEGV)"),
    ],
)
async def test_tool_that_kills_its_process(pool: SandboxPool, body: str, error: str) -> None:
    result = await pool.run(tool(body))

    assert not result.ok
    assert result.error == error
    await assert_recovers(pool)


async def test_tool_that_kills_its_worker_gets_a_failure_and_the_worker_is_replaced(
    pool: SandboxPool,
) -> None:
    result = await pool.run(tool("import signal\nos.kill(os.getppid(), signal.SIGKILL)"))

    assert not result.ok
    assert result.error is not None and "sandbox worker died" in result.error
    await assert_recovers(pool)


async def test_printing_megabytes_is_cut_at_the_cap(pool: SandboxPool) -> None:
    started = time.monotonic()

    result = await pool.run(tool("print('x' * 10_000_000)\nreturn 'done'"))

    assert not result.ok
    assert result.truncated
    assert result.error == "output truncated at 65536 bytes"
    assert len(result.stdout) == 65536
    assert time.monotonic() - started < 3
    await assert_recovers(pool)


async def test_a_huge_return_value_is_truncated_and_flagged(pool: SandboxPool) -> None:
    result = await pool.run(tool("return 'y' * 200_000"))

    assert not result.ok
    assert result.truncated
    assert result.error is not None and "truncated at 65536 bytes" in result.error
    assert isinstance(result.value, str) and len(result.value) <= 65536


async def test_runtime_secrets_do_not_reach_the_tool(
    monkeypatch: pytest.MonkeyPatch, backend: str
) -> None:
    monkeypatch.setenv("AGENTBATCH_SECRET_TEST", "s3cret")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    body = (
        "with open('/proc/self/environ', 'rb') as f:\n"
        "    raw = f.read().decode()\n"
        "return {'environ': dict(os.environ), 'raw': raw}"
    )
    runtime_environ = f"return open('/proc/{os.getpid()}/environ').read()"
    async with SandboxPool(1, default_limits=FAST, backend=backend) as fresh:
        result = await fresh.run(with_(tool(body), env={"CITY_API_TOKEN": "tool-own"}))
        snoop = await fresh.run(tool(runtime_environ))
        mode = fresh.network_mode

    assert result.ok, result
    assert result.value["environ"] == {"CITY_API_TOKEN": "tool-own"}
    assert "s3cret" not in result.value["raw"] and "sk-ant" not in result.value["raw"]
    if mode == "bwrap":  # the host's processes do not exist in the sandbox's /proc
        assert snoop.error is not None and snoop.error.startswith("FileNotFoundError"), snoop
    elif mode == "userns+netns":  # otherwise /proc/<runtime pid>/environ is readable
        assert snoop.error is not None and snoop.error.startswith("PermissionError"), snoop


SCAN_MEMORY = r"""
import re
found = set()
with open("/proc/self/maps") as maps, open("/proc/self/mem", "rb", 0) as mem:
    for line in maps:
        fields = line.split()
        if "r" not in fields[1] or (len(fields) > 5 and fields[5].startswith("[v")):
            continue
        start, end = (int(x, 16) for x in fields[0].split("-"))
        try:
            mem.seek(start)
            chunk = mem.read(end - start)
        except (OSError, OverflowError, ValueError):
            continue
        found.update(m.decode() for m in re.findall(rb"LEAKCHECK-[0-9a-f]{32}", chunk))
return sorted(found)
"""


async def test_a_call_cannot_find_an_earlier_calls_data_in_its_memory(backend: str) -> None:
    secret = "LEAKCHECK-" + uuid.uuid4().hex
    limits = SandboxLimits(memory_mb=512)
    first = with_(
        tool(SCAN_MEMORY, params="note: str"),
        arguments={"note": secret},
        env={"TOOL_TOKEN": secret},
        memory={"human": secret},
        limits=limits,
    )
    second = with_(tool(SCAN_MEMORY), limits=limits)
    async with SandboxPool(
        1, default_limits=FAST, backend=backend
    ) as single:  # same worker for both
        own = await single.run(first)
        later = await single.run(second)

    assert own.ok and secret in own.value, own  # the scan does find data in memory
    assert later.ok, later
    assert secret not in later.value


async def test_network_is_blocked_by_default_and_allowed_on_request(
    pool: SandboxPool, backend: str
) -> None:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"pong")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    body = (
        "import socket\n"
        f"with socket.create_connection(('127.0.0.1', {port}), timeout=2) as s:\n"
        "    return s.recv(4).decode()"
    )
    async with server:
        blocked = await pool.run(tool(body))
        dns = await pool.run(tool("import socket\nreturn socket.gethostbyname('localhost')"))
        allowed = await pool.run(with_(tool(body), allow_network=True))
        if backend == "bwrap":  # loopback is refused unless the operator allows it
            async with SandboxPool(
                1, default_limits=FAST, backend=backend, network_allow=("127.0.0.1/32",)
            ) as permitted:
                allowed_loopback = await permitted.run(with_(tool(body), allow_network=True))

    assert not blocked.ok
    assert blocked.error is not None
    assert blocked.error.startswith(("PermissionError", "OSError", "ConnectionRefusedError"))
    assert not dns.ok
    if backend == "bwrap":
        assert pool.network_mode == "bwrap"
        assert not allowed.ok and allowed.error is not None
        assert allowed.error.startswith("PermissionError: tools may reach public addresses only")
        assert allowed_loopback.ok and allowed_loopback.value == "pong", allowed_loopback
    else:
        assert pool.network_mode in {"netns", "userns+netns", "audit-hook"}
        assert allowed.ok and allowed.value == "pong", allowed
    await assert_recovers(pool)


AUDIT_HOOK_ONLY = r"""
import asyncio, importlib.util, json, socket, sys
spec = importlib.util.spec_from_file_location("isolation", sys.argv[1])
isolation = importlib.util.module_from_spec(spec)
spec.loader.exec_module(isolation)
isolation._unshare = lambda flags: False  # as if no namespace were permitted
outcome = {"mode": isolation.isolate_network()}
for name, attempt in [
    ("tcp", lambda: socket.create_connection(("127.0.0.1", 9), timeout=1)),
    ("dns", lambda: socket.getaddrinfo("localhost", 80)),
    ("unix", lambda: socket.socket(socket.AF_UNIX).connect("/var/run/docker.sock")),
]:
    try:
        attempt()
        outcome[name] = "allowed"
    except PermissionError:
        outcome[name] = "blocked"
    except OSError as exc:
        outcome[name] = f"other: {exc}"
async def main():
    await asyncio.sleep(0)
    return "asyncio works"
outcome["asyncio"] = asyncio.run(main())
print(json.dumps(outcome))
"""


async def test_audit_hook_fallback_blocks_sockets_but_not_asyncio() -> None:
    module = Path(isolation.__file__)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-I", "-c", AUDIT_HOOK_ONLY, str(module), stdout=asyncio.subprocess.PIPE
    )
    out, _ = await process.communicate()

    assert json.loads(out) == {
        "mode": "audit-hook",
        "tcp": "blocked",
        "dns": "blocked",
        "unix": "blocked",
        "asyncio": "asyncio works",
    }


async def test_each_call_gets_a_fresh_empty_working_directory(pool: SandboxPool) -> None:
    write = tool("open('marker.txt', 'w').write('x')\nreturn [os.getcwd(), os.listdir('.')]")
    look = tool("return [os.getcwd(), os.listdir('.')]")

    first = await pool.run(write)
    second = await pool.run(look)

    assert first.ok and second.ok
    assert first.value[1] == ["marker.txt"]
    assert second.value[1] == []
    assert first.value[0] != second.value[0]
    previous = await pool.run(tool(f"return os.path.exists({first.value[0]!r})"))
    assert previous.value is False  # removed after the call


async def test_agent_id_and_memory_are_injected(pool: SandboxPool) -> None:
    call = SandboxCall(
        source="def recall(key: str, agent_id: str, memory: dict) -> list:\n"
        '    """Recall."""\n'
        "    return [agent_id, memory.get(key), sorted(memory)]\n",
        function="recall",
        arguments={"key": "human", "agent_id": "spoofed-by-the-model"},
        agent_id="agent-123",
        memory={"human": "Ada", "persona": "helpful"},
    )

    result = await pool.run(call)

    assert result.value == ["agent-123", "Ada", ["human", "persona"]]


async def test_a_hundred_concurrent_calls_are_correct_and_faster_than_serial(
    backend: str,
) -> None:
    call = SandboxCall(
        source="import time\n\ndef slow_square(x: int) -> int:\n"
        "    time.sleep(0.03)\n    return x * x\n",
        function="slow_square",
    )
    async with SandboxPool(4, default_limits=FAST, backend=backend) as wide:
        started = time.monotonic()
        results = await asyncio.gather(
            *(wide.run(with_(call, arguments={"x": i})) for i in range(100))
        )
        elapsed = time.monotonic() - started

    assert [r.value for r in results] == [i * i for i in range(100)]
    serial_lower_bound = 100 * 0.03  # one after the other, they would sleep this long
    assert elapsed < 0.8 * serial_lower_bound, elapsed


async def test_pool_bounds_concurrency(backend: str) -> None:
    call = SandboxCall(
        source="import time\n\ndef nap() -> float:\n    time.sleep(0.2)\n    return 1\n",
        function="nap",
    )
    async with SandboxPool(2, default_limits=FAST, backend=backend) as small:
        started = time.monotonic()
        results = await asyncio.gather(*(small.run(call) for _ in range(4)))
        elapsed = time.monotonic() - started

    assert all(r.ok for r in results)
    assert elapsed >= 0.4  # two rounds of two


def build_wheel(directory: Path) -> Path:
    """A minimal pure-Python wheel, built by hand (no network, no build backend)."""
    wheel = directory / "tinypkg_agentbatch-0.1-py3-none-any.whl"
    info = "tinypkg_agentbatch-0.1.dist-info"
    files = {
        "tinypkg_agentbatch/__init__.py": "VALUE = 'from the tool venv'\n",
        f"{info}/METADATA": "Metadata-Version: 2.1\nName: tinypkg-agentbatch\nVersion: 0.1\n",
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
        "Tag: py3-none-any\n",
    }
    record = "".join(f"{name},,\n" for name in files) + f"{info}/RECORD,,\n"
    with zipfile.ZipFile(wheel, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
        archive.writestr(f"{info}/RECORD", record)
    return wheel


async def test_requirements_run_in_a_cached_virtualenv(
    tmp_path: Path, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    wheel = build_wheel(tmp_path)
    body = (
        "import tinypkg_agentbatch\n"
        "try:\n"
        "    import sqlalchemy  # in the runtime's environment, not in the tool's\n"
        "    leaked = True\n"
        "except ImportError:\n"
        "    leaked = False\n"
        "return [tinypkg_agentbatch.VALUE, sys.prefix, leaked]"
    )
    # a local "index": pip reads PIP_* from the environment the runtime passes on
    monkeypatch.setenv("PIP_FIND_LINKS", str(wheel.parent))
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    call = with_(tool(body), requirements=["tinypkg-agentbatch==0.1"], org_id="org-a")
    async with SandboxPool(
        1, default_limits=FAST, venv_root=tmp_path / "venvs", backend=backend
    ) as venv_pool:
        first = await venv_pool.run(call)
        started = time.monotonic()
        second = await venv_pool.run(call)
        reuse = time.monotonic() - started
        plain = await venv_pool.run(tool("import tinypkg_agentbatch"))
        bad = await venv_pool.run(with_(call, requirements=["--index-url=http://evil"]))
        path = await venv_pool.run(with_(call, requirements=[str(wheel)]))
        missing = await venv_pool.run(with_(call, requirements=["nosuchpkg-agentbatch"]))
        other_org = await venv_pool.run(with_(call, org_id="org-b"))

    assert first.ok, first
    value, prefix, leaked = first.value
    assert value == "from the tool venv"
    # bubblewrap mounts the organisation's environment read-only at /opt/venvs/
    assert prefix.startswith("/opt/venvs/" if backend == "bwrap" else str(tmp_path / "venvs"))
    assert leaked is False
    assert second.value == first.value
    assert reuse < 2.0  # no reinstall
    assert plain.error == "ModuleNotFoundError: No module named 'tinypkg_agentbatch'"
    assert bad.error is not None and "invalid requirement" in bad.error
    assert path.error is not None and "paths, URLs" in path.error
    assert missing.error is not None and "no wheel matches" in missing.error
    assert str(tmp_path) not in missing.error  # pip's own text stays in the log
    assert other_org.ok and other_org.value[1] != prefix  # each organisation its own


async def test_invalid_call_is_a_failed_result(pool: SandboxPool) -> None:
    result = await pool.run(with_(tool("return 1"), env={"A=B": "x"}))

    assert result == SandboxResult(ok=False, error=result.error)
    assert result.error is not None and result.error.startswith("invalid sandbox call")
