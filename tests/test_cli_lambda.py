"""``symmle lambda``: the learning coefficient on the command line (issue 21 §5)."""

from __future__ import annotations

from fractions import Fraction

import pytest

from symmle.cli import main
from symmle.singular import rrr_learning_coefficient


def _run(capsys, *argv):
    code = main(["lambda", *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize("M, H, N, r, lam, m", [
    (5, 3, 5, 0, Fraction(13, 2), None), (5, 4, 5, 0, Fraction(8), None),
    (4, 3, 8, 0, Fraction(6), None), (6, 4, 6, 3, Fraction(15), 2), (6, 5, 6, 3, Fraction(16), None),
])
def test_reduced_rank_regression_values_are_printed_exactly(capsys, M, H, N, r, lam, m):
    code, out, _ = _run(capsys, "--arch", f"{M}-{H}-{N}", "--activation", "identity",
                        "--true-rank", str(r))
    assert code == 0
    want_lam, want_m = rrr_learning_coefficient(M, N, H, r)
    assert want_lam == lam and (m is None or want_m == m)
    assert f"λ = {lam} = {float(lam):.6g}, multiplicity m = {want_m}" in out
    assert f"d/2 = {(M * H + H * N) / 2:g}" in out   # bias-free: P = MH + HN


def test_the_seed_network_at_its_truth_is_regular(capsys):
    code, out, _ = _run(capsys)
    assert code == 0
    assert "λ = 13/2 = 6.5, multiplicity m = 1" in out and "case: regular" in out


def test_a_network_without_a_known_value_says_so(capsys):
    code, out, _ = _run(capsys, "--arch", "2-2-1", "--activation", "relu")
    assert code == 0 and "no exact value known" in out


@pytest.mark.parametrize("argv, fragment", [
    (["--arch", "5-3-5", "--true-rank", "0"], "--activation identity"),
    (["--arch", "5-3-3-5", "--activation", "identity", "--true-rank", "0"], "one hidden layer"),
    (["--arch", "5-3-5", "--activation", "identity", "--true-rank", "4"], "r"),
])
def test_bad_requests_are_clean_errors(capsys, argv, fragment):
    code, out, err = _run(capsys, *argv)
    assert code == 2 and out == "" and err.startswith("symmle: error:") and fragment in err
    assert "Traceback" not in err


@pytest.mark.parametrize("M, H, N, r", [(5, 3, 5, 0), (4, 3, 4, 2), (6, 4, 6, 3), (3, 2, 5, 2)])
def test_the_drawn_truth_has_the_asked_rank(M, H, N, r):
    import numpy as np

    import symmle as sm
    from symmle.singular._theory import rank_r_truth

    theta = rank_r_truth((M, H, N), r, np.random.default_rng(0))
    W1, W2 = theta[:H * M].reshape(H, M), theta[H * M:].reshape(N, H)
    assert np.linalg.matrix_rank(W2 @ W1) == r
    model = sm.Model(sm.mlp(M, H, N, activation="identity", bias=False), sm.Gaussian(sigma=1.0))
    assert sm.learning_coefficient_theory(model, theta) == rrr_learning_coefficient(M, N, H, r)
