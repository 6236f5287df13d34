"""Gradient flow through time for every configured architecture.

    python scripts/analyze.py --config=experiments/gradient_flow.py --workdir=DIR

writes ``DIR/gradient_flow.json``, ``DIR/summary.md`` and PNG plots
(`seqgrad.jobs.gradient_flow.run`). Failures are one line and an exit code
(2 usage or config, 3 I/O; `seqgrad.cli`).
"""

from absl import flags
from ml_collections import config_flags

from seqgrad import cli
from seqgrad.report import gradient_flow
from seqgrad.train import workdir
from seqgrad.jobs import gradient_flow as job

config_flags.DEFINE_config_file("config", None, "Analysis config (experiments/gradient_flow.py).", lock_config=True)
flags.DEFINE_string("workdir", None, "Directory for the JSON, the summary and the plots.")
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
    del argv
    cli.quiet_logging()
    workdir.prepare(flags.FLAGS.workdir)  # a workdir that is a file fails now, not after the analysis
    report = job.run(flags.FLAGS.config, flags.FLAGS.workdir)
    print(gradient_flow.terminal_summary(report, report.files))


if __name__ == "__main__":
    cli.run(main)
