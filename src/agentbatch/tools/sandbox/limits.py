"""Resource limits for one sandboxed tool call."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class SandboxLimits:
    """What one tool call may use.

    * ``timeout_s``: wall-clock time; the call's process group is killed when it runs out.
    * ``memory_mb``: address space the tool may add on top of the warm worker's own
      (``RLIMIT_AS``); allocations beyond it raise ``MemoryError`` inside the tool.
    * ``cpu_s``: CPU seconds (``RLIMIT_CPU``: ``SIGXCPU`` at the limit, ``SIGKILL`` a second
      later).
    * ``max_output_bytes``: cap on the captured stdout+stderr and, separately, on the
      serialised return value; more is truncated and the call is flagged as failed.
    * ``max_processes``: processes and threads the call may have at once (the bubblewrap
      sandbox's call cgroup, ``pids.max``; not enforced by the process sandbox).

    In the bubblewrap sandbox ``memory_mb`` also caps the call's cgroup: the resident
    memory of all its processes together, files in its ``/tmp`` included.
    """

    timeout_s: float = 10.0
    memory_mb: int = 256
    cpu_s: int = 10
    max_output_bytes: int = 64 * 1024
    max_processes: int = 64

    def __post_init__(self) -> None:
        if not self.timeout_s > 0:
            raise ValueError(f"timeout_s must be positive, got {self.timeout_s!r}")
        if self.memory_mb < 16:
            raise ValueError(f"memory_mb must be at least 16, got {self.memory_mb!r}")
        if self.cpu_s < 1:
            raise ValueError(f"cpu_s must be at least 1, got {self.cpu_s!r}")
        if self.max_output_bytes < 1024:
            raise ValueError(
                f"max_output_bytes must be at least 1024, got {self.max_output_bytes!r}"
            )

        if self.max_processes < 4:
            raise ValueError(f"max_processes must be at least 4, got {self.max_processes!r}")

    def to_wire(self) -> dict[str, Any]:
        """The limits as the worker process reads them."""
        return asdict(self)
