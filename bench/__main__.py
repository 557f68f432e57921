"""`python -m bench [--smoke] [--json OUT] [--markdown]`: the benchmark, on a display of its own.

Prints the markdown tables on stdout (with the machine description when --markdown is given),
progress on stderr; --json writes every number. The full run takes a few minutes on 2 cores,
a minute of which is the idle window; --smoke runs each row a couple of times, for the tests.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import shutil
import sys
from collections.abc import Sequence

from bench.report import machine, markdown_machine, markdown_tables, ordered
from bench.scene import Scene, make_workdir, missing_tools
from bench.suite import FULL, ONLY, SMOKE, Plan, Suite, log


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny counts: checks the harness, not the speed")
    parser.add_argument("--json", metavar="OUT", help="write every row and the machine description to OUT")
    parser.add_argument("--markdown", action="store_true", help="print the machine description with the tables")
    parser.add_argument("--idle-s", type=float, help="override the idle window (seconds)")
    parser.add_argument("--only", action="append", choices=sorted(ONLY), help="run only these modules' rows (repeatable)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs, typed text)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    missing = missing_tools()
    if missing:
        print(f"bench: missing tools: {', '.join(missing)} (run scripts/install-deps --test)", file=sys.stderr)
        return 2
    plan: Plan = SMOKE if args.smoke else FULL
    if args.idle_s is not None:
        plan = dataclasses.replace(plan, idle_s=args.idle_s)
    workdir = make_workdir()
    log(f"work directory {workdir}")
    scene = Scene.start(workdir)
    try:
        xserver = scene.server_version()
        rows = ordered(asyncio.run(Suite(plan, scene, workdir, tuple(args.only or ())).run()))
    finally:
        scene.stop()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    info = machine(xserver)
    tables = markdown_tables(rows)
    if args.markdown:
        print(markdown_machine(info) + "\n\n" + tables)
    else:
        print(tables)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"mode": "smoke" if args.smoke else "full", "machine": info, "rows": [r.to_json() for r in rows]}, f, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
