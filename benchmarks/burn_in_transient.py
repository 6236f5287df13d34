"""How long the zero-state start-up lasts: the main job's profile summaries against the burn-in length.

For each entry of ``experiments/gradient_flow.py`` named on the command line, the
window of the last ``--window`` steps is measured after B steps of burn-in for every
B of ``--burn-ins`` (same seeds and inputs, x ~ s·N(0, 1)), and the script prints,
per B, the median ‖J(W−1)‖ (the far end of the window, where the start-up sits
when B = 0), the envelope rate and the regime (`seqgrad.gradflow.decay.classify`),
and the ratio max/min of ‖J(d)‖ over a skip RNN's lattice d = k, 2k, …. The
start-up has died out at the B from which these stop changing; ``config.burn_in``
(default 256) is chosen from this table (README, "Burn-in").

    python benchmarks/burn_in_transient.py
    python benchmarks/burn_in_transient.py --entries skip_rnn_k8,residual_rnn --burn-ins 0,128,256,512
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import jax  # noqa: E402
import numpy as np  # noqa: E402

from experiments import gradient_flow  # noqa: E402
from seqgrad.jobs.gradient_flow import summaries  # noqa: E402
from seqgrad.jobs.gradient_flow import config as config_lib  # noqa: E402
from seqgrad.jobs.gradient_flow import entries as entries_lib  # noqa: E402
from seqgrad.jobs.gradient_flow import inputs  # noqa: E402
from seqgrad.jobs.gradient_flow import programs  # noqa: E402

DEFAULT_ENTRIES = "rnn,lru,residual_rnn,skip_rnn_k2,skip_rnn_k8,lstm_cell_fb5,lstm_chrono,attention_rnn"


def profile(name: str, burn_in: int, args) -> np.ndarray:
    """Median ‖J(d)‖₂ ``[W]`` over seeds × inputs after ``burn_in`` steps."""
    config = gradient_flow.get_config(name)
    with config.unlocked():
        config.burn_in, config.T, config.conditions.T = burn_in, args.window, (args.window,)
        config.conditions.input_scale, config.default_input_scale = (args.scale,), args.scale
        config.num_seeds, config.num_inputs, config.fixed_distances = args.seeds, args.inputs, (1,)
    (entry,) = entries_lib.build_entries(config)
    dtype, keys, scales = inputs.measurement_inputs(entry, config)
    params = inputs.params_fn(entry, config, dtype)(keys)
    w = config_lib.windows(config)
    data = inputs.data_fn(entry, config, dtype, w.sequence_length)(keys)
    stacks = jax.jit(lambda p, xs, s: programs._stacks(entry, config, w, p, xs, s))(params, data["xs"], scales)
    J = np.asarray(stacks[args.window])[..., ::-1, :, :]  # by distance
    norms = np.linalg.norm(J, ord=2, axis=(-2, -1)).reshape(-1, args.window)
    return np.median(norms, axis=0), config


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--entries", default=DEFAULT_ENTRIES)
    parser.add_argument("--burn-ins", default="0,64,128,256,512")
    parser.add_argument("--window", type=int, default=512)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--inputs", type=int, default=3)
    args = parser.parse_args(argv)
    burn_ins = [int(b) for b in args.burn_ins.split(",")]
    print(f"window {args.window}, x ~ {args.scale:g}·N(0, 1), {args.seeds} seeds × {args.inputs} inputs")
    print(f"{'entry':16s} {'B':>5s} {'‖J(W−1)‖':>11s} {'rate/step':>10s} {'regime':>16s} {'lattice max/min':>16s}")
    for name in args.entries.split(","):
        for B in burn_ins:
            norms, config = profile(name, B, args)
            c = summaries.classify(norms, config, exact=np.zeros(norms.shape, bool))  # zeros: float32 underflow
            k = int(config.entries[name].options.get("skip", 0) or 0)
            lattice = norms[k::k] if k else np.array([np.nan])
            spread = float(lattice.max() / lattice.min()) if k and lattice.min() > 0 else float("nan")
            print(f"{name:16s} {B:5d} {norms[-1]:11.3g} {c['rate']:10.4f} {c['regime']:>16s} {spread:16.3g}")


if __name__ == "__main__":
    main()
