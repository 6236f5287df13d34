"""What the page says about each built-in architecture, one row each, side by side: the gradient path length
class, whether it runs in parallel over time, where its equations come from, and one line of its claim.

    >>> from seqgrad.models.page_claims import PAGE_CLAIMS
    >>> PAGE_CLAIMS["lstm"].path_length, PAGE_CLAIMS["lstm"].parallel
    ('O(T) but additive', 'no')

`seqgrad.models.registry.register` fills a built-in architecture's `Architecture` record from its row
(``models.info(name).claim`` and the rest read the same); an architecture defined outside seqgrad gives
the same texts to ``register`` itself (docs/own_architecture.md). The rows follow docs/models.md: the
architectures sequential in time first, then those that run in parallel over time (or partly).
"""

from __future__ import annotations

import dataclasses

__all__ = ["PAGE_CLAIMS", "PageClaims"]


@dataclasses.dataclass(frozen=True)
class PageClaims:
    """What the page (or the architecture's paper) says about one architecture.

    Attributes:
      path_length: the gradient path length class, e.g. ``"O(T)"``, ``"O(T) but additive"``,
        ``"O(T/k)"``, ``"O(log T)"``, ``"O(1)"``.
      parallel: parallelisable over time: ``"no"``, ``"partially"`` or ``"yes"``.
      paper: where its equations come from.
      claim: one line of the page's claim (or the paper's) about its gradient flow.
    """

    path_length: str
    parallel: str
    paper: str
    claim: str = ""


