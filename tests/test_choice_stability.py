"""posekit.fitting.tune.choice_stability: the bootstrap share with which a validation choice is repeated."""
import numpy as np
import pytest

from posekit.fitting.tune import choice_stability


def test_a_candidate_better_on_every_unit_is_always_chosen():
    rng = np.random.default_rng(0)
    base = rng.normal(50, 20, size=30)
    st = choice_stability({"a": base + 1.0, "b": base, "c": base + 0.5})
    assert st == {"a": 0.0, "b": 1.0, "c": 0.0}


def test_shares_sum_to_one_and_match_a_closed_form():
    """b beats a by 1 on n − 1 units and loses by L on one unit. A resample that draws that unit k times
    picks a iff k·L > (n − k), i.e. k > n / (L + 1); so a's share is the binomial tail P(K ≥ k*) with
    K ~ Bin(n, 1/n)."""
    from scipy.stats import binom

    n, L = 10, 20.0
    a = np.zeros(n)
    b = -np.ones(n)
    b[0] = L
    st = choice_stability({"a": a, "b": b}, n_boot=20000, seed=1)
    assert st["a"] + st["b"] == pytest.approx(1.0)
    k_star = int(np.floor(n / (L + 1))) + 1            # smallest k with k·L > (n − k)
    expected = binom.sf(k_star - 1, n, 1.0 / n)
    assert st["a"] == pytest.approx(expected, abs=0.015)


def test_mismatched_units_are_refused():
    with pytest.raises(ValueError):
        choice_stability({"a": np.zeros(3), "b": np.zeros(4)})
