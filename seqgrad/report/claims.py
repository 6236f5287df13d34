"""The claims the main job tests (the page's, and two of later papers, marked): for each, the measurement that
tests it and the rule that turns it into a verdict.

`CLAIMS` lists them in the order of the report; `evaluate` gives one `ClaimRow` per claim
over every condition of the grid. Per condition a verdict is ``confirmed``, ``refuted``,
``qualified`` (true only with a caveat the numbers show), ``inconclusive`` (the margin to
the threshold lies inside the spread over initialisations and inputs) or ``not measured``
(the config lacks an entry the claim names); `seqgrad.report.verdicts` combines the
conditions into the overall verdict (``depends`` when they disagree). Every threshold is a
config value (``config.claims``; the regime thresholds ``config.regime`` are already applied
in the record). The rules live by family: `chain_rules` (the multiplicative chain, gates and
additive paths), `path_rules` (skip, multi-scale, dilated, attention), `later_paper_rules`
(coRNN, RG-LRU: not on the page) and `snippet_rules` (the page's snippet).
"""

from __future__ import annotations

from seqgrad.report.chain_rules import additive, forget_gate, orthogonal, vanilla
from seqgrad.report.later_paper_rules import cornn, rg_lru_check, rg_lru_constant_gate
from seqgrad.report.path_rules import attention, dilated, multiscale, skip
from seqgrad.report.readings import ticks
from seqgrad.report.snippet_rules import snippet_locality, snippet_ratio
from seqgrad.report.verdicts import Claim, evaluate_claim


def _with_vanilla(key):
    return lambda config: tuple(config.claims[key]) + (config.claims.vanilla,)


def _vanilla_names(config):
    extra = config.claims.get("vanilla_counterexample", "")
    return (config.claims.vanilla,) + ((extra,) if extra and extra in config.entries else ())