PAGE_CLAIMS: dict[str, PageClaims] = {
    # Recurrent architectures (docs/models.md's first table).
    "rnn": PageClaims(
        path_length="O(T)",
        parallel="no",
        paper="Elman 1990; IRNN: Le, Jaitly & Hinton 2015",
        claim="each backward step multiplies by Wᵀ·diag(φ'(z_t)): gradients vanish or explode exponentially",
    ),
    "residual_rnn": PageClaims(
        path_length="O(T) but additive",
        parallel="no",
        paper="the page's additive update; residual connections: He et al. 2016",
        claim="∂h_t/∂h_{t-1} = I + ∂Δh_t/∂h_{t-1}: the identity gives gradients a direct path",
    ),
    "lstm": PageClaims(
        path_length="O(T) but additive",
        parallel="no",
        paper="Hochreiter & Schmidhuber 1997; forget gate: Gers, Schmidhuber & Cummins 2000; "
            "forget_bias=1: Jozefowicz, Zaremba & Sutskever 2015",
        claim="∂c_t/∂c_{t-1} = f_t (element-wise): with the forget gate open, gradients flow "
            "through the cell state undiminished (constant error carousel)",
    ),
    "gru": PageClaims(
        path_length="O(T) but additive",
        parallel="no",
        paper="Cho et al. 2014 (reset gate before the candidate matmul)",
        claim="h_t = (1-z_t) h_{t-1} + z_t h̃_t is an additive path: with z_t ≈ 0 gradients flow through directly",
    ),
    "skip_rnn": PageClaims(
        path_length="O(T/k)",
        parallel="no",
        paper="the page's skip connections; NARX skips in time: Lin, Horne, Tiňo & Giles 1996",
        claim="h_{t-k} enters h_t additively: a direct gradient path spanning k steps",
    ),
    "multiscale_rnn": PageClaims(
        path_length="O(T/k^(G-1))",
        parallel="no",
        paper="Clockwork RNN: Koutník, Greff, Gomez & Schmidhuber 2014",
        claim="slow modules update every k^g steps and hold their state in between: "
            "their gradients travel shorter distances",
    ),
    "indrnn": PageClaims(
        path_length="O(T) but element-wise",
        parallel="no",
        paper="Li et al. 2018, Independently recurrent neural network (IndRNN)",
        claim="∂h_T/∂h_t = diag(∏ u ⊙ φ′): each unit's gradient decays or grows on its own, set by u",
    ),
    "cornn": PageClaims(
        path_length="O(T) but oscillatory (bounded growth)",
        parallel="no",
        paper="Rusch & Mishra 2021, Coupled oscillatory recurrent neural network (coRNN)",
        claim="‖∂y_T/∂y_t‖_∞ ≤ ρ^(T−t), ρ = 1 + O(Δt): hidden-state gradients cannot explode faster",
    ),
    "slstm": PageClaims(
        path_length="O(T) but additive",
        parallel="no",
        paper="Beck et al. 2024, xLSTM: extended long short-term memory (sLSTM)",
        claim="∂c_t/∂c_{t−1} = f_t with exponential gating and a normaliser: the cell path is additive",
    ),
    "orthogonal_rnn": PageClaims(
        path_length="O(T)",
        parallel="no",
        paper="expRNN: Lezcano-Casado & Martínez-Rubio 2019; modReLU: Arjovsky, Shah & Bengio 2016; "
            "init: Henaff, Szlam & LeCun 2016",
        claim="W = expm(A - Aᵀ) is exactly orthogonal: W^(T-t) keeps every singular value at 1, "
            "only the activation's derivative can shrink gradients",
    ),
    # Parallel and attention architectures (its second table).
    "lru": PageClaims(
        path_length="O(T) but linear (|λ| < 1 chosen by design)",
        parallel="yes",
        paper="Orvieto et al. 2023, Resurrecting recurrent neural networks for long sequences",
        claim="∂x_T/∂x_t = diag(λ^(T−t)): no nonlinearity on the path, "
            "the decay |λ| per step is set by the ring init",
    ),
    "mingru": PageClaims(
        path_length="O(T) but additive",
        parallel="yes",
        paper="Feng et al. 2024, Were RNNs all we needed?",
        claim="∂h_T/∂h_t = diag(∏(1 − z_s)): gates read only the input, so the path is additive and parallel",
    ),
    "minlstm": PageClaims(
        path_length="O(T) but additive",
        parallel="yes",
        paper="Feng et al. 2024, Were RNNs all we needed?",
        claim="∂h_T/∂h_t = diag(∏ f′_s), f′ = f/(f + i) from the inputs only: additive and parallel",
    ),
    "rg_lru": PageClaims(
        path_length="O(T) but linear (0 < a < 1 gated)",
        parallel="yes",
        paper="De et al. 2024, Griffin: mixing gated linear recurrences with local attention (RG-LRU)",
        claim="∂h_T/∂h_t = diag(∏ a_s), 0 < a < 1; √(1 − a²) keeps Var(h) equal to the input variance",
    ),
    "s6": PageClaims(
        path_length="O(T) but linear (selective Δ_t)",
        parallel="yes",
        paper="Gu & Dao 2023, Mamba: linear-time sequence modeling with selective state spaces (S6)",
        claim="∂s_T/∂s_t = diag(∏ exp(Δ_s A)): Δ_t → 0 keeps the state (identity map), large Δ_t resets it",
    ),
    "mlstm": PageClaims(
        path_length="O(T) but linear (matrix memory)",
        parallel="yes",
        paper="Beck et al. 2024, xLSTM: extended long short-term memory (mLSTM)",
        claim="∂C_T/∂C_t = ∏ f_s (scalar per head): gates read only x, the memory path is linear and parallel",
    ),
    "attention_rnn": PageClaims(
        path_length="O(1) via attention",
        parallel="partially",
        paper="Elman recurrence + causal attention read-out (Bahdanau et al. 2015; Cheng et al. 2016)",
        claim="attention gives a direct path from every past state to the output: "
            "no multiplicative chain through time",
    ),
    "transformer": PageClaims(
        path_length="O(1)",
        parallel="yes",
        paper="Vaswani et al. 2017; pre-LN: Xiong et al. 2020",
        claim="self-attention connects every position to every earlier one directly: no sequential gradient path",
    ),
    "dilated_conv": PageClaims(
        path_length="O(log T)",
        parallel="yes",
        paper="WaveNet: van den Oord et al. 2016; TCN: Bai, Kolter & Koltun 2018",
        claim="dilations 1, 2, …, 2^(L−1) reach T steps back through O(log T) layers",
    ),
}
