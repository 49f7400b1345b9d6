"""Pure pieces of tenant isolation: JSON limits, requirement syntax, operator settings, and
how a worker drives its call cgroup (on plain files standing in for cgroupfs)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from agentbatch.errors import ConfigError
from agentbatch.input_limits import MAX_JSON_DEPTH, json_problem
from agentbatch.security_settings import SecuritySettings
from agentbatch.tools.sandbox import callgroup
from agentbatch.tools.sandbox.requirements import canonical_requirements
from agentbatch.tools.sandbox.venvs import RequirementsError, normalize_requirements, pip_failure


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ({"n": 2**63}, "64-bit"),
        ([{"n": -(2**63) - 1}], "64-bit"),
        ({"x": float("nan")}, "NaN"),
        ({"x": float("inf")}, "NaN"),
        ({"x": {1, 2}}, "JSON cannot represent"),
        ({"a": [1, 2.5, "x", None, True]}, None),
    ],
)
def test_json_values(value: object, problem: str | None) -> None:
    found = json_problem(value)
    assert (found is None) if problem is None else (found is not None and problem in found)


def test_json_nesting_and_size() -> None:
    deep: object = 1
    for _ in range(MAX_JSON_DEPTH + 2):
        deep = [deep]
    assert "nested" in (json_problem(deep) or "")
    assert json_problem({"k": "v" * 100}, max_bytes=50) == "is 108 bytes of JSON; the limit is 50"
    assert json_problem({"n": 2**63 - 1, "m": -(2**63), "b": True}) is None


@pytest.mark.parametrize(
    "requirement",
    ["humanize", "humanize>=4,<5", "httpx[http2]==0.27.*", "Foo.Bar_baz ~= 1.0", "x===1"],
)
def test_names_with_specifiers_are_requirements(requirement: str) -> None:
    assert normalize_requirements([requirement]) == (requirement.replace(" ", ""),)


def test_requirements_are_sorted_deduplicated_and_capped() -> None:
    assert normalize_requirements(["b", " a ", "b", ""]) == ("a", "b")
    with pytest.raises(RequirementsError, match="at most 32"):
        normalize_requirements([f"pkg{i}" for i in range(33)])
    with pytest.raises(RequirementsError, match="longer than 200"):
        normalize_requirements(["a" * 201])


@pytest.mark.parametrize(
    ("sets", "canonical"),
    [
        ([["six>=1"], ["six>=1.0"], ["six>=1.0.0"], ["six>=01.0"], ["Six >= 1.0"]], ("six>=1",)),
        ([["six<2,>=1.0"], ["six>=1", "six<2.0"]], ("six<2,>=1",)),  # one line per package
        (
            [["Foo.Bar_baz[B,a]==1.0"], ["foo-bar-baz[a]==1", "foo_bar_baz[b]"]],
            ("foo-bar-baz[a,b]==1",),
        ),
        ([["httpx[http2]==0.27.*"]], ("httpx[http2]==0.27.*",)),  # zeros count in wildcards
        ([["x~=1.0.0"]], ("x~=1.0.0",)),  # and in compatible releases
        ([["x===1.0"]], ("x===1.0",)),  # arbitrary equality compares text
        ([["b", "a>=2.0"], ["a>=2", "b"]], ("a>=2", "b")),
    ],
)
def test_equivalent_requirement_sets_are_written_one_way(
    sets: list[list[str]], canonical: tuple[str, ...]
) -> None:
    for requirements in sets:
        assert canonical_requirements(requirements) == canonical, requirements
    assert canonical_requirements(["x~=1.0"]) != canonical_requirements(["x~=1.0.0"])


def test_pip_failures_are_described_without_pips_words() -> None:
    text = "ERROR: No matching distribution found for x\nhttp://user:TOKEN@index/simple"
    assert (
        pip_failure(text, 1)
        == "no wheel matches (only wheels are installed, never source packages)"
    )
    described = pip_failure("Traceback ... /root/.secret TOKEN", 2)
    assert "TOKEN" not in described and "exit code 2" in described


def test_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTBATCH_TOOL_MAX_TIMEOUT", "30")
    monkeypatch.setenv("AGENTBATCH_TOOL_ORG_CONCURRENCY", "2")
    monkeypatch.setenv("AGENTBATCH_CALLBACK_ALLOW", "10.0.0.0/8, hooks.internal")
    monkeypatch.setenv("AGENTBATCH_TOOLS_ALLOW_NETWORK", "yes")
    monkeypatch.setenv("AGENTBATCH_TOOL_MAX_VENVS", "3")
    monkeypatch.setenv("AGENTBATCH_TOOL_MAX_VENV_MB", "512")
    settings = SecuritySettings.from_env()
    assert settings.tool_max_venvs == 3 and settings.tool_max_venv_mb == 512
    assert settings.tool_max_timeout_s == 30 and settings.tool_org_concurrency == 2
    assert settings.callback_allow == ("10.0.0.0/8", "hooks.internal")
    assert settings.tools_allow_network is True and settings.allow_scripted is True  # conftest
    monkeypatch.setenv("AGENTBATCH_SANDBOX", "docker")
    with pytest.raises(ConfigError, match="AGENTBATCH_SANDBOX"):
        SecuritySettings.from_env()
    monkeypatch.setenv("AGENTBATCH_SANDBOX", "auto")
    monkeypatch.setenv("AGENTBATCH_TOOL_MAX_MEMORY_MB", "lots")
    with pytest.raises(ConfigError, match="AGENTBATCH_TOOL_MAX_MEMORY_MB must be a number"):
        SecuritySettings.from_env()


class FakeGroup:
    """A directory of plain files named like a cgroup's, recording each write."""

    def __init__(self, root: Path, names: list[str], events: dict[str, str]) -> None:
        root.mkdir()
        self.root = root
        self.writes: list[tuple[str, str]] = []
        for name in names:
            (root / name).write_text(events.get(name, ""))
        self.fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)

    def record(self, monkeypatch: pytest.MonkeyPatch) -> None:
        real = callgroup._write

        def write(dir_fd: int, name: str, value: str) -> None:
            self.writes.append((name, value))
            real(dir_fd, name, value)

        monkeypatch.setattr(callgroup, "_write", write)