CLAIMS = (
    Claim("Vanilla RNN: each backward step multiplies by W_hhᵀ·diag(φ'(z_t)), so gradients vanish exponentially",
          lambda c: (f"envelope rate of ‖∂h_(T-1)/∂h_t‖ for the tanh RNN `{c.claims.vanilla}` against −1/τ "
                     f"(τ = {c.regime.timescale:g} steps), scope: |φ'| ≤ 1; a ReLU RNN with identity weights reported "
                     "beside it as outside that scope"),
          "a rate ≥ −1/{c.regime.timescale:g} per step beyond its spread (no exponential vanishing)",
          _vanilla_names, vanilla),
    Claim("Even with orthogonal weights, the activation derivative causes shrinkage",
          lambda c: f"orthogonal tanh `{c.claims.orthogonal_tanh}` vs orthogonal linear `{c.claims.orthogonal_linear}`",
          "the orthogonal tanh RNN's rate ≥ −1/{c.regime.timescale:g} per step (no shrinkage)",
          lambda c: (c.claims.orthogonal_tanh, c.claims.orthogonal_linear), orthogonal),
    Claim("∂c_t/∂c_(t-1) = f_t: when the forget gate is open (f ≈ 1) gradients flow through the cell undiminished",
          lambda c: ("cell-state Jacobians ∂c_(T-1)/∂c_t as the forget bias grows, against the closed form ln σ(b_f) "
                     "per step; the condition f ≈ 1 is the last entry: " + ticks(c.claims.forget_gate)),
          "the open-gate cell's rate < −1/{c.regime.timescale:g} per step beyond its spread, or a rate that does "
          "not rise with the forget bias", lambda c: tuple(c.claims.forget_gate), forget_gate),
    Claim("Additive paths (LSTM/GRU cell, h_t = h_(t-1) + Δh_t) keep gradients from vanishing, unlike the vanilla RNN",
          lambda c: ("under the claim's condition (gates open, additive update small): rate of each entry vs −1/τ and "
                     f"the vanilla RNN's, against the closed forms ln σ(b_f), ln(1 − σ(b_z)): "
                     f"{ticks(c.claims.additive)} vs `{c.claims.vanilla}`"),
          "every additive entry vanishing (rate < −1/{c.regime.timescale:g}) or decaying as fast as the vanilla RNN",
          _with_vanilla("additive"), additive),
    Claim("Additive paths at default initialisation (a finding, not the page's condition): the same test on the "
          "default gates and residual scale",
          lambda c: f"rate of {ticks(c.claims.additive_default)} vs −1/τ and vs `{c.claims.vanilla}`",
          "every entry vanishing or decaying as fast as the vanilla RNN",
          _with_vanilla("additive_default"), additive),
    Claim("Skip connections h_t = f(h_(t-1), x_t) + h_(t-k) give gradient paths of length O(T/k)",
          lambda c: (f"after the burn-in, decay on the lattice d = k, 2k, … (and off it) vs rate_rnn/k: "
                     f"{ticks(c.claims.skip)} vs `{c.claims.vanilla}`"),
          "a decay rate on d = k, 2k, … below rate_rnn/k by more than {c.claims.prediction_tolerance:g}·|rate_rnn/k|", _with_vanilla("skip"), skip),
    Claim("Hierarchical/multi-scale RNNs: gradients in slow modules travel shorter distances",
          lambda c: "per-module diagonal blocks ∂h_(T-1)[g]/∂h_t[g]: " + ticks(c.claims.multiscale),
          "a slower module whose decay rate is ≤ a faster module's",
          lambda c: tuple(c.claims.multiscale), multiscale),
    Claim("Dilated causal convolutions give O(log T) gradient paths",
          lambda c: ("a stack of depth ⌈log₂ T⌉ (R ≥ T): per-level factor min_d (‖J(d)‖/‖J(1)‖)^(1/ℓ(d)), "
                     "ℓ(d) = ⌊log2 d⌋ + 1, and a power-law fit of ‖J(d)‖ beside the exponential one: "
                     + ticks(c.claims.dilated)),
          "‖J(d)‖ < {c.regime.preserved:g}^ℓ(d)·‖J(1)‖ for some 1 ≤ d < min(R, T), ℓ(d) = ⌊log2 d⌋ + 1 (a loss "
          "compounding per step, not per dilation level), or a non-zero Jacobian beyond R",
          lambda c: tuple(c.claims.dilated), dilated),
    Claim("Attention and Transformers connect every position directly: O(1) paths, no multiplicative chain through time",
          lambda c: ("plateau rate of ‖∂h_(T-1)/∂h_t‖ beyond the recurrent path's horizon and half the window (path "
                     "length), the 1/context size of the plateau reported as magnitude: " + ticks(c.claims.attention)
                     + f", recurrent path `{c.claims.vanilla}`"),
          "a plateau rate at or below the vanilla RNN's rate (a chain); between it and −1/{c.regime.timescale:g}: "
          "qualified (a slow decay)",
          _with_vanilla("attention"), attention),
    Claim("coRNN: hidden-state gradients stay bounded (Rusch & Mishra 2021)",
          lambda c: ("a check, not the page's claim: ‖∂y_(T-1)/∂y_(T-1-d)‖_∞ against the proven ρ^d, ρ = max(q, 1 + Δt·q) "
                     "from each seed's weights, and the regime: " + ticks(c.claims.cornn)),
          "‖J(d)‖_∞ > ρ^d·exp({c.claims.bound_tolerance:g}) at some d ≥ 1, seed and input",
          lambda c: tuple(c.claims.cornn), cornn, on_page=False),
    Claim("RG-LRU: ∂h_T/∂h_t = diag(∏ a_s) with 0 < a < 1, and the √(1 − a_t²) normalisation keeps the state's "
          "variance at its input's, whatever the memory (De et al. 2024); tested at a constant gate a, where both "
          "are closed forms",
          lambda c: ("with r_t = 1 (a = σ(Λ)^c per unit, constant in time) and white-noise x: Var(h_t) against its closed "
                     "form (1 − a^(2(t+1)))·Var(i_t ⊙ u_t) with each unit's a, summed over the second half of the "
                     "sequences (ratio 1), and the fitted rate of ‖∂h_(T-1)/∂h_(T-1-d)‖₂ = (max_c a_c)^d against "
                     "ln max_c a_c = ln ‖J(1)‖: " + ticks(c.claims.rg_lru_constant_gate)),
          "a variance ratio outside [{c.claims.variance_ratio_low:g}, {c.claims.variance_ratio_high:g}] or a rate off "
          "ln max_c a_c by more than {c.claims.prediction_tolerance:g}·|ln max_c a_c|, beyond the spread over "
          "initialisations and inputs; or ‖J(1)‖ ≥ 1, σ_max(J(d)) > 1 + {c.claims.expansion_tolerance:g}",
          lambda c: tuple(c.claims.rg_lru_constant_gate), rg_lru_constant_gate, on_page=False),
    Claim("RG-LRU at its default, input-dependent gate (a check: a_t and i_t ⊙ u_t are correlated, so the closed "
          "forms are approximations)",
          lambda c: ("a check, not a verdict on the claim: Var(h_t) against (1 − ∏_{s≤t} a_s²)·Var(i_t ⊙ u_t) over the "
                     "second half of the white-noise inputs, and max_d σ_max(∂h_(T-1)/∂h_(T-1-d)): "
                     f"`{c.claims.rg_lru[0]}` vs `{c.claims.rg_lru[1]}` (no √(1 − a²))"),
          "a normalised ratio outside [{c.claims.variance_ratio_low:g}, {c.claims.variance_ratio_high:g}], or "
          "σ_max(J(d)) > 1 + {c.claims.expansion_tolerance:g}",
          lambda c: tuple(c.claims.rg_lru), rg_lru_check, on_page=False),
    Claim("The snippet: LSTM weight gradients exceed the vanilla RNN's, increasingly so as T grows",
          lambda c: ("‖∂L/∂W_hh‖, L = ‖h_(T'-1) − y‖², and the ratio LSTM/RNN at T' = 10, 50, 100, 200 up to the "
                     "condition's T, and T (median over seeds, from the zero state as the snippet runs it)"),
          "an LSTM/RNN gradient ratio ≤ 1 at the largest length", lambda c: tuple(c.claims.snippet), snippet_ratio),
    Claim("The snippet's ‖∂L/∂W_hh‖ vs T measures how gradients flow over long distances",
          lambda c: "share of ‖∂L/∂W‖'s contributions G(d) from the last steps (decomposition by distance d at T)",
          "every model with ≥ {c.claims.dominance:g} of Σ‖G(d)‖ from the last steps", lambda c: tuple(c.claims.snippet), snippet_locality),
)


def evaluate(report, config) -> list:
    """One `ClaimRow` per claim, every condition of ``report.grid`` evaluated."""
    return [evaluate_claim(c, report.architectures, config, report.grid, report.default_condition) for c in CLAIMS]
