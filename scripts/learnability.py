"""Learnability horizons of a finished (or partial) `experiments/learnability.py` sweep.

    python scripts/sweep.py --config=experiments/learnability.py:cpu --workdir=DIR
    python scripts/learnability.py --workdir=DIR [--gradient_flow=RUNS/gradient_flow/gradient_flow.json]

writes ``DIR/learnability.json``, ``DIR/learnability.md`` and ``DIR/learnability.png``
(`seqgrad.jobs.learnability.summarize`).
"""

from absl import flags

from seqgrad import cli
from seqgrad.jobs import learnability

flags.DEFINE_string("workdir", None, "The sweep's workdir (holds sweep.json).")
flags.DEFINE_string("gradient_flow", None, "A gradient_flow.json whose memory horizons at init are drawn beside.")
flags.DEFINE_float("success_fraction", 0.1, "Solved: eval loss <= this fraction of the chance level.")
flags.mark_flags_as_required(["workdir"])


def main(argv):
    del argv
    F = flags.FLAGS
    learnability.summarize(F.workdir, success_fraction=F.success_fraction, gradient_flow_json=F.gradient_flow)
    print(open(f"{F.workdir}/learnability.md").read())


if __name__ == "__main__":
    cli.run(main)
