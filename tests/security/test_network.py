"""Network: no socket of the host (database, Docker) and no network by default; a tool
allowed on the network still reaches no private address."""

from __future__ import annotations

import asyncio
import json
import os

import pytest

from agentbatch.errors import InvalidInput
from tests.security.conftest import ORG_A, World, tool_source

POSTGRES_SOCKET = "/var/run/postgresql/.s.PGSQL.5432"

REACH = tool_source(
    "reach",
    r"""
outcome = {}
def attempt(name, action):
    try:
        outcome[name] = ["reached", action()]
    except BaseException as exc:
        outcome[name] = ["refused", type(exc).__name__]
def unix(path):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(2)
    s.connect(path)
    return "connected"
def tcp(host, port):
    socket.create_connection((host, port), timeout=2).close()
    return "connected"
attempt("postgres_socket", lambda: unix("/var/run/postgresql/.s.PGSQL.5432"))
attempt("postgres_socket_file", lambda: os.stat("/var/run/postgresql/.s.PGSQL.5432").st_mode)
attempt("run_dir", lambda: os.listdir("/run"))
attempt("docker_socket", lambda: unix("/var/run/docker.sock"))
attempt("postgres_tcp", lambda: tcp("127.0.0.1", 5432))
attempt("metadata", lambda: tcp("169.254.169.254", 80))
attempt("private", lambda: tcp("10.0.0.1", 80))
attempt("dns", lambda: socket.getaddrinfo("example.com", 443))
def psql():
    done = subprocess.run(
        ["psql", "-h", "/var/run/postgresql", "-U", "postgres", "-c", "select 1"],
        capture_output=True, text=True, timeout=10,
    )
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-200:])
    return done.stdout
attempt("psql", psql)
def raw_connect():  # below Python's socket module: the kernel decides
    import ctypes, struct
    libc = ctypes.CDLL(None, use_errno=True)
    fd = libc.socket(2, 1, 0)
    address = struct.pack("!HH4s8x", 2, 5432, bytes([127, 0, 0, 1]))
    address = struct.pack("<H", 2) + address[2:]
    if libc.connect(fd, address, len(address)) != 0:
        raise OSError(ctypes.get_errno(), "connect failed")
    return "connected"
attempt("raw_tcp", raw_connect)
return json.dumps(outcome)
""",
)


async def test_no_host_socket_and_no_network_by_default(world: World) -> None:
    listener = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
    async with listener:
        outcome = await world.value(ORG_A, REACH)

    reached = {name: result for name, result in outcome.items() if result[0] == "reached"}
    assert reached == {}
    if os.path.exists(POSTGRES_SOCKET):  # the host has it: the sandbox does not
        assert outcome["postgres_socket_file"][1] == "FileNotFoundError"
    # an empty network namespace, not only the hook: nothing listens on its loopback
    assert outcome["raw_tcp"][1] == "ConnectionRefusedError"


async def test_network_for_tools_is_off_unless_the_operator_allows_it(world: World) -> None:
    with pytest.raises(InvalidInput, match="AGENTBATCH_TOOLS_ALLOW_NETWORK"):
        await world.app.tools.create_tool(
            ORG_A, {"source": tool_source("net", "return 'x'"), "allow_network": True}
        )


@pytest.mark.security_settings(tools_allow_network=True)
async def test_tool_on_the_network_reaches_no_private_address(world: World) -> None:
    status, text = await world.call(ORG_A, REACH, allow_network=True)
    assert status == "OK", text
    outcome = json.loads(text)
    shown = await world.app.tools.get_tool(ORG_A, "reach")

    assert shown["settings"]["allow_network"] is True  # `agentbatch tools show` prints it
    for name in ("postgres_socket", "postgres_tcp", "metadata", "private", "psql", "run_dir"):
        assert outcome[name][0] == "refused", (name, outcome[name])
    assert outcome["postgres_tcp"][1] == "PermissionError"  # the sandbox's guard, not luck
