"""``agentbatch worker`` processes that the chaos loop kills, pauses and resumes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Slot:
    """One worker position; a killed worker is replaced by a fresh process in its slot."""

    index: int
    proc: subprocess.Popen[bytes] | None = None
    paused_until: float | None = None  # monotonic time of the SIGCONT, while paused
    starts: int = 0

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    @property
    def paused(self) -> bool:
        return self.paused_until is not None


@dataclass
class WorkerPool:
    env: dict[str, str]
    log_dir: Path
    size: int = 2
    slots: list[Slot] = field(default_factory=list)

    def start(self) -> None:
        self.slots = [Slot(i) for i in range(self.size)]
        for slot in self.slots:
            self._spawn(slot)

    def _spawn(self, slot: Slot) -> None:
        slot.starts += 1
        log = self.log_dir / f"worker{slot.index}.{slot.starts}.log"
        with log.open("wb") as out:
            slot.proc = subprocess.Popen(
                [sys.executable, "-m", "agentbatch.cli.main", "-v", "worker"],
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        slot.paused_until = None

    def slot_of_pid(self, pid: int) -> Slot | None:
        return next((s for s in self.slots if s.pid == pid), None)

    def kill(self, slot: Slot) -> None:
        """``kill -9`` and start a replacement at once (as a supervisor would)."""
        assert slot.proc is not None
        slot.proc.send_signal(signal.SIGKILL)
        slot.proc.wait()
        self._spawn(slot)

    def pause(self, slot: Slot, seconds: float) -> None:
        assert slot.proc is not None
        slot.proc.send_signal(signal.SIGSTOP)
        slot.paused_until = time.monotonic() + seconds

    def resume_due(self, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        for slot in self.slots:
            if slot.paused_until is not None and slot.paused_until <= now:
                self._resume(slot)

    def _resume(self, slot: Slot) -> None:
        if slot.proc is not None:
            slot.proc.send_signal(signal.SIGCONT)
        slot.paused_until = None

    def revive(self) -> list[int]:
        """Resume paused workers and replace dead ones; the exit codes of the dead."""
        died = []
        for slot in self.slots:
            if slot.paused:
                self._resume(slot)
            if slot.proc is None or slot.proc.poll() is not None:
                if slot.proc is not None:
                    died.append(slot.proc.returncode)
                self._spawn(slot)
        return died

    def unexpected_exits(self) -> list[tuple[int, int]]:
        """(slot, exit code) of workers that exited without being killed by us."""
        return [
            (s.index, s.proc.returncode)
            for s in self.slots
            if s.proc is not None and s.proc.poll() is not None
        ]

    def stop(self, timeout_s: float = 30.0) -> None:
        for slot in self.slots:
            if slot.proc is None or slot.proc.poll() is not None:
                continue
            slot.proc.send_signal(signal.SIGCONT)
            slot.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        for slot in self.slots:
            if slot.proc is None:
                continue
            try:
                slot.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                slot.proc.kill()
                slot.proc.wait()


def pid_of_owner(owner: str) -> int | None:
    """A worker's lease owner is ``host:pid:random``."""
    parts = owner.rsplit(":", 2)
    if len(parts) != 3 or not parts[1].isdigit():
        return None
    return int(parts[1])


def worker_env(
    database_url: str, home: Path, lease_s: float, batch_requests: int
) -> dict[str, str]:
    return {
        **os.environ,
        "AGENTBATCH_DATABASE_URL": database_url,
        "AGENTBATCH_HOME": str(home),
        "AGENTBATCH_LEASE": str(lease_s),
        "AGENTBATCH_RECOVER_INTERVAL": "1",
        "AGENTBATCH_SEND_DELAY": "0.05",
        "AGENTBATCH_POLL_INTERVAL": "0.05",
        "AGENTBATCH_IDLE_SLEEP": "0.05",
        "AGENTBATCH_RETRY_BACKOFF": "0.2",
        "AGENTBATCH_PROVIDER_BACKOFF": "0.1",
        "AGENTBATCH_MAX_BATCH_REQUESTS": str(batch_requests),
        "AGENTBATCH_CHUNK_SIZE": str(batch_requests),
    }
