"""How large a Jacobian measurement may be: exact stack or sketch, chunks of cotangents, distances.

* `choose_method`: the exact ``[T, n, n]`` stack (`seqgrad.gradflow.state_jacobians`)
  while ``T·n² <= MAX_EXACT_ELEMENTS`` (2²⁶ numbers, 256 MiB in float32), the sketch
  (`seqgrad.gradflow.jacobian_profile`) beyond.
* `basis_chunk`: how many of the n basis cotangents one reverse pass takes, as many as
  fit in ``ADJOINT_BUDGET_BYTES`` of adjoints ``[chunk, T, n]`` (16 to n, in equal
  chunks: fewer, wider passes run faster per cotangent).
* `default_distances`: about 64 log-spaced distances for the singular values.
"""

from __future__ import annotations

import numpy as np

METHODS = ("exact", "sketch", "auto")
# auto: the exact [T, n, n] stack while it holds at most this many numbers (256 MiB in float32).
MAX_EXACT_ELEMENTS = 2**26
DEFAULT_NUM_DISTANCES = 64
# Default chunk of basis cotangents: the widest whose adjoints [chunk, T, n] fit in this many bytes (>= 16, <= n);
# 256 MiB: at H = 256, T = 5000 that is 52 per pass, 1.5x faster than 16 (benchmarks/README.md).
ADJOINT_BUDGET_BYTES = 2**28
MIN_BASIS_CHUNK = 16


def basis_chunk(T: int, n: int, itemsize: int = 4, budget: int = ADJOINT_BUDGET_BYTES) -> int:
    """Default ``probe_batch`` for the n basis cotangents: equal chunks of at most ``budget`` bytes of adjoints.

    ``c_max = max(16, budget // (T·n·itemsize))`` (capped at n), then the chunk
    ``⌈n / ⌈n / c_max⌉⌉`` so that all chunks are (nearly) equal.
    """
    widest = min(n, max(MIN_BASIS_CHUNK, budget // max(1, T * n * itemsize)))
    return -(-n // -(-n // widest))


def choose_method(T: int, H: int, method: str = "auto", max_exact_elements: int = MAX_EXACT_ELEMENTS) -> str:
    """``"exact"`` (the `state_jacobians` stack) or ``"sketch"`` (`jacobian_profile`) for length T, width H.

    ``method="auto"`` gives ``"exact"`` while ``T·H² <= max_exact_elements`` (the
    stack's size in numbers; 2²⁶ = 256 MiB in float32), ``"sketch"`` beyond;
    ``"exact"`` and ``"sketch"`` are returned as given.
    """
    if method not in METHODS:
        raise ValueError(f"method={method!r} is invalid; valid choices: {list(METHODS)}")
    if method != "auto":
        return method
    return "exact" if T * H * H <= max_exact_elements else "sketch"


def default_distances(T: int, count: int = DEFAULT_NUM_DISTANCES) -> np.ndarray:
    """About ``count`` distinct distances in ``[0, T-1]``, log-spaced, 0 and ``T-1`` included (all if T <= count)."""
    if T <= count:
        return np.arange(T)
    grid = np.geomspace(1, T, num=min(count, T))
    return np.unique(np.concatenate([[0], np.round(grid).astype(int) - 1, [T - 1]]))
