"""Ahead-of-time compilation of the main job's programs: each distinct program compiled once.

Entries that differ only in their initialisation (``lstm_cell_fb0`` … ``lstm_chrono``,
``gru`` and ``gru_update_bias_neg``) lower to the same program once the parameters are
an argument (`seqgrad.gradflow.measure.params_fn`). A `ProgramCache` keys every
lowered program by its StableHLO text, its arguments' tree, shapes and dtypes, its result
tree and its compiler options, and compiles each key once, also when several threads ask
for it at the same time (the later ones wait for the first). It is an explicit object, created per `seqgrad.gradflow.analysis.run`,
not module state.

`options` picks a program's XLA compiler options. With ``config.quick_compile`` on a CPU
backend, the measurement programs compile at a lower LLVM optimisation level
(``xla_backend_optimization_level``; XLA's default is 2): level 1 for the Jacobian stacks
and the seed's experiment by the truncated definition, which run for seconds and run as
fast at level 1, and level 0 for the Lyapunov exponents and the one-pass seed experiment
of `attribution.STATE_SITES`, which run for a fraction of a second. Measured, compile / run
in seconds at the default level, level 1 and level 0: mLSTM stacks 4.5 / 11.8, 2.4 / 12.2,
1.4 / 21.7; Transformer stacks 3.5 / 18.3, 3.1 / 17.4, 2.3 / 39.3; s6 seed experiment
4.1 / 4.4, 2.8 / 4.6, 2.3 / 8.3; GRU Lyapunov + seed experiment 5.5 / 0.2, 3.7 / 0.2,
3.2 / 0.4. The timed step (the table's time per step) keeps the default level.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import threading

import jax

from seqgrad.gradflow import attribution

LEVEL = "xla_backend_optimization_level"


def options(entry, config, part: str) -> dict:
    """XLA compiler options of ``entry``'s program ``part``: a `seqgrad.gradflow.measure.PARTS` name,
    ``"init"``, ``"spectra"`` (the SVDs), ``"recheck"`` (the float64 norms) or ``"step"`` (timed:
    always the defaults)."""
    if not config.get("quick_compile", False) or jax.default_backend() != "cpu" or part == "step":
        return {}
    if part == "lyapunov" or (part == "seed_experiment" and attribution.state_site(entry.model) is not None):
        return {LEVEL: 0}
    return {LEVEL: 1}


class ProgramCache:
    """Compiled executables keyed by (lowered program, compiler options); thread-safe.

    ``hits`` counts the compilations saved.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._compiled: dict[str, concurrent.futures.Future] = {}
        self.hits = 0

    def compile(self, lowered, compiler_options: dict | None = None):
        """``lowered.compile(compiler_options)``, or the executable already compiled for the same key."""
        # The text alone is not enough: jit drops unused arguments from it, so programs that ignore their
        # parameters (a convolution's empty Lyapunov part) print alike for different parameter trees.
        signature = (lowered.as_text(), repr(lowered.args_info), repr(lowered.out_tree),
                     repr(sorted((compiler_options or {}).items())))
        key = hashlib.sha256("\n".join(signature).encode()).hexdigest()
        with self._lock:
            future = self._compiled.get(key)
            owner = future is None
            if owner:
                future = self._compiled[key] = concurrent.futures.Future()
            else:
                self.hits += 1
        if owner:
            try:
                future.set_result(lowered.compile(compiler_options or None))
            except BaseException as err:
                future.set_exception(err)
        return future.result()

    def __len__(self) -> int:
        return len(self._compiled)
