"""Train one run (or one vmapped set of replicas) from a config file.

    python scripts/train.py --config=experiments/adding.py:lstm --workdir=DIR \
        [--config.train.steps=4000 ...] [--override]

Rerunning the same command resumes from the newest checkpoint in DIR. Every
failure is one line on stderr and an exit code (`seqgrad.train.errors`: 2 usage or
config, 3 I/O, 4 diverged, 5 workdir busy, 128 + signal interrupted).
"""

from __future__ import annotations

from absl import flags
from ml_collections import config_flags

from seqgrad import cli
from seqgrad.train import config as config_lib
from seqgrad.train import distributed, train_and_evaluate

# New keys are accepted where the config leaves room for them (model.options, for an architecture named on the
# command line); every other unknown key is still refused: each experiments/*.py locks its config itself.
_CONFIG = config_flags.DEFINE_config_file("config", None, "experiment config: experiments/<task>.py:<arch>",
                                          lock_config=False, accept_new_attributes=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "directory of checkpoints, metrics and result.json")
_OVERRIDE = flags.DEFINE_bool("override", False, "resume a workdir even if its saved config differs")
_COORDINATOR = flags.DEFINE_string("coordinator_address", None, "HOST:PORT of process 0 (several processes)")
_NUM_PROCESSES = flags.DEFINE_integer("num_processes", None, "number of processes (several processes)")
_PROCESS_ID = flags.DEFINE_integer("process_id", None, "index of this process in [0, num_processes)")
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
    del argv
    cli.quiet_logging()
    # First, before any device is touched: explicit flags, or SLURM / Open MPI / Cloud TPU.
    distributed.initialize(_COORDINATOR.value, _NUM_PROCESSES.value, _PROCESS_ID.value)
    config = _CONFIG.value
    config_lib.check_overrides(config, config_flags.get_override_values(flags.FLAGS["config"]))
    if _OVERRIDE.value:
        with config.unlocked():
            config.train.allow_config_change = True
    result = train_and_evaluate(config, _WORKDIR.value)
    skipped = result.get("nonfinite_skipped")
    note = f"; {skipped} non-finite updates skipped" if skipped else ""
    print(f"step {result['step']}: eval {result['eval']} (chance level {result['baseline']}){note}")


if __name__ == "__main__":
    cli.run(main)