def test_cgroup_v1_memory_and_swap_limits_keep_their_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    memory = FakeGroup(
        tmp_path / "memory",
        [
            "memory.limit_in_bytes",
            "memory.memsw.limit_in_bytes",
            "memory.oom_control",
            "cgroup.procs",
        ],
        {"memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n"},
    )
    pids = FakeGroup(
        tmp_path / "pids", ["pids.max", "pids.events", "cgroup.procs"], {"pids.events": "max 5\n"}
    )
    memory.record(monkeypatch)
    group = callgroup.CallGroup(1, memory.fd, pids.fd)

    group.set_limits(256, 32)  # from unlimited: memory first, then memory + swap
    group.set_limits(256, 32)  # unchanged: nothing written
    group.set_limits(512, 32)  # raised: memory + swap first
    group.enter(7)

    mib = 1024 * 1024
    assert memory.writes == [
        ("memory.limit_in_bytes", str(256 * mib)),
        ("memory.memsw.limit_in_bytes", str(256 * mib)),
        ("pids.max", "32"),
        ("memory.memsw.limit_in_bytes", str(512 * mib)),
        ("memory.limit_in_bytes", str(512 * mib)),
        ("pids.max", "32"),
        ("cgroup.procs", "7"),
        ("cgroup.procs", "7"),
    ]
    assert group.counters() == (3, 5)
    limits = {"memory_mb": 256, "max_processes": 32}
    assert callgroup.limit_message((2, 5), (3, 5), limits) == (
        "tool exceeded its memory limit (256 MB)"
    )
    assert "process limit (32)" in callgroup.limit_message((3, 4), (3, 5), limits)
    assert callgroup.limit_message((3, 5), (3, 5), limits) == ""


def test_cgroup_v2_one_directory_both_controllers_no_swap(tmp_path: Path) -> None:
    fake = FakeGroup(
        tmp_path / "call",
        [
            "memory.max",
            "memory.swap.max",
            "memory.events",
            "pids.max",
            "pids.events",
            "cgroup.procs",
        ],
        {"memory.events": "low 0\nhigh 0\nmax 4\noom 1\noom_kill 1\n", "pids.events": "max 0\n"},
    )
    group = callgroup.CallGroup(2, fake.fd, fake.fd)
    group.set_limits(128, 16)
    group.enter(9)

    assert (fake.root / "memory.max").read_text() == str(128 * 1024 * 1024)
    assert (fake.root / "memory.swap.max").read_text() == "0"
    assert (fake.root / "pids.max").read_text() == "16"
    assert (fake.root / "cgroup.procs").read_text() == "9"  # written once: one directory
    assert group.counters() == (1, 0)
    assert callgroup.from_argument(["--cgroup", "2,5,5"]) is not None
    assert callgroup.from_argument(["--root", "/work"]) is None


def test_wipe_removes_what_a_tool_locked_away(tmp_path: Path) -> None:
    top = tmp_path / "tmp"
    (top / "a" / "b").mkdir(parents=True)
    (top / "a" / "b" / "secret").write_text("x")
    (top / "file").write_text("y")
    os.chmod(top / "a" / "b", 0)
    os.chmod(top / "a", 0o100)

    assert callgroup.wipe(str(top), keep=True)
    assert list(top.iterdir()) == []
