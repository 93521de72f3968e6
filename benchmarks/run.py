"""Runs every ``benchmarks/bench_*.py`` (or those named) and writes one JSON file.

    python -m benchmarks.run                 # all, to benchmarks/results/latest.json
    python -m benchmarks.run chat fit -o out.json

Each module has ``run() -> dict``; a failing benchmark is recorded with its error and
the others still run.
"""

from __future__ import annotations

import argparse
import importlib
import json
import platform
import sys
import time
import traceback
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def available() -> list[str]:
    return sorted(p.stem.removeprefix("bench_") for p in HERE.glob("bench_*.py"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", help=f"benchmarks to run (default all: {', '.join(available())})")
    parser.add_argument("-o", "--output", type=Path, default=HERE / "results" / "latest.json")
    args = parser.parse_args(argv)
    names = args.names or available()
    results: dict[str, Any] = {
        "machine": {"python": sys.version.split()[0], "platform": platform.platform(), "processor": platform.machine()},
        "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    failed = False
    for name in names:
        print(f"benchmark {name}…", file=sys.stderr, flush=True)
        started = time.perf_counter()
        try:
            results[name] = importlib.import_module(f"benchmarks.bench_{name}").run()
        except Exception as exc:  # noqa: BLE001 - record and go on with the others
            failed = True
            results[name] = {"error": repr(exc), "traceback": traceback.format_exc()}
        results[name]["seconds"] = round(time.perf_counter() - started, 2)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
