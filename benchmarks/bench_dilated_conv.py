"""Causal dilated convolution: ``lax.conv_general_dilated`` against shifted matmuls, in and out of a loop.

One training step of the ``dilated_conv`` stack (``value_and_grad`` of ``Σ h²`` with
respect to all parameters; B = 100, T = 40, D = 1, H = 128, eight blocks of kernel 2:
the MNIST-1D shapes), float32, on the default device, two ways:

* ``conv``: each causal conv as ``flax.linen.Conv`` with left padding and
  ``kernel_dilation`` (XLA's convolution);
* ``matmul``: `seqgrad.models.dilated_conv.CausalConv`, ``k`` shifted matmuls (taps
  whose lag is ≥ T skipped), what the model uses.

Each is timed alone (one jitted step) and inside ``lax.scan`` over ``--steps`` steps
(how `seqgrad.train` runs several steps per dispatch). Both share the parameters
(same layout) and their gradients agree (printed). Median of ``--repeats`` calls,
the two forms alternating.

    python benchmarks/bench_dilated_conv.py
    python benchmarks/bench_dilated_conv.py --steps 10 --repeats 5 --hidden 64
"""

from __future__ import annotations

import argparse
import time

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from seqgrad.models import dilated_conv


class ConvBlock(nn.Module):
    """The residual block with XLA convolutions: the same parameters as `dilated_conv.ResidualBlock`."""

    kernel_size: int
    dilation: int

    @nn.compact
    def __call__(self, z):
        H, pad = z.shape[-1], ((self.dilation * (self.kernel_size - 1), 0),)
        conv = lambda name: nn.Conv(H, (self.kernel_size,), kernel_dilation=(self.dilation,),  # noqa: E731
                                    padding=pad, name=name)
        return z + conv("conv_2")(jax.nn.relu(conv("conv_1")(z)))


class ConvStack(nn.Module):
    hidden_size: int
    num_blocks: int

    @nn.compact
    def __call__(self, x):
        z = nn.Dense(self.hidden_size, name="input_projection")(x)
        for index in range(self.num_blocks):
            z = ConvBlock(2, 2**index, name=f"block_{index}")(z)
        return z


def timed(fn, *args, repeats: int) -> list[float]:
    jax.block_until_ready(fn(*args))
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn(*args))
        out.append(time.perf_counter() - start)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--blocks", type=int, default=8)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--T", type=int, default=40)
    parser.add_argument("--steps", type=int, default=5, help="steps per lax.scan")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    x = jax.random.normal(jax.random.key(0), (args.batch, args.T, 1))
    models = {"matmul": dilated_conv.DilatedConv(args.hidden, kernel_size=2, num_blocks=args.blocks),
              "conv": ConvStack(args.hidden, args.blocks)}
    params = models["matmul"].init(jax.random.key(1), x)

    def step_fn(model):
        grad = jax.value_and_grad(lambda p: jnp.sum(model.apply(p, x) ** 2))

        def scanned(p):
            def body(p, _):
                _, g = grad(p)
                return jax.tree.map(lambda a, b: a - 1e-9 * b, p, g), None
            return jax.lax.scan(body, p, None, length=args.steps)[0]

        return jax.jit(grad), jax.jit(scanned)

    fns = {name: step_fn(m) for name, m in models.items()}
    g_mm, g_conv = (jax.tree.leaves(fns[n][0](params)[1]) for n in ("matmul", "conv"))
    diff = max(float(jnp.max(jnp.abs(a - b)) / (jnp.max(jnp.abs(b)) + 1e-30)) for a, b in zip(g_mm, g_conv))
    print(f"{jax.default_backend()}: B={args.batch} T={args.T} H={args.hidden} blocks={args.blocks}; "
          f"max relative gradient difference {diff:.1e}")
    times = {(n, w): [] for n in fns for w in ("alone", "scan")}
    for _ in range(args.repeats):  # alternate the forms
        for name, (alone, scanned) in fns.items():
            times[name, "alone"] += timed(alone, params, repeats=1)
            times[name, "scan"] += [t / args.steps for t in timed(scanned, params, repeats=1)]
    print("| form | ms per step, one jitted step | ms per step inside lax.scan |")
    print("|---|---|---|")
    for name in fns:
        print(f"| {name} | {1e3 * np.median(times[name, 'alone']):.1f} | {1e3 * np.median(times[name, 'scan']):.1f} |")


if __name__ == "__main__":
    main()
