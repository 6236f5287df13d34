"""Speed of `seqgrad.gradflow.state_jacobians` against PyTorch's `torch.func.jacrev`, side by side.

The same quantity on both sides: the stack ``J[t] = ∂h_{T-1}/∂h_t`` (``[T, H, H]``)
of an LSTM (H = 128, D = 32, one sequence, float32, CPU), by reverse-mode
differentiation of ``h_{T-1}`` with respect to a zero perturbation ``δ_t`` added
to ``h_t`` after every step:

* seqgrad: one jit-compiled ``jax.jacrev`` through the shared ``lax.scan``;
* torch: ``torch.func.jacrev`` of a function that runs an LSTM cell (the same
  equations and weights: i, f, o, g gates, ``c = f c + i g``, ``h = o tanh c``) in
  a Python loop over time and adds ``δ_t`` to ``h_t`` at each step; the cell is
  written out element-wise (``--torch-form manual``, the default) or is
  ``torch.nn.LSTMCell`` with the same weights (``--torch-form lstmcell``: its
  fused cell kernel, the formulation most PyTorch code uses).

Both sides run alternately in one process under the same allocator and the same
number of CPUs (see ``bench_cells.py``); each time is the median of ``--repeats``
seqgrad calls after compiling and of ``--torch-repeats`` torch calls. First the
script checks at the smallest T that both stacks agree (``--no-check`` skips it).
The ms/step columns show how the cost grows with T (flat: linear in T).

    python benchmarks/bench_jacobians.py                  # T in {100, 500, 1000, 2000}
    python benchmarks/bench_jacobians.py --T 500 --repeats 5

Torch is needed only here: ``pip install -e '.[bench]'``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_cells import ALLOCATORS, ensure_allocator, pin_threads  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--T", type=int, nargs="+", default=[100, 500, 1000, 2000], help="sequence lengths")
    parser.add_argument("--H", type=int, default=128, help="hidden size")
    parser.add_argument("--D", type=int, default=32, help="input size")
    parser.add_argument("--repeats", type=int, default=5, help="timed seqgrad calls per length (median)")
    parser.add_argument("--torch-repeats", type=int, default=1, help="timed torch calls per length (median)")
    parser.add_argument("--allocator", default="jemalloc", choices=ALLOCATORS)
    parser.add_argument("--threads", type=int, default=None, help="pin the process to this many CPUs")
    parser.add_argument("--torch-form", default="manual", choices=["manual", "lstmcell"],
                        help="the torch cell: written out, or torch.nn.LSTMCell")
    parser.add_argument("--no-check", dest="check", action="store_false", help="skip the agreement check")
    return parser.parse_args(argv)


def seqgrad_side(T, D, H):
    """``(call, params, x)``: ``call()`` computes the seqgrad stack ``[T, H, H]``."""
    import jax
    import jax.numpy as jnp

    from seqgrad import models
    from seqgrad.gradflow import state_jacobians

    model = models.create("lstm", hidden_size=H)
    x = jax.random.normal(jax.random.key(0), (T, D), jnp.float32)
    params = model.init(jax.random.key(1), x[None])

    def call():
        return jax.block_until_ready(state_jacobians(model, params, x))

    return call, params, x


def torch_side(params, x, form="manual"):
    """``call()`` computing the same stack with ``torch.func.jacrev`` over a Python loop in time."""
    import numpy as np
    import torch

    layer = params["params"]["layer_0"]
    U, W, b = (torch.from_numpy(np.array(layer[k])) for k in ("input_kernel", "recurrent_kernel", "bias"))
    xs = torch.from_numpy(np.array(x))
    T, H = xs.shape[0], W.shape[0]
    inputs = xs @ U + b  # one GEMM for all steps, as in seqgrad

    def last_state(delta):  # delta: [T, H]
        h = torch.zeros(H)
        c = torch.zeros(H)
        for t in range(T):
            z = inputs[t] + h @ W
            i, f, o = torch.sigmoid(z[:H]), torch.sigmoid(z[H : 2 * H]), torch.sigmoid(z[2 * H : 3 * H])
            c = f * c + i * torch.tanh(z[3 * H :])
            h = o * torch.tanh(c) + delta[t]
        return h

    if form == "lstmcell":
        # nn.LSTMCell computes x W_ihᵀ + b_ih + h W_hhᵀ + b_hh with gates (i, f, g, o); seqgrad's are (i, f, o, g).
        order = torch.cat([torch.arange(0, 2 * H), torch.arange(3 * H, 4 * H), torch.arange(2 * H, 3 * H)])
        cell = torch.nn.LSTMCell(U.shape[0], H)
        with torch.no_grad():
            cell.weight_ih.copy_(U[:, order].T)
            cell.weight_hh.copy_(W[:, order].T)
            cell.bias_ih.copy_(b[order])
            cell.bias_hh.zero_()

        def last_state(delta):  # noqa: F811 (the nn.LSTMCell form)
            h = torch.zeros(1, H)
            c = torch.zeros(1, H)
            for t in range(T):
                h, c = cell(xs[t : t + 1], (h, c))
                h = h + delta[t]
            return h[0]

    jacobian = torch.func.jacrev(last_state)

    def call():
        with torch.no_grad():
            return jacobian(torch.zeros(T, H)).permute(1, 0, 2)  # [H, T, H] -> [T, H, H]

    return call


def alternating_medians(ours, theirs, repeats, torch_repeats):
    """Median seconds of each side, calls interleaved so that outside load hits both alike.

    ``ours`` is called once first to compile; torch has nothing to compile (its
    one-time setup ran in the agreement check), and at long T one call of it takes
    minutes, hence its own repeat count.
    """
    ours()
    times = ([], [])
    for r in range(max(repeats, torch_repeats)):
        for call, out, n in ((ours, times[0], repeats), (theirs, times[1], torch_repeats)):
            if r < n:
                start = time.perf_counter()
                call()
                out.append(time.perf_counter() - start)
    return statistics.median(times[0]), statistics.median(times[1])


def main(argv=None):
    args = parse_args(argv)
    allocator = ensure_allocator(args.allocator)
    threads = pin_threads(args.threads)

    import jax
    import numpy as np
    import torch

    torch.set_num_threads(threads)
    print(f"# state_jacobians: LSTM H={args.H}, D={args.D}, float32, CPU; {threads} threads each; allocator: {allocator}")
    print(f"# jax {jax.__version__}, torch {torch.__version__} ({args.torch_form} cell); median of {args.repeats} seqgrad calls "
          f"(after compiling) and {args.torch_repeats} torch calls")
    if args.check:
        ours, params, x = seqgrad_side(min(args.T), args.D, args.H)
        theirs = torch_side(params, x, args.torch_form)()
        J, K = np.asarray(ours()), theirs.numpy()
        error = np.abs(J - K).max() / np.abs(J).max()
        print(f"# check at T={min(args.T)}: max |J_seqgrad - J_torch| / max |J| = {error:.1e}")
        if error > 1e-4:
            raise SystemExit("the two Jacobian stacks disagree")
    print("| T | seqgrad (ms) | torch.func.jacrev (ms) | speed-up | seqgrad ms/step | torch ms/step |")
    print("|---|---|---|---|---|---|")
    for T in args.T:
        ours, params, x = seqgrad_side(T, args.D, args.H)
        theirs = torch_side(params, x, args.torch_form)
        t_ours, t_theirs = alternating_medians(ours, theirs, args.repeats, args.torch_repeats)
        print(
            f"| {T} | {1e3 * t_ours:.1f} | {1e3 * t_theirs:.1f} | {t_theirs / t_ours:.1f}x | "
            f"{1e3 * t_ours / T:.3f} | {1e3 * t_theirs / T:.3f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
