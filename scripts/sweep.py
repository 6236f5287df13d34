"""Run an experiment's sweep: every point of its ``get_sweep(arg)``, resumable.

    python scripts/sweep.py --config=experiments/clipping_ablation.py[:arg] --workdir=DIR \
        [--config.key=value ...] [--coordinator_address=HOST:PORT --num_processes=N --process_id=I]

Command-line ``--config.*`` overrides apply to every point. Every point's config
is validated before the first one starts. Writes ``DIR/sweep.json``,
``DIR/summary.md`` and ``DIR/sweep.png``; rerunning skips finished points and
resumes interrupted ones. Exits with status 1 when some point failed; other
failures are one line and an exit code (`seqgrad.cli`).
"""

from __future__ import annotations

import sys

from absl import flags
from ml_collections import config_flags

from seqgrad import cli
from seqgrad.train import distributed, sweep, workdir
from seqgrad.train import sweep_plan

# As in train.py: model.options takes the options of an architecture named on the command line; every other
# unknown key is still refused (each experiments/*.py locks its config itself).
_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "experiment file with get_config(arg) and get_sweep(arg): path.py[:arg]",
    lock_config=False, accept_new_attributes=True,
)
_WORKDIR = flags.DEFINE_string("workdir", None, "sweep directory: one sub-workdir per point")
_COORDINATOR = flags.DEFINE_string("coordinator_address", None, "HOST:PORT of process 0 (several processes)")
_NUM_PROCESSES = flags.DEFINE_integer("num_processes", None, "number of processes (several processes)")
_PROCESS_ID = flags.DEFINE_integer("process_id", None, "index of this process in [0, num_processes)")
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
    del argv
    cli.quiet_logging()
    distributed.initialize(_COORDINATOR.value, _NUM_PROCESSES.value, _PROCESS_ID.value)
    points = sweep_plan.load_sweep(config_flags.get_config_filename(flags.FLAGS["config"]))
    overrides = config_flags.get_override_values(flags.FLAGS["config"])
    sweep.validate_points(_CONFIG.value, points, overrides)
    root = workdir.prepare(_WORKDIR.value)
    with workdir.lock(root, enabled=distributed.is_main_process()):
        result = sweep.run_sweep(_CONFIG.value, points, root, overrides=overrides)
    failed = [p["name"] for p in result["points"] if p["status"] != "done"]
    if distributed.is_main_process():
        print(f"{len(result['points']) - len(failed)} of {len(result['points'])} points done: {root}/summary.md")
        for name in failed:
            print(f"failed: {name}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    cli.run(main)
