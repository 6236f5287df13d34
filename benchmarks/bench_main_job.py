"""The main job's time, cold and warm: compilation and measurement per phase, and the slowest entries.

Runs ``scripts/analyze.py --config=experiments/gradient_flow.py`` twice in
subprocesses with one fresh persistent compilation cache: the first run is
*cold* (empty cache, every program compiled), the second *warm* (the cache
holds every program). Each run's wall time (the whole process, imports
included), its analysis time (``wall time`` line), the compile phase and the
measurement phase (the ``elapsed`` of the last progress line of each) are
printed as one table with the peak resident memory of the two (``ru_maxrss`` of
the children), then the entries whose measurement took longest.

    python benchmarks/bench_main_job.py                       # the README's main command
    python benchmarks/bench_main_job.py --config experiments/gradient_flow.py:rnn,lstm --extra --config.num_seeds=2
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LINE = re.compile(r"^(compile|gradient flow) \[(\d+)/(\d+)\] (\S+) done in ([\d.]+) s \(elapsed ([\d.]+) s\)")


def run(config: str, cache: str, extra: list[str]) -> dict:
    """One main-job process: ``{wall, analysis, compile, measure, rss_gb, entries {name: s}}``."""
    with tempfile.TemporaryDirectory() as workdir:
        command = [sys.executable, os.path.join(ROOT, "scripts", "analyze.py"), f"--config={config}",
                   f"--workdir={workdir}", f"--config.compilation_cache_dir={cache}", *extra]
        start = time.perf_counter()
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
        wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"main job failed (exit {done.returncode}): {done.stderr.strip().splitlines()[-1:]}")
    phases, entries = {"compile": 0.0, "gradient flow": 0.0}, {}
    for line in done.stderr.splitlines():
        if m := LINE.match(line.strip()):
            phases[m.group(1)] = float(m.group(6))
            if m.group(1) == "gradient flow":
                entries[m.group(4)] = float(m.group(5))
    analysis = re.search(r"wall time ([\d.]+) s", done.stdout)
    return {"wall": wall, "analysis": float(analysis.group(1)) if analysis else float("nan"),
            "compile": phases["compile"], "measure": phases["gradient flow"], "entries": entries}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", default="experiments/gradient_flow.py")
    parser.add_argument("--top", type=int, default=8, help="slowest entries listed")
    parser.add_argument("--extra", nargs=argparse.REMAINDER, default=[], help="more --config.key=value flags")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as cache:
        cold = run(args.config, cache, args.extra)
        warm = run(args.config, cache, args.extra)
    print(f"{'run':5s} {'wall s':>7s} {'analysis s':>10s} {'compile s':>9s} {'measure s':>9s}")
    for name, r in (("cold", cold), ("warm", warm)):
        print(f"{name:5s} {r['wall']:7.1f} {r['analysis']:10.1f} {r['compile']:9.1f} {r['measure']:9.1f}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20
    print(f"warm/cold wall: {warm['wall'] / cold['wall']:.2f}; peak resident memory of the runs: {peak:.2f} GB")
    print("slowest measurements (warm run, s): " + ", ".join(
        f"{n} {s:.1f}" for n, s in sorted(warm["entries"].items(), key=lambda kv: -kv[1])[: args.top]))


if __name__ == "__main__":
    main()
