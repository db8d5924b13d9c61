"""Run every ``bench/bench_*.py`` in turn and print a summary of their ``RESULT`` lines.

    python bench/run_all.py                 # full size (what `make bench` runs)
    python bench/run_all.py --quick         # smaller data, for a smoke run
    python bench/run_all.py -k token        # only benches whose file name contains "token"

Each bench runs in its own process with this interpreter; its output streams through as it runs.
Figures are printed, never asserted: the exit status is non-zero only when a bench fails to run.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="pass --quick to every bench")
    parser.add_argument("-k", dest="match", default="", help="run only benches whose name contains this")
    args = parser.parse_args()

    scripts = sorted(p for p in HERE.glob("bench_*.py") if args.match in p.stem)
    if not scripts:
        print(f"no bench matches {args.match!r} in {HERE}", file=sys.stderr)
        return 2
    summary: list[tuple[str, str, float, list[str]]] = []
    for script in scripts:
        print(f"\n=== {script.name}{' --quick' if args.quick else ''} ===", flush=True)
        started = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, str(script), *(["--quick"] if args.quick else [])],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
            cwd=HERE.parent,
        )
        results: list[str] = []
        assert proc.stdout is not None
        for line in proc.stdout:
            sys.stdout.write(line)
            sys.stdout.flush()
            if line.startswith("RESULT "):
                results.append(line.removeprefix("RESULT ").strip())
        code = proc.wait()
        status = "ok" if code == 0 else f"FAILED (exit {code})"
        summary.append((script.name, status, time.perf_counter() - started, results))

    print("\n=== summary ===")
    for name, status, seconds, results in summary:
        print(f"{name:<28} {status:<16} {seconds:6.1f} s")
        for result in results or ["(no RESULT line)"]:
            print(f"    {result}")
    return 0 if all(status == "ok" for _, status, _, _ in summary) else 1


if __name__ == "__main__":
    sys.exit(main())
