"""Forward+backward speed of seqgrad's `lstm`, `gru`, `rnn` against PyTorch's `nn.LSTM`, `nn.GRU`, `nn.RNN`.

One call = value and gradient of ``L = Σ h_T²`` with respect to all parameters,
for ``x: [B, T, D]`` float32 on the CPU. The two libraries run alternately in
one process (seqgrad, torch, seqgrad, torch, ...), so load from other processes
hits both alike; each time is the median over ``--repeats`` calls, and the
ratio ``torch_ms / seqgrad_ms`` (> 1: seqgrad is faster) is printed per shape.

Fairness: torch gets as many intra-op threads as JAX's CPU client uses (the
CPUs this process may run on), and both run under the same memory allocator:
if jemalloc or tcmalloc is installed (``ldconfig -p``) and not already
preloaded, the script re-executes itself with ``LD_PRELOAD`` set to it
(``--allocator system`` keeps glibc malloc), with ``MALLOC_CONF`` telling
jemalloc to keep freed pages (page faults on fresh buffers otherwise dominate
long sequences on both sides). Torch's speed depends strongly on the allocator
(tcmalloc/jemalloc make it 1.5-2x faster), JAX's less. ``--threads N`` pins the
process to N CPUs; on a machine shared with other jobs, ``--threads 1`` is the
stable comparison: torch's OpenMP threads spin-wait and collapse when the
cores are oversubscribed (set ``OMP_WAIT_POLICY=PASSIVE`` to soften that).

    python benchmarks/bench_cells.py --quick
    python benchmarks/bench_cells.py                     # T in {100, 500, 1000}, H in {128, 256}
    python benchmarks/bench_cells.py --threads 1                                     # one core each
    python benchmarks/bench_cells.py --T 500 --H 128 --models lstm --repeats 20

Torch is needed only here: ``pip install -e '.[bench]'``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

ALLOCATORS = ("jemalloc", "tcmalloc", "system")
CELLS = {"lstm": "LSTM", "gru": "GRU", "rnn": "RNN"}
# jemalloc options set when this script preloads jemalloc itself (an existing MALLOC_CONF wins).
JEMALLOC_CONF = "dirty_decay_ms:-1,muzzy_decay_ms:-1"


def find_allocator(preference: str) -> str | None:
    """Path of a shared library for ``preference`` (or the first available) from ``ldconfig -p``."""
    try:
        listing = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True, check=False).stdout
    except OSError:
        return None
    names = {"jemalloc": "libjemalloc.so", "tcmalloc": "libtcmalloc"}
    order = [preference] if preference in names else list(names)
    for name in order:
        for line in listing.splitlines():
            if names[name] in line and "=>" in line:
                return line.split("=>")[-1].strip()
    return None


def ensure_allocator(choice: str) -> str:
    """Re-executes the script under ``LD_PRELOAD`` of the chosen allocator if needed; returns its name."""
    preloaded = os.environ.get("LD_PRELOAD", "")
    for name in ("jemalloc", "tcmalloc"):
        if name in preloaded:
            conf = f", MALLOC_CONF={os.environ['MALLOC_CONF']}" if "MALLOC_CONF" in os.environ else ""
            return f"{name} (LD_PRELOAD={preloaded}{conf})"
    if choice == "system":
        return "glibc malloc (system)"
    path = find_allocator(choice)
    if path is None:
        return "glibc malloc (no jemalloc/tcmalloc found by ldconfig -p)"
    env = {**os.environ, "LD_PRELOAD": path}
    if choice == "jemalloc" or "jemalloc" in path:
        # Keep freed pages mapped: otherwise every call page-faults its fresh [T, B, 4H]
        # buffers back in (a 32 MB buffer cost ~35 ms here), which swamps the cells.
        env.setdefault("MALLOC_CONF", JEMALLOC_CONF)
    os.execve(sys.executable, [sys.executable, *sys.argv], env)


def pin_threads(threads: int | None) -> int:
    """Restricts the process to ``threads`` CPUs (before JAX starts) and returns how many it may use.

    XLA's CPU client sizes its thread pools from the process's CPU affinity, so
    pinning is how both libraries get the same number of cores.
    """
    if not hasattr(os, "sched_getaffinity"):
        return os.cpu_count() or 1
    cpus = sorted(os.sched_getaffinity(0))
    if threads is not None:
        if not 1 <= threads <= len(cpus):
            raise ValueError(f"--threads={threads} is invalid: this process may use 1..{len(cpus)} CPUs")
        cpus = cpus[:threads]
        os.sched_setaffinity(0, cpus)
    return len(cpus)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="T=100 and H=128 only")
    parser.add_argument("--T", type=int, nargs="+", default=[100, 500, 1000], help="sequence lengths")
    parser.add_argument("--H", type=int, nargs="+", default=[128, 256], help="hidden sizes")
    parser.add_argument("--B", type=int, default=32, help="batch size")
    parser.add_argument("--D", type=int, default=32, help="input size")
    parser.add_argument("--repeats", type=int, default=10, help="timed calls per side and shape (median)")
    parser.add_argument("--models", nargs="+", default=list(CELLS), choices=list(CELLS))
    parser.add_argument("--allocator", default="jemalloc", choices=ALLOCATORS)
    parser.add_argument("--unroll", type=int, default=None, help="override the models' default scan unroll")
    parser.add_argument(
        "--threads", type=int, default=None, help="pin the process to this many CPUs (default: all it may use)"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.T, args.H = [100], [128]
    return args


def seqgrad_call(name, B, T, D, H, unroll, handwritten=True):
    """``() -> None`` timing one jitted ``(L, ∂L/∂params)`` of seqgrad model ``name``.

    ``handwritten=False`` builds the model with ``fused=False``: JAX's autodiff of the
    generic scan, the in-run reference for the hand-written VJP.
    """
    import jax
    import jax.numpy as jnp

    from seqgrad import models

    options = {} if unroll is None else {"unroll": unroll}
    if not handwritten:
        options["fused"] = False
    model = models.create(name, hidden_size=H, **options)
    x = jax.random.normal(jax.random.key(0), (B, T, D), jnp.float32)
    params = model.init(jax.random.key(1), x)

    @jax.jit
    def value_and_grad(params, x):
        return jax.value_and_grad(lambda p: jnp.sum(model.apply(p, x)[:, -1] ** 2))(params)

    def call():
        jax.block_until_ready(value_and_grad(params, x))

    return call


def torch_call(name, B, T, D, H):
    """``() -> None`` running forward+backward of the matching ``torch.nn`` module (tanh for RNN)."""
    import torch

    torch.manual_seed(0)
    module = getattr(torch.nn, CELLS[name])(D, H, batch_first=True)
    x = torch.randn(B, T, D)

    def call():
        for p in module.parameters():
            p.grad = None
        out, _ = module(x)
        (out[:, -1] ** 2).sum().backward()

    return call


def median_ms(times):
    times = sorted(times)
    return 1e3 * times[len(times) // 2] if len(times) % 2 else 1e3 * 0.5 * (times[len(times) // 2 - 1] + times[len(times) // 2])


def alternate(calls, repeats):
    """Runs the calls in turn ``repeats`` times (after one warm-up each); median ms per call."""
    for call in calls:
        call()
    times = [[] for _ in calls]
    for _ in range(repeats):
        for call, record in zip(calls, times):
            start = time.perf_counter()
            call()
            record.append(time.perf_counter() - start)
    return [median_ms(t) for t in times]


def prepare(args) -> tuple[str, int]:
    """Allocator (re-executing under it if needed), CPU pinning and torch's thread count; returns both."""
    allocator = ensure_allocator(args.allocator)
    threads = pin_threads(args.threads)
    try:
        import torch
    except ImportError:  # the autodiff column still compares within seqgrad
        return allocator, threads
    torch.set_num_threads(threads)
    return allocator, threads


