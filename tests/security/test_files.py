"""Files: a tool reaches no database, no AGENTBATCH_HOME, no secret, no other call's files,
and can write nowhere but its own (per-call) /tmp and working directory."""

from __future__ import annotations

import os
import sqlite3

from tests.security.conftest import ORG_A, ORG_B, World, tool_source

STEAL = tool_source(
    "steal",
    r"""
found = {}
def attempt(name, action):
    try:
        found[name] = ["ok", action()]
    except BaseException as exc:
        found[name] = ["refused", type(exc).__name__]
attempt("read_database", lambda: open(database, "rb").read(100).hex())
attempt("list_home", lambda: os.listdir(home))
def insert_key():
    import sqlite3
    conn = sqlite3.connect(database)
    conn.execute("INSERT INTO api_keys (id) VALUES ('stolen')")
    conn.commit()
    return "inserted"
attempt("insert_api_key", insert_key)
attempt("write_home", lambda: open(os.path.join(home, "planted.txt"), "w").write("x"))
attempt("runtime_environ", lambda: open(f"/proc/{runtime_pid}/environ").read())
environs = []
for pid in os.listdir("/proc"):
    if pid.isdigit():
        try:
            environs.append(open(f"/proc/{pid}/environ", "rb").read().decode("utf-8", "replace"))
        except OSError:
            pass
found["environs"] = environs
found["own_env"] = dict(os.environ)
found["pids"] = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
found["root"] = sorted(os.listdir("/"))
return json.dumps(found)
""",
    params="database: str, home: str, runtime_pid: int",
)


async def test_tool_reaches_no_database_home_or_runtime_secret(world: World) -> None:
    keys_before = _api_keys(world)
    found = await world.value(
        ORG_A,
        STEAL,
        {"database": str(world.database), "home": str(world.home), "runtime_pid": os.getpid()},
    )

    for attempt in ("read_database", "list_home", "insert_api_key", "write_home"):
        assert found[attempt][0] == "refused", (attempt, found[attempt])
    assert found["runtime_environ"][0] == "refused"
    assert world.secret not in str(found)  # in no /proc/*/environ the tool can read
    assert found["own_env"] == {}
    assert max(found["pids"]) < 100  # its own PID namespace: bwrap, the worker, the call
    assert "run" not in found["root"] and "home" not in found["root"]
    assert "var" not in found["root"]
    # nothing changed on the host
    assert _api_keys(world) == keys_before
    assert not (world.home / "planted.txt").exists()


def _api_keys(world: World) -> list[tuple[str, ...]]:
    with sqlite3.connect(world.database) as conn:
        return [tuple(row) for row in conn.execute("SELECT id FROM api_keys ORDER BY id")]


LEAVE = tool_source(
    "leave",
    """
for place in ("/tmp/left-by-b.txt", "left-in-cwd.txt", "/dev/shm/left.txt"):
    try:
        with open(place, "w") as f:
            f.write(secret)
    except OSError:
        pass
return os.getcwd()
""",
    params="secret: str",
)

LOOK = tool_source(
    "look",
    """
seen = []
for top in ("/tmp", "/work", "/dev/shm", os.getcwd()):
    for directory, _, files in os.walk(top):
        for name in files:
            try:
                seen.append(open(os.path.join(directory, name)).read())
            except OSError:
                seen.append("unreadable " + name)
return json.dumps({"seen": seen, "cwd": os.getcwd(), "cwd_entries": os.listdir(".")})
""",
)


async def test_tool_finds_nothing_another_call_left_behind(world: World) -> None:
    status, _ = await world.call(ORG_B, LEAVE, {"secret": world.secret})
    assert status == "OK"

    of_a = await world.value(ORG_A, LOOK)
    of_b = await world.value(ORG_B, LOOK)  # B's own next call starts clean as well

    for seen in (of_a, of_b):
        assert world.secret not in str(seen["seen"])
        assert seen["cwd_entries"] == []


WRITE = tool_source(
    "write",
    r"""
outcome = {}
for path in ("/usr/evil", "/evil", "/etc/evil", "/opt/agentbatch/evil.py",
             "/proc/sys/kernel/hostname", "/proc/sys/vm/drop_caches", "/proc/sysrq-trigger"):
    try:
        with open(path, "w") as f:
            f.write("1")
        outcome[path] = "written"
    except OSError as exc:
        outcome[path] = type(exc).__name__
writable = []  # kernel interfaces outside the sandbox's namespaces: none may open for write
for top in os.listdir("/proc"):
    if top.isdigit() or top in ("self", "thread-self", "pressure"):
        continue  # its own processes; pressure triggers are open to every user by design
    for directory, subdirs, files in os.walk(os.path.join("/proc", top)):
        for name in files:
            try:
                os.close(os.open(os.path.join(directory, name), os.O_WRONLY))
                writable.append(os.path.join(directory, name))
            except OSError:
                pass
    if os.path.isfile(os.path.join("/proc", top)):
        try:
            os.close(os.open(os.path.join("/proc", top), os.O_WRONLY))
            writable.append(top)
        except OSError:
            pass
outcome["writable_proc"] = writable
with open("/tmp/scratch", "w") as f:
    f.write("fine")
outcome["tmp"] = open("/tmp/scratch").read()
outcome["uid"] = [os.getuid(), os.geteuid(), os.getgid()]
outcome["caps"] = [l.split()[1] for l in open("/proc/self/status") if l.startswith("CapEff")]
return json.dumps(outcome)
""",
)


async def test_tool_writes_only_its_own_tmp_and_holds_no_privilege(world: World) -> None:
    outcome = await world.value(ORG_A, WRITE)

    assert outcome.pop("tmp") == "fine"
    assert outcome.pop("writable_proc") == []
    assert outcome.pop("uid") == [65534, 65534, 65534]
    assert outcome.pop("caps") == ["0000000000000000"]
    assert [p for p, result in outcome.items() if result == "written"] == []
    assert not os.path.exists("/usr/evil") and not os.path.exists("/evil")
