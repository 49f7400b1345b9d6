"""Throughput of trivial tool calls: the warm pool against a fresh interpreter per call.

``python -m agentbatch.tools.sandbox.bench [N]`` prints both numbers as JSON.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import sys
import time
from typing import Any

import psutil

from agentbatch.tools.sandbox.calls import SandboxCall
from agentbatch.tools.sandbox.pool import SandboxPool

TRIVIAL_TOOL = '''
def add_one(x: int) -> int:
    """Add one."""
    return x + 1
'''

# The baseline: what running each call in a new interpreter costs (read the call on
# stdin, define the function, call it, print the JSON result), without any limits.
_FRESH_RUNNER = (
    "import json, sys\n"
    "call = json.load(sys.stdin)\n"
    "namespace = {}\n"
    "exec(compile(call['source'], '<tool>', 'exec'), namespace)\n"
    "value = namespace[call['function']](**call['arguments'])\n"
    "sys.stdout.write(json.dumps({'ok': True, 'value': value}))\n"
)


async def _pool_rate(n_calls: int, size: int, backend: str) -> tuple[float, int, float, str]:
    """Calls/s, correct results, CPU seconds per call (runtime + workers + tools), and
    the sandbox used (``bwrap`` with the cgroup version, or ``process``)."""
    async with SandboxPool(size, backend=backend) as pool:
        await asyncio.gather(*(pool.run(_call(i)) for i in range(2 * size)))  # warm-up
        used = str(pool.backend)
        if pool.backend == "bwrap":
            used += f" (cgroup v{pool.cgroup_version})" if pool.cgroup_version else " (no cgroup)"
        cpu_before = _cpu_now(pool.worker_pids())
        started = time.perf_counter()
        results = await asyncio.gather(*(pool.run(_call(i)) for i in range(n_calls)))
        elapsed = time.perf_counter() - started
        cpu = _cpu_now(pool.worker_pids()) - cpu_before
    correct = sum(1 for i, r in enumerate(results) if r.ok and r.value == i + 1)
    return n_calls / elapsed, correct, cpu / n_calls, used


def _cpu_now(worker_pids: list[int]) -> float:
    """CPU seconds so far of this process and of the workers' whole process trees (the
    tools they reaped included). Read from /proc: a sandbox's processes are not children
    the runtime waits for."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    total = usage.ru_utime + usage.ru_stime
    for pid in worker_pids:
        try:
            root = psutil.Process(pid)
            for process in [root, *root.children(recursive=True)]:
                times = process.cpu_times()
                total += times.user + times.system + times.children_user + times.children_system
        except psutil.Error:
            continue
    return total


async def _fresh_rate(n_calls: int, size: int) -> tuple[float, int]:
    slots = asyncio.Semaphore(size)

    async def one(i: int) -> bool:
        payload = json.dumps(
            {"source": TRIVIAL_TOOL, "function": "add_one", "arguments": {"x": i}}
        ).encode()
        async with slots:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-I",
                "-c",
                _FRESH_RUNNER,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                env={},
            )
            out, _ = await process.communicate(payload)
        return bool(json.loads(out).get("value") == i + 1)

    started = time.perf_counter()
    results = await asyncio.gather(*(one(i) for i in range(n_calls)))
    return n_calls / (time.perf_counter() - started), sum(results)


def _call(i: int) -> SandboxCall:
    return SandboxCall(source=TRIVIAL_TOOL, function="add_one", arguments={"x": i})


async def bench_sandbox(
    n_calls: int = 1000, *, size: int | None = None, backend: str = "auto"
) -> dict[str, Any]:
    """Trivial calls per second through the warm pool and with a new process per call.

    Both run ``size`` (default: CPU count) calls at a time; ``backend`` picks the pool's
    sandbox (``auto``, ``bwrap`` or ``process``). The fresh-process baseline makes
    ``max(n_calls // 5, 20)`` calls, which is enough for a stable rate. The pool's CPU time
    per call (runtime, workers and tool processes together) gives a rate that does not
    depend on what else the machine is doing: ``pool_cpu_bound_calls_per_s``.
    """
    size = size or os.cpu_count() or 1
    pool_rate, pool_ok, cpu_per_call, used = await _pool_rate(n_calls, size, backend)
    fresh_calls = max(n_calls // 5, 20)
    fresh_rate, fresh_ok = await _fresh_rate(fresh_calls, size)
    cores = os.cpu_count() or 1
    return {
        "sandbox": used,
        "concurrency": size,
        "cpu_cores": cores,
        "pool_calls": n_calls,
        "pool_correct": pool_ok,
        "pool_calls_per_s": round(pool_rate, 1),
        "pool_cpu_ms_per_call": round(cpu_per_call * 1000, 3),
        # What the cores could sustain if nothing else ran on the machine.
        "pool_cpu_bound_calls_per_s": round(cores / cpu_per_call, 1),
        "fresh_process_calls": fresh_calls,
        "fresh_process_correct": fresh_ok,
        "fresh_process_calls_per_s": round(fresh_rate, 1),
        "speedup": round(pool_rate / fresh_rate, 1),
    }


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    print(json.dumps(asyncio.run(bench_sandbox(count)), indent=2))
