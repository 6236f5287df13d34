"""Train one run (or one vmapped set of replicas) from a config file.

    python scripts/train.py --config=experiments/adding.py:lstm --workdir=DIR \
        [--config.train.steps=4000 ...] [--override]

Rerunning the same command resumes from the newest checkpoint in DIR.
"""

from __future__ import annotations

import sys

from absl import app, flags, logging
from ml_collections import config_flags

from seqgrad.train import TrainingError, distributed, train_and_evaluate

_CONFIG = config_flags.DEFINE_config_file("config", None, "experiment config: experiments/<task>.py:<arch>")
_WORKDIR = flags.DEFINE_string("workdir", None, "directory of checkpoints, metrics and result.json")
_OVERRIDE = flags.DEFINE_bool("override", False, "resume a workdir even if its saved config differs")
_COORDINATOR = flags.DEFINE_string("coordinator_address", None, "HOST:PORT of process 0 (several processes)")
_NUM_PROCESSES = flags.DEFINE_integer("num_processes", None, "number of processes (several processes)")
_PROCESS_ID = flags.DEFINE_integer("process_id", None, "index of this process in [0, num_processes)")
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
    del argv
    # First, before any device is touched: explicit flags, or SLURM / Open MPI / Cloud TPU.
    distributed.initialize(_COORDINATOR.value, _NUM_PROCESSES.value, _PROCESS_ID.value)
    if not flags.FLAGS["verbosity"].present:
        logging.set_verbosity(logging.WARNING)  # orbax logs every save at INFO
    config = _CONFIG.value
    if _OVERRIDE.value:
        with config.unlocked():
            config.train.allow_config_change = True
    try:
        result = train_and_evaluate(config, _WORKDIR.value)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    except TrainingError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(e.exit_code)
    print(f"step {result['step']}: eval {result['eval']} (chance level {result['baseline']})")


if __name__ == "__main__":
    app.run(main)
