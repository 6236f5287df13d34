"""Scalable gradient-flow diagnostics: time and peak memory against T, k and H.

Every configuration runs in its own subprocess, which reports its wall time and
its peak resident memory (``ru_maxrss``, the whole process: Python, JAX and XLA
included), so configurations do not share caches or allocations. Float32, one
sequence, D = 32, CPU.

* ``frobenius``: `gradflow.jacobian_profile` with k random orthonormal probes and
  no singular values (``distances=()``): ``‖∂h_{T-1}/∂h_{T-1-d}‖_F`` at every d.
* ``singular``: the exact top-8 singular values at 64 log-spaced distances (the n
  basis cotangents; the Frobenius norms come exactly with them).
* ``decomposition``: the norms ``‖G(d)‖`` of the page's weight-gradient
  decomposition by distance, one pass (`attribution.distance_norms`) and, with
  ``--old``, by its definition (differences of T truncated gradients).
* ``lyapunov``: `gradflow.lyapunov_exponents` (8 exponents), for its memory.

The ``remat`` column: ``remat_block`` of `jacobian_profile` (checkpointed blocks
of B ≈ sqrt(T) steps; the same numbers, less stored for the reverse pass), run
next to the plain call at the largest T.

Times: ``first`` includes compilation, ``run`` is a second call (not made for
T = 20 000 and the O(T²) definition, which run once). ``stack GiB`` is
what the ``[T, n, n]`` float32 stack of `state_jacobians` alone would take.

    python benchmarks/bench_profile.py                      # the full table (long)
    python benchmarks/bench_profile.py --quick              # small shapes, a smoke test
    python benchmarks/bench_profile.py --only frobenius --T 2000 5000
    python benchmarks/bench_profile.py --only singular --T 20000 --remat off   # one target row
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time


def child(case: str, arch: str, T: int, H: int, k: int, old: bool, remat: int = 0) -> dict:
    import jax
    import jax.numpy as jnp

    from seqgrad import models
    from seqgrad.gradflow import attribution, jacobian_profile, lyapunov_exponents

    model = models.create(arch, hidden_size=H)
    x = jax.random.normal(jax.random.key(0), (T, 32), jnp.float32)
    params = jax.jit(model.init)(jax.random.key(1), x[:1][None])
    target = jax.random.normal(jax.random.key(2), (H,), jnp.float32)
    names = models.info(arch).recurrent_params
    block = remat or None
    if case == "frobenius":
        call = lambda: jacobian_profile(model, params, x, num_probes=k, distances=(),  # noqa: E731
                                        remat_block=block)["frobenius"]
    elif case == "singular":
        call = lambda: jacobian_profile(model, params, x, remat_block=block)["singular_values"]  # noqa: E731
    elif case == "decomposition":
        if old:
            fn = jax.jit(lambda p: attribution.contribution_norms(
                attribution.truncated_gradient_by_distance(model, p, x, target, names)))
        else:
            fn = jax.jit(lambda p: attribution.distance_norms(model, p, x, target, names, batch_size=256))
        call = lambda: fn(params)  # noqa: E731
    else:
        call = lambda: lyapunov_exponents(model, params, x, num_exponents=8)  # noqa: E731
    start = time.perf_counter()
    jax.block_until_ready(call())
    first = time.perf_counter() - start
    run = None
    if T < 20_000 and not old:  # the longest runs once
        start = time.perf_counter()
        jax.block_until_ready(call())
        run = time.perf_counter() - start
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB -> GiB
    return {"first_s": first, "run_s": run, "peak_gib": rss}


def configurations(args):
    T_big = [200, 500] if args.quick else args.T
    H_fro, H_sv, H_dec = (32, 32, 16) if args.quick else (512, 256, 128)
    block = round(T_big[-1] ** 0.5)
    for T in T_big:
        yield "frobenius", "lstm", T, H_fro, 16, False, 0
    yield "frobenius", "lstm", T_big[-1], H_fro, 16, False, block
    for k in ((4, 64) if not args.quick else (4,)) if len(T_big) > 1 else ():
        yield "frobenius", "lstm", T_big[1], H_fro, k, False, 0
    for T in dict.fromkeys((T_big[min(1, len(T_big) - 1)], T_big[-1])):
        yield "singular", "lstm", T, H_sv, 0, False, 0
    yield "singular", "lstm", T_big[-1], H_sv, 0, False, block
    for T in ([100, 200] if args.quick else [500, 2000]):
        yield "decomposition", "lstm", T, H_dec, 0, True, 0
        yield "decomposition", "lstm", T, H_dec, 0, False, 0
    yield "decomposition", "lstm", 400 if args.quick else 10_000, H_dec, 0, False, 0
    yield "lyapunov", "lstm", T_big[-1], H_fro, 0, False, 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--T", type=int, nargs="+", default=[2000, 5000, 10_000, 20_000])
    parser.add_argument("--quick", action="store_true", help="small shapes (a smoke test)")
    parser.add_argument("--only", default=None, choices=["frobenius", "singular", "decomposition", "lyapunov"])
    parser.add_argument("--H", type=int, default=None, help="width of the frobenius and singular rows")
    parser.add_argument("--remat", choices=["both", "off", "only"], default="both",
                        help="rows without / with remat_block (both: the remat rows at the largest T too)")
    parser.add_argument("--child", nargs=7, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        case, arch, T, H, k, old, remat = args.child
        print(json.dumps(child(case, arch, int(T), int(H), int(k), old == "True", int(remat))))
        return
    print("| case | arch | T | H | k | remat | method | first s | run s | peak GiB | stack GiB |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for config in configurations(args):
        case, arch, T, H, k, old, remat = config
        if args.only and case != args.only:
            continue
        if (args.remat == "off" and remat) or (args.remat == "only" and not remat):
            continue
        if args.H and case in ("frobenius", "singular"):
            H = args.H
            config = (case, arch, T, H, k, old, remat)
        proc = subprocess.run([sys.executable, __file__, "--child", *map(str, config)],
                              capture_output=True, text=True)
        if proc.returncode:
            print(f"| {case} | {arch} | {T} | {H} | {k or ''} | {remat or ''} "
                  f"| failed: {proc.stderr.strip().splitlines()[-1]} |")
            continue
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        run = "—" if r["run_s"] is None else f"{r['run_s']:.1f}"
        method = {"frobenius": "probes", "singular": "basis+SVD", "lyapunov": "QR"}.get(
            case, "truncated (old)" if old else "one pass")
        print(f"| {case} | {arch} | {T} | {H} | {k or ''} | {remat or ''} | {method} | {r['first_s']:.1f} | {run} "
              f"| {r['peak_gib']:.2f} | {T * H * H * 4 / 2**30:.2f} |", flush=True)


if __name__ == "__main__":
    main()
