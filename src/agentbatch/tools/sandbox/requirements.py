"""A tool's pip requirements: PEP 508 names with optional extras and version specifiers,
nothing pip could read as anything else (pure).

Accepted: ``humanize``, ``humanize>=4,<5``, ``httpx[http2]==0.27.*``. Refused: paths,
URLs, VCS links, ``name @ url``, environment markers, pip options, and names that end
like an archive (``evil-1.0.tar.gz``, ``x.whl``, ``evil.zip``): pip takes such a name
for a file in its working directory and builds it, running its code. Each requirement
is parsed with ``packaging``; the name must also match PEP 508's own rule (letters,
digits, ``.``, ``_``, ``-``; starting and ending with a letter or digit).

Sets that ask for the same thing share one environment: :func:`canonical_requirements`
writes each set one way (``Six >= 01.0`` and ``six>=1`` are ``six>=1``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import Specifier
from packaging.utils import canonicalize_name, canonicalize_version

from agentbatch.errors import AgentBatchError

MAX_REQUIREMENTS = 32
MAX_REQUIREMENT_CHARS = 200
_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?$")
# what pip's is_archive_file treats as a local archive (zip, wheel, tar and its kinds)
ARCHIVE_SUFFIXES = (
    ".zip",
    ".whl",
    ".tar",
    ".tar.gz",
    ".tgz",
    ".tar.bz2",
    ".tbz",
    ".tar.xz",
    ".txz",
    ".tlz",
    ".tar.lz",
    ".tar.lzma",
    ".tar.zst",
    ".egg",
)
_HINT = (
    "give a package name with optional extras and version specifiers (e.g. "
    "'humanize>=4,<5'); paths, URLs, VCS links, archives, markers and pip options are "
    "not accepted"
)


class RequirementsError(AgentBatchError):
    """The requirements are invalid or could not be installed (the message says why)."""


def parse_requirement(text: str) -> Requirement:
    """One requirement, or :class:`RequirementsError` saying why it is refused."""
    shown = text if len(text) <= 80 else text[:80] + "..."
    if len(text) > MAX_REQUIREMENT_CHARS:
        raise RequirementsError(
            f"invalid requirement {shown!r}: longer than {MAX_REQUIREMENT_CHARS} characters"
        )
    if any(c.isspace() and c != " " for c in text) or text.lstrip().startswith("-"):
        raise RequirementsError(f"invalid requirement {shown!r}: {_HINT}")
    try:
        requirement = Requirement(text)
    except InvalidRequirement:
        raise RequirementsError(f"invalid requirement {shown!r}: {_HINT}") from None
    name = requirement.name
    if requirement.url is not None or requirement.marker is not None:
        raise RequirementsError(f"invalid requirement {shown!r}: {_HINT}")
    if _NAME.match(name) is None or any(not _NAME.match(e) for e in requirement.extras):
        raise RequirementsError(f"invalid requirement {shown!r}: {_HINT}")
    if name.lower().endswith(ARCHIVE_SUFFIXES):
        raise RequirementsError(
            f"invalid requirement {shown!r}: {name!r} names an archive file, not a package"
        )
    return requirement


def normalize_requirements(requirements: Iterable[str]) -> tuple[str, ...]:
    """Stripped, deduplicated and sorted requirements; anything but ``name[extras]
    specifiers`` is refused with :class:`RequirementsError`."""
    cleaned: set[str] = set()
    for requirement in requirements:
        if not isinstance(requirement, str):
            raise RequirementsError(f"a requirement must be a string, got {requirement!r}")
        text = requirement.strip()
        if not text:
            continue
        parse_requirement(text)
        cleaned.add(re.sub(r"\s+", "", text))
    if len(cleaned) > MAX_REQUIREMENTS:
        raise RequirementsError(f"at most {MAX_REQUIREMENTS} requirements per tool")
    return tuple(sorted(cleaned))


def _canonical_specifier(spec: Specifier) -> str:
    """One specifier, written one way: versions normalised (``01.0`` is ``1.0``), and
    trailing zeros dropped where PEP 440 ignores them (``>=1.0.0`` is ``>=1``; not in
    ``==1.0.*`` or ``~=1.0``, where they count; ``===`` compares text, kept as is)."""
    op, version = spec.operator, spec.version
    if op == "===":
        return f"{op}{version}"
    if version.endswith(".*"):
        return f"{op}{canonicalize_version(version[:-2], strip_trailing_zero=False)}.*"
    return f"{op}{canonicalize_version(version, strip_trailing_zero=op != '~=')}"


def canonical_requirements(requirements: Iterable[str]) -> tuple[str, ...]:
    """Valid requirements (see :func:`normalize_requirements`) written one way: one line
    per package (PEP 503 name; the extras and specifiers of every line naming it, each
    canonical, sorted), lines sorted. Equivalent sets give the same tuple."""
    merged: dict[str, tuple[set[str], set[str]]] = {}
    for text in requirements:
        requirement = parse_requirement(text)
        extras, specs = merged.setdefault(canonicalize_name(requirement.name), (set(), set()))
        extras.update(canonicalize_name(e) for e in requirement.extras)
        specs.update(_canonical_specifier(s) for s in requirement.specifier)
    lines = []
    for name, (extras, specs) in sorted(merged.items()):
        shown = f"[{','.join(sorted(extras))}]" if extras else ""
        lines.append(f"{name}{shown}{','.join(sorted(specs))}")
    return tuple(lines)
