"""The curse-of-memory experiment: parameter sensitivity of scalar recurrences vs memory.

    python scripts/curse_of_memory.py --config=experiments/curse_of_memory.py --workdir=DIR

writes ``DIR/curse_of_memory.json``, ``DIR/curse_of_memory.png`` and ``DIR/summary.md``
(`seqgrad.jobs.memory_curse.run`).
"""

from absl import flags
from ml_collections import config_flags

from seqgrad import cli
from seqgrad.jobs import memory_curse

config_flags.DEFINE_config_file("config", None, "experiments/curse_of_memory.py", lock_config=True)
flags.DEFINE_string("workdir", None, "Directory for the JSON, the plot and the summary.")
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
    del argv
    cli.quiet_logging()
    report = memory_curse.run(flags.FLAGS.config, flags.FLAGS.workdir)
    print(open(report["files"]["summary.md"]).read())


if __name__ == "__main__":
    cli.run(main)
