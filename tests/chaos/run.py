"""``python -m tests.chaos.run --agents 2000 --seed 1``: one chaos run, its table, exit 1 on
any failure. The worker logs and ``report.json`` stay in ``--workdir`` (default: a new
temporary folder); ``--keep-db`` keeps the database for inspection."""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from dataclasses import fields
from pathlib import Path

from tests.chaos.harness import ChaosConfig, run_chaos


def parse(argv: list[str] | None = None) -> tuple[ChaosConfig, argparse.Namespace]:
    parser = argparse.ArgumentParser(prog="python -m tests.chaos.run", description=__doc__)
    defaults = ChaosConfig()
    for f in fields(ChaosConfig):
        flag = "--" + f.name.replace("_", "-")
        if isinstance(f.default, bool):
            parser.add_argument(flag, action="store_true", default=f.default)
        else:
            parser.add_argument(flag, type=type(getattr(defaults, f.name)), default=f.default)
    parser.add_argument("--json", type=Path, help="write the report as JSON here")
    parser.add_argument("--workdir", type=Path, help="worker logs and the scripted spool")
    args = parser.parse_args(argv)
    cfg = ChaosConfig(**{f.name: getattr(args, f.name) for f in fields(ChaosConfig)})
    return cfg, args


def main(argv: list[str] | None = None) -> int:
    cfg, args = parse(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="agentbatch-chaos-"))
    workdir.mkdir(parents=True, exist_ok=True)
    report = asyncio.run(run_chaos(cfg, workdir, log=lambda s: print(s, flush=True)))
    print(report.table())
    (workdir / "report.json").write_text(report.to_json())
    if args.json:
        args.json.write_text(report.to_json())
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