def main(argv=None):
    args = parse_args(argv)
    allocator, threads = prepare(args)
    import jax

    try:
        import torch
    except ImportError:
        torch = None
    versions = f"torch {torch.__version__}" if torch else "torch not installed (torch columns empty)"
    print(f"jax {jax.__version__} ({jax.default_backend()}), {versions}")
    print(f"threads: JAX uses the {threads} CPU(s) this process may run on; torch.set_num_threads({threads})")
    print(f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '(unset)')}, load average {os.getloadavg()[0]:.1f}")
    print(f"allocator (both sides): {allocator}")
    print(f"B={args.B} D={args.D} float32, loss Σ h_T², median of {args.repeats} alternated calls")
    print("seqgrad ms: hand-written VJP (default); autodiff ms: the same model with fused=False\n")
    header = (
        f"{'model':6} {'T':>5} {'H':>4} {'seqgrad ms':>11} {'autodiff ms':>12} {'autodiff/seqgrad':>17}"
        f" {'torch ms':>9} {'torch/seqgrad':>14}"
    )
    print(header)
    print("-" * len(header))
    for name in args.models:
        for H in args.H:
            for T in args.T:
                calls = [seqgrad_call(name, args.B, T, args.D, H, args.unroll, handwritten)
                         for handwritten in (True, False)]
                if torch is not None:
                    calls.append(torch_call(name, args.B, T, args.D, H))
                ms = alternate(calls, args.repeats)
                row = f"{name:6} {T:5d} {H:4d} {ms[0]:11.2f} {ms[1]:12.2f} {ms[1] / ms[0]:16.2f}x"
                row += f" {ms[2]:9.2f} {ms[2] / ms[0]:13.2f}x" if torch is not None else f" {'-':>9} {'-':>14}"
                print(row, flush=True)

if __name__ == "__main__":
    main()
