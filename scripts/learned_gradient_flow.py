"""Train LSTM, GRU and tanh RNN, then compare their gradient flow with initialisation.

    python scripts/learned_gradient_flow.py --config=experiments/learned_gradient_flow.py --workdir=DIR

writes ``DIR/learned_gradient_flow.json``, ``DIR/summary.md``, ``DIR/learned_gradient_flow.png``
and one training workdir per architecture (`seqgrad.jobs.learned.run`).
"""

from absl import flags
from ml_collections import config_flags

from seqgrad import cli
from seqgrad.jobs import learned

config_flags.DEFINE_config_file("config", None, "experiments/learned_gradient_flow.py", lock_config=True)
flags.DEFINE_string("workdir", None, "Directory for the runs, the JSON, the summary and the plot.")
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
    del argv
    cli.quiet_logging()
    learned.run(flags.FLAGS.config, flags.FLAGS.workdir)
    print(open(f"{flags.FLAGS.workdir}/summary.md").read())


if __name__ == "__main__":
    cli.run(main)
