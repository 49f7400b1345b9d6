"""Requirements: only names and version specifiers, wheels only, one read-only environment
per organisation; pip's errors never reach the tool's result."""

from __future__ import annotations

import asyncio
import io
import json
import os
import sys
import tarfile
import zipfile
from pathlib import Path
from types import SimpleNamespace

import pytest

from agentbatch.errors import InvalidInput
from agentbatch.tools.sandbox.pip_run import PipRunner
from agentbatch.tools.sandbox.venvs import READY_MARKER, RequirementsError
from tests.integration.test_sandbox import build_wheel
from tests.security.conftest import ORG_A, ORG_B, World, tool_source

HOSTILE_REQUIREMENTS = [
    "./evil",
    "/tmp/evil-1.0.tar.gz",
    "../evil.whl",
    "file:///tmp/evil",
    "https://evil.example/evil-1.0.tar.gz",
    "git+https://evil.example/evil.git",
    "evil @ https://evil.example/evil.whl",
    "evil @ file:///tmp/evil",
    "--index-url=http://evil.example/simple",
    "-e .",
    "--pre evil",
    "evil; python_version > '3'",
    "evil --global-option=x",
    "evil\n--extra-index-url=http://evil.example",
    # names pip reads as local archives (relative to its working directory)
    "evil-1.0.tar.gz",
    "x.whl",
    "evil.zip",
    "evil.tgz",
    "evil-1.0.tar.bz2",
    "evil.tar",
    "evil[x].zip",
    "evil.zip==1.0",
]

PLAIN = tool_source("plain", 'return "ran"')


@pytest.mark.parametrize("requirement", HOSTILE_REQUIREMENTS)
async def test_requirement_that_is_a_path_url_or_option_is_refused(
    world: World, requirement: str
) -> None:
    with pytest.raises(InvalidInput, match="requirements: invalid requirement"):
        await world.app.tools.create_tool(ORG_A, {"source": PLAIN, "requirements": [requirement]})


async def test_requirement_refused_at_run_time_too(world: World, tmp_path: Path) -> None:
    """A tool row that bypassed registration (an older version, a direct insert) still
    never reaches pip with a path: the sandbox validates again, and nothing is built."""
    marker = tmp_path / "built"
    evil = tmp_path / "evil"
    evil.mkdir()
    (evil / "setup.py").write_text(f"open({str(marker)!r}, 'w').write('ran on the host')\n")
    row = SimpleNamespace(
        org_id=ORG_A,
        name="plain",
        source=PLAIN,
        settings={"requirements": [str(evil)], "wants_agent_id": False},
    )
    result = await world.app.tool_executor.run_custom(row, "agent-x", {}, {})

    assert not result.ok and "invalid requirement" in result.output
    assert not marker.exists()


