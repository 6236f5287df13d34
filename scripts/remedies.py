"""Run the remedies experiment: every point of its ``get_sweep(arg)`` trained and measured, resumable.

    python scripts/remedies.py --config=experiments/remedies.py[:cpu|:quick] --workdir=DIR [--config.key=value ...]

Writes what `scripts/sweep.py` writes (``DIR/sweep.json``, ``DIR/summary.md``, one
sub-workdir per point) plus ``DIR/remedies.md``, ``DIR/remedies.json`` and
``DIR/remedies.png`` (`seqgrad.train.remedies.run`). Rerunning skips finished points.
"""

from __future__ import annotations

import os
import sys

from absl import flags
from ml_collections import config_flags

from seqgrad import cli
from seqgrad.train import remedies, sweep, workdir
from seqgrad.train import sweep_plan

_CONFIG = config_flags.DEFINE_config_file("config", None, "experiments/remedies.py[:arg]")
_WORKDIR = flags.DEFINE_string("workdir", None, "sweep directory: one sub-workdir per point")
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
    del argv
    cli.quiet_logging()
    points = sweep_plan.load_sweep(config_flags.get_config_filename(flags.FLAGS["config"]))
    overrides = config_flags.get_override_values(flags.FLAGS["config"])
    sweep.validate_points(_CONFIG.value, points, overrides)
    root = workdir.prepare(_WORKDIR.value)
    with workdir.lock(root):
        result = remedies.run(_CONFIG.value, points, root, overrides=overrides)
    failed = [p["name"] for p in result["points"] if p["status"] != "done"]
    print(open(os.path.join(root, "remedies.md")).read())
    for name in failed:
        print(f"failed: {name}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    cli.run(main)
