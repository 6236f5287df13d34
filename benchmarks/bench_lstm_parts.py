"""Where the LSTM's forward+backward time goes, against PyTorch, and the floor set by XLA's matmuls.

`bench_cells.py` compares whole calls; this script splits seqgrad's `lstm`
(the hand-written VJP of `seqgrad.models.lstm.LSTM_CELL`, run by `seqgrad.models.handwritten_vjp`) into its parts and
times, in the same process and alternated with torch:

* ``seqgrad fwd+bwd``: the whole ``value_and_grad`` call, as in bench_cells;
* ``forward loop`` and ``backward (loop + GEMM)``: the two halves;
* the **matmul floor**: a loop doing only the per-step recurrent matmul in the
  forward shape ``[B, H] x [H, 4H]`` and in the backward shape ``[B, 4H] x [4H, H]``
  (T steps each), the parameter-gradient GEMM over ``T·B`` rows and the input
  projections. No LSTM built on XLA's matmuls can be faster than their sum;
* torch's ``nn.LSTM`` forward+backward and a loop of ``torch.mm`` in each per-step shape.

The ratios ``torch / floor`` and ``torch / seqgrad`` say how much of the gap is
XLA's small matmuls and how much is the rest of the cell (element-wise kernels,
per-step overheads).

    python benchmarks/bench_lstm_parts.py                       # T=500, H in {128, 256}
    python benchmarks/bench_lstm_parts.py --T 1000 --H 256 --repeats 9
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bench_cells import alternate, prepare  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--T", type=int, default=500, help="sequence length")
    parser.add_argument("--H", type=int, nargs="+", default=[128, 256], help="hidden sizes")
    parser.add_argument("--B", type=int, default=32, help="batch size")
    parser.add_argument("--D", type=int, default=32, help="input size")
    parser.add_argument("--repeats", type=int, default=7, help="timed calls per part (median)")
    parser.add_argument("--allocator", default="jemalloc", choices=("jemalloc", "tcmalloc", "system"))
    parser.add_argument("--threads", type=int, default=None, help="pin the process to this many CPUs")
    return parser.parse_args(argv)


def seqgrad_parts(B, T, D, H):
    """Jitted calls: the whole gradient, the forward loop, the backward, and the matmul-only floor."""
    import jax
    import jax.numpy as jnp
    from jax import lax

    from seqgrad import models
    from seqgrad.models import handwritten_vjp
    from seqgrad.models.lstm import LSTM_CELL

    model = models.create("lstm", hidden_size=H)
    keys = jax.random.split(jax.random.key(0), 4)
    x = jax.random.normal(keys[0], (B, T, D), jnp.float32)
    params = model.init(keys[1], x)
    value_and_grad = jax.jit(jax.value_and_grad(lambda p: jnp.sum(model.apply(p, x)[:, -1] ** 2)))

    W = jax.random.normal(keys[2], (H, 4 * H), jnp.float32) / jnp.sqrt(H)
    U = jax.random.normal(keys[3], (D, 4 * H), jnp.float32) / jnp.sqrt(D)
    b = jnp.zeros((4 * H,), jnp.float32)
    x_tm = jnp.swapaxes(x, 0, 1)
    forward = jax.jit(lambda W, U, b, x: handwritten_vjp._layer_fwd(LSTM_CELL, (W, U, b), x, 1))
    hs, residuals = forward(W, U, b, x_tm)
    dh = jnp.zeros_like(hs).at[-1].set(1.0)
    backward = jax.jit(lambda residuals, dh: handwritten_vjp._layer_bwd(LSTM_CELL, 1, residuals, dh)[0])

    def matmul_loop(kernel, width):
        def step(state, _):
            z = state @ kernel  # [B, width * k] -> consume every column, cheaply
            pieces = [z[:, i * width : (i + 1) * width] for i in range(z.shape[1] // width)]
            out = 0.5 + 1e-3 * sum(pieces)
            return jnp.concatenate([out] * (state.shape[1] // width), axis=1), None

        return jax.jit(lambda kernel: lax.scan(step, jnp.ones((B, kernel.shape[0]), jnp.float32), None, length=T)[0])

    forward_matmuls = matmul_loop(W, H)
    backward_matmuls = matmul_loop(W.T, H)
    dz = jax.random.normal(keys[2], (T, B, 4 * H), jnp.float32)
    gemm = jax.jit(handwritten_vjp.parameter_gradients)
    projections = jax.jit(lambda x, U: [x @ U[:, g * H : (g + 1) * H] for g in range(4)])

    def run(f, *args):
        return lambda: jax.block_until_ready(f(*args))

    return {
        "seqgrad fwd+bwd": run(value_and_grad, params),
        "forward loop": run(forward, W, U, b, x_tm),
        "backward (loop + GEMM)": run(backward, residuals, dh),
        "floor: fwd matmuls": run(forward_matmuls, W),
        "floor: bwd matmuls": run(backward_matmuls, W.T),
        "floor: param GEMM": run(gemm, hs, x_tm, dz),
        "floor: input GEMMs": run(projections, x_tm, U),
    }


def torch_parts(B, T, D, H):
    import torch

    torch.manual_seed(0)
    module = torch.nn.LSTM(D, H, batch_first=True)
    x = torch.randn(B, T, D)
    state_fwd, kernel_fwd = torch.randn(B, H), torch.randn(H, 4 * H)
    state_bwd, kernel_bwd = torch.randn(B, 4 * H), torch.randn(4 * H, H)

    def fwd_bwd():
        for p in module.parameters():
            p.grad = None
        out, _ = module(x)
        (out[:, -1] ** 2).sum().backward()

    def mm_loop(state, kernel):
        def call():
            for _ in range(T):
                torch.mm(state, kernel)

        return call

    return {
        "torch fwd+bwd": fwd_bwd,
        "torch mm loop, fwd shape": mm_loop(state_fwd, kernel_fwd),
        "torch mm loop, bwd shape": mm_loop(state_bwd, kernel_bwd),
    }


def main(argv=None):
    args = parse_args(argv)
    allocator, threads = prepare(args)
    import jax
    import torch

    print(f"jax {jax.__version__}, torch {torch.__version__}, {threads} thread(s) each, allocator: {allocator}")
    print(f"load average {os.getloadavg()[0]:.1f}; B={args.B} D={args.D} T={args.T} float32, "
          f"median of {args.repeats}\n")
    for H in args.H:
        parts = {**seqgrad_parts(args.B, args.T, args.D, H), **torch_parts(args.B, args.T, args.D, H)}
        times = dict(zip(parts, alternate(list(parts.values()), args.repeats)))
        floor = sum(ms for name, ms in times.items() if name.startswith("floor:"))
        torch_ms = times["torch fwd+bwd"]
        print(f"H = {H}")
        for name, ms in times.items():
            print(f"  {name:28s} {ms:9.2f} ms")
        print(f"  {'floor (sum of floor parts)':28s} {floor:9.2f} ms")
        ours = times["seqgrad fwd+bwd"]
        print(f"  torch / seqgrad = {torch_ms / ours:.2f}x,  torch / floor = {torch_ms / floor:.2f}x\n")


if __name__ == "__main__":
    main()