def build_sdist(directory: Path, marker: Path) -> Path:
    """``evil-1.0.tar.gz``: a source archive whose in-tree build backend (which pip loads
    to read its metadata, before any --only-binary check) writes ``marker``."""
    archive = directory / "evil-1.0.tar.gz"
    files = {
        "evil-1.0/pyproject.toml": (
            '[build-system]\nrequires = []\nbuild-backend = "backend"\nbackend-path = ["."]\n'
        ),
        "evil-1.0/backend.py": f"open({str(marker)!r}, 'w').write('ran on the host')\n",
        "evil-1.0/PKG-INFO": "Metadata-Version: 2.1\nName: evil\nVersion: 1.0\n",
    }
    with tarfile.open(archive, "w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return archive


async def test_local_archive_named_like_a_requirement_is_never_built(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An archive lying in the runtime's working directory, named as a tool's requirement
    (a row that bypassed registration): refused before pip runs, nothing built."""
    marker = tmp_path / "built"
    build_sdist(tmp_path, marker)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    row = SimpleNamespace(
        org_id=ORG_A,
        name="plain",
        source=PLAIN,
        settings={"requirements": ["evil-1.0.tar.gz"], "wants_agent_id": False},
    )
    result = await world.app.tool_executor.run_custom(row, "agent-x", {}, {})

    assert not result.ok and "invalid requirement" in result.output
    assert not marker.exists()


def test_pip_never_resolves_a_requirement_against_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Below the syntax check, pip itself runs in an empty directory of its own, from a
    requirements file: even a name that reads as a local archive finds nothing to build."""
    marker = tmp_path / "built"
    build_sdist(tmp_path, marker)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.delenv("PIP_FIND_LINKS", raising=False)
    wheels = tmp_path / "wheels"
    wheels.mkdir()

    with pytest.raises(RequirementsError):
        PipRunner(sys.executable, timeout_s=120, max_bytes=None).download(
            ("evil-1.0.tar.gz",), wheels
        )

    assert not marker.exists() and list(wheels.iterdir()) == []


async def test_pip_failure_text_does_not_reach_the_tool(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the index URL carries a credential; pip echoes such URLs in its errors
    monkeypatch.setenv("PIP_INDEX_URL", f"http://user:{world.secret}@127.0.0.1:9/simple")
    monkeypatch.setenv("PIP_RETRIES", "0")
    monkeypatch.setenv("PIP_TIMEOUT", "2")
    monkeypatch.delenv("PIP_FIND_LINKS", raising=False)
    status, text = await world.call(ORG_A, PLAIN, requirements=["nosuchpkg-agentbatch==1.0"])

    assert status == "Failed"
    assert text.startswith("could not download wheels for nosuchpkg-agentbatch==1.0: ")
    assert world.secret not in text and "127.0.0.1" not in text and "pip" not in text.split(":")[0]


PLANT = tool_source(
    "plant",
    """
import site, tinypkg_agentbatch
site_packages = os.path.dirname(os.path.dirname(tinypkg_agentbatch.__file__))
outcome = {"prefix": sys.prefix, "value": tinypkg_agentbatch.VALUE}
for name, path, text in [
    ("pth_hook", os.path.join(site_packages, "zz_hook.pth"), "import os; os.environ['HOOKED']='1'"),
    ("package", tinypkg_agentbatch.__file__, "VALUE = 'planted'"),
]:
    try:
        with open(path, "w") as f:
            f.write(text)
        outcome[name] = "written"
    except OSError as exc:
        outcome[name] = type(exc).__name__
outcome["hooked"] = os.environ.get("HOOKED")
return json.dumps(outcome)
""",
)


async def test_environments_are_per_organisation_and_read_only(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wheel = build_wheel(tmp_path)
    monkeypatch.setenv("PIP_FIND_LINKS", str(wheel.parent))  # a local, offline index
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    requirement = ["tinypkg-agentbatch==0.1"]

    status_a, text_a = await world.call(ORG_A, PLANT, requirements=requirement)
    status_b, text_b = await world.call(ORG_B, PLANT, requirements=requirement)
    again_a, text_again = await world.call(ORG_A, PLANT, requirements=requirement)

    assert (status_a, status_b, again_a) == ("OK", "OK", "OK"), (text_a, text_b)
    of_a, of_b, later = json.loads(text_a), json.loads(text_b), json.loads(text_again)
    assert of_a["pth_hook"] != "written" and of_a["package"] != "written"
    assert of_a["prefix"] != of_b["prefix"]  # one environment per organisation
    assert of_b["value"] == later["value"] == "from the tool venv"
    assert of_b["hooked"] is None and later["hooked"] is None


def _local_index(monkeypatch: pytest.MonkeyPatch, wheel: Path) -> None:
    monkeypatch.setenv("PIP_FIND_LINKS", str(wheel.parent))  # a local, offline index
    monkeypatch.setenv("PIP_NO_INDEX", "1")


def _environments(world: World, org: str) -> list[str]:
    """The organisation's built environments."""
    pool = world.app.tool_executor.pool
    assert pool is not None
    where = pool.venvs.directory(org)
    return sorted(p.name for p in where.iterdir() if (p / READY_MARKER).exists())


def _named(name: str) -> str:
    return PLAIN.replace("def plain(", f"def {name}(").replace("plain.", f"{name}.")


async def test_equivalent_requirement_sets_share_one_environment(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _local_index(monkeypatch, build_wheel(tmp_path))
    spellings = [
        ["tinypkg-agentbatch>=0.1"],
        ["tinypkg-agentbatch>=0.1.0"],
        ["TinyPkg_Agentbatch >= 00.1"],
        ["tinypkg.agentbatch>=0.1.0.0", "tinypkg-agentbatch>=0.1"],
    ]
    for i, requirements in enumerate(spellings):
        status, text = await world.call(ORG_A, _named(f"t{i}"), requirements=requirements)
        assert (status, text) == ("OK", "ran")

    assert len(_environments(world, ORG_A)) == 1


@pytest.mark.security_settings(tool_max_venvs=2)
async def test_an_organisation_keeps_at_most_its_environments(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``tool_max_venvs`` = 2: a third set replaces the least recently used."""
    _local_index(monkeypatch, build_wheel(tmp_path))
    sets = [["tinypkg-agentbatch==0.1"], ["tinypkg-agentbatch>=0.1"], ["tinypkg-agentbatch<1"]]
    pool_venvs = None
    built = []
    for i in (0, 1, 0, 2, 1):  # set 0 is used again before set 2 comes: set 1 goes
        status, _ = await world.call(ORG_A, _named(f"s{i}"), requirements=sets[i])
        assert status == "OK"
        pool = world.app.tool_executor.pool
        assert pool is not None
        pool_venvs = pool.venvs
        built.append(_environments(world, ORG_A))

    assert pool_venvs is not None
    first, second, third = (pool_venvs.location(r, ORG_A).name for r in sets)
    assert built[1] == sorted([first, second])
    assert built[3] == sorted([first, third])  # the least recently used went
    assert built[4] == sorted([second, third])  # and is built again when needed
    status, _ = await world.call(ORG_B, _named("b"), requirements=sets[0])
    assert status == "OK" and len(_environments(world, ORG_B)) == 1  # each its own count


SLEEP = tool_source("sleeper", "time.sleep(600)\nreturn 'never'")


@pytest.mark.security_settings(tool_max_venvs=1)
async def test_an_environment_in_use_is_never_removed(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _local_index(monkeypatch, build_wheel(tmp_path))
    executor = world.app.tool_executor
    assert (await world.call(ORG_B, PLAIN))[0] == "OK"  # the pool is started

    def row(name: str, source: str, requirement: str) -> SimpleNamespace:
        settings = {"requirements": [requirement], "timeout_s": 30, "wants_agent_id": False}
        return SimpleNamespace(org_id=ORG_A, name=name, source=source, settings=settings)

    sleeping = asyncio.create_task(
        executor.run_custom(row("sleeper", SLEEP, "tinypkg-agentbatch==0.1"), "a", {}, {})
    )
    await asyncio.sleep(0)  # its environment is in use from here on
    other = await executor.run_custom(row("plain", PLAIN, "tinypkg-agentbatch<1"), "a", {}, {})
    sleeping.cancel()

    assert not other.ok and "AGENTBATCH_TOOL_MAX_VENVS" in other.output
    assert "environments are in use" in other.output
    assert len(_environments(world, ORG_A)) == 1
    with pytest.raises(asyncio.CancelledError):
        await sleeping


def build_big_wheel(directory: Path, megabytes: int) -> Path:
    """``bigpkg_agentbatch`` 0.1 holding ``megabytes`` of incompressible data."""
    wheel = directory / "bigpkg_agentbatch-0.1-py3-none-any.whl"
    info = "bigpkg_agentbatch-0.1.dist-info"
    files = {
        "bigpkg_agentbatch/__init__.py": b"",
        "bigpkg_agentbatch/blob.bin": os.urandom(megabytes * 1024 * 1024),
        f"{info}/METADATA": b"Metadata-Version: 2.1\nName: bigpkg-agentbatch\nVersion: 0.1\n",
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
        b"Tag: py3-none-any\n",
    }
    record = "".join(f"{name},,\n" for name in files) + f"{info}/RECORD,,\n"
    with zipfile.ZipFile(wheel, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
        archive.writestr(f"{info}/RECORD", record)
    return wheel


@pytest.mark.security_settings(tool_max_venv_mb=1)
async def test_an_environment_larger_than_the_limit_is_refused(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _local_index(monkeypatch, build_big_wheel(tmp_path, 2))
    status, text = await world.call(ORG_A, PLAIN, requirements=["bigpkg-agentbatch==0.1"])

    assert status == "Failed"
    assert "larger than 1 MB" in text and "AGENTBATCH_TOOL_MAX_VENV_MB" in text
    assert _environments(world, ORG_A) == []
