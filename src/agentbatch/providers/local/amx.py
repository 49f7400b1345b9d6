"""Keep the embedded model off ggml's AMX kernels where they crash.

From llama-cpp-python 0.3.17 (llama.cpp 49bfddec) ggml's AMX matmul, which the CPU backend
uses for batches of 2+ tokens (every prompt), builds its tile configuration on the stack.
GCC's ``_tile_loadconfig`` declares an 8-byte read, so GCC drops the stores to the rest of
the configuration, and a ``-march=native`` build (pip's default source build) on a CPU with
AMX faults with SIGSEGV in ``ldtilecfg`` (ggml-org/llama.cpp#26954, issue #20824). Earlier
versions kept the configuration in a static thread-local, which GCC cannot drop.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

AMX_CRASH_SINCE = (0, 3, 17)  # the first llama-cpp-python with the miscompiled AMX kernel


def amx_is_unsafe(version: str) -> bool:
    """Whether llama-cpp-python ``version`` may crash in AMX (an unknown version: yes)."""
    found = re.match(r"(\d+)\.(\d+)\.(\d+)", version)
    return found is None or tuple(int(n) for n in found.groups()) >= AMX_CRASH_SINCE


@contextmanager
def plain_cpu_weights() -> Iterator[None]:
    """While a model loads, keep its weights in plain CPU buffers (llama.cpp's
    ``use_extra_bufts=False``, the CLI's ``--no-repack``) when :func:`amx_is_unsafe`.

    Our Q4_1 model has no other repacked layout, so only AMX is left out: on a CPU with AMX,
    prompts are read about 3.5 times slower than by a working AMX kernel. ``Llama()`` has no
    argument for it, so the default model parameters are wrapped while the model loads
    (callers hold the engine's lock).
    """
    import llama_cpp
    import llama_cpp.llama_cpp as lib

    fields = {f[0] for f in lib.llama_model_params._fields_}
    if "use_extra_bufts" not in fields or not amx_is_unsafe(llama_cpp.__version__):
        yield
        return
    default = lib.llama_model_default_params

    def params() -> Any:
        value = default()
        value.use_extra_bufts = False
        return value

    lib.llama_model_default_params = params
    try:
        yield
    finally:
        lib.llama_model_default_params = default
