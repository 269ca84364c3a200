"""``symmle lambda`` over every case `learning_coefficient_theory` knows (issue 21 §5): the
1-H-1 odd zero truth (``--true-zero``), a regular truth from a θ* file or a seed, reduced-rank
regression, and ``--estimate`` on each kind."""

from __future__ import annotations

import json
import re
from fractions import Fraction

import numpy as np
import pytest

import symmle as sm
from symmle.cli import main

pytestmark = pytest.mark.filterwarnings("ignore::symmle.errors.SymmleWarning")


def _run(capsys, *argv):
    code = main(["lambda", *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def _lambda_line(lam, m):
    return f"λ = {lam} = {float(lam):.6g}, multiplicity m = {m}"


#: (H + k² + k)/(4k + 2), k = ⌊√H⌋, m = 2 iff H = k², written out by hand for H = 1 … 5
ODD_VALUES = {1: (Fraction(1, 2), 2), 2: (Fraction(2, 3), 1), 3: (Fraction(5, 6), 1),
              4: (Fraction(1), 2), 5: (Fraction(11, 10), 1)}


@pytest.mark.parametrize("H", sorted(ODD_VALUES))
@pytest.mark.parametrize("activation", ["tanh", "erf"])
def test_true_zero_of_an_odd_1h1_network_prints_aoyagis_value(capsys, H, activation):
    code, out, err = _run(capsys, "--arch", f"1-{H}-1", "--activation", activation,
                          "--true-zero")
    assert code == 0 and err == ""
    lam, m = ODD_VALUES[H]
    assert _lambda_line(lam, m) in out
    assert "case: 1-H-1 odd, zero truth" in out and "Aoyagi" in out
    assert "without biases" in out and "θ* = 0" in out
    assert f"d/2 = {H:g}" in out                     # bias-free: P = 2H


def test_true_zero_of_a_linear_network_is_rank_zero_rrr(capsys):
    code, out, _ = _run(capsys, "--arch", "5-3-5", "--activation", "identity", "--true-zero")
    # case 1 of Aoyagi & Watanabe, M + H + N odd: (2·3·10 − 0 − 9 + 1)/8 = 13/2, m = 2
    assert code == 0 and _lambda_line(Fraction(13, 2), 2) in out and "rrr case 1 (odd)" in out


def test_true_zero_outside_the_known_cases_says_so(capsys):
    code, out, _ = _run(capsys, "--arch", "2-3-1", "--true-zero")   # two inputs
    assert code == 0 and "no exact value known" in out


def test_regular_truth_from_a_theta_file(capsys, tmp_path):
    """An irreducible truth of mlp(1, 2, 1) tanh with biases (distinct, nonzero units): regular,
    λ = P/2 = 7/2."""
    path = tmp_path / "theta.json"
    path.write_text(json.dumps([0.7, -1.3, 0.2, 0.4, 1.1, -0.8, 0.1]))
    code, out, _ = _run(capsys, "--arch", "1-2-1", "--theta", str(path))
    assert code == 0 and _lambda_line(Fraction(7, 2), 1) in out and "case: regular" in out
    assert f"read from {path}" in out


def test_reducible_truth_from_a_theta_file_has_no_value(capsys, tmp_path):
    path = tmp_path / "theta.json"          # two identical units: reducible
    path.write_text(json.dumps([0.5, 0.5, 0.1, 0.1, 0.3, 0.3, 0.0]))
    code, out, _ = _run(capsys, "--arch", "1-2-1", "--theta", str(path))
    assert code == 0 and "no exact value known" in out


def test_rank_one_linear_truth_from_json_text(capsys):
    """--no-bias and a θ* typed as JSON: W1 = [[0.1, 0.2], [0.3, 0.6]] has rank 1 exactly (in
    the decimals as typed), so λ is Aoyagi & Watanabe's (M, N, H, r) = (2, 2, 2, 1):
    (2·3·4 − 0 − 9 + 1)/8 = 2, m = 2."""
    code, out, _ = _run(capsys, "--arch", "2-2-2", "--activation", "identity", "--no-bias",
                        "--theta", "[0.1, 0.2, 0.3, 0.6, 1, 0, 0, 1]")
    assert code == 0 and _lambda_line(Fraction(2), 2) in out and "rrr case 1 (odd)" in out


def test_theta_from_a_fit_json(capsys, tmp_path):
    model = sm.Model(sm.mlp(1, 2, 1, activation="tanh"), sm.Gaussian(1.0))
    truth = np.array([0.7, -1.3, 0.2, 0.4, 1.1, -0.8, 0.1])
    X, y = model.simulate(truth, 400, rng=0)
    res = sm.fit(model, X, y, start=truth, n_starts=1, rng=0)
    path = tmp_path / "fit.json"
    res.to_json(path)
    code, out, _ = _run(capsys, "--arch", "1-2-1", "--theta", str(path))
    assert code == 0 and _lambda_line(Fraction(7, 2), 1) in out


def test_regular_truth_drawn_by_seed(capsys):
    """mlp(1, 2, 1) tanh at Model.random_params(seed): generic, so regular with λ = 7/2."""
    code, out, _ = _run(capsys, "--arch", "1-2-1", "--seed", "3")
    assert code == 0 and "random_params(seed=3" in out
    assert _lambda_line(Fraction(7, 2), 1) in out and "case: regular" in out


@pytest.mark.parametrize("argv, fragment", [
    (["--arch", "1-3-1", "--true-zero", "--bias"], "without biases"),
    (["--arch", "5-3-5", "--activation", "identity", "--true-rank", "0", "--bias"],
     "without biases"),
    (["--arch", "1-3-1", "--true-zero", "--true-rank", "0"], "not allowed with"),
    (["--arch", "1-3-1", "--true-zero", "--theta", "[0]"], "not allowed with"),
    (["--arch", "1-2-1", "--theta", "[1, 2]"], "length 7"),
    (["--arch", "1-2-1", "--theta", "[1, 2, 3, 4, 5, 6, \"7\"]"], "list of 7 numbers"),
    (["--arch", "1-2-1", "--theta", "{\"params\": [1, 2, 3, 4, 5, 6, 7, 8"], "not JSON"),
    (["--arch", "1-2-1", "--theta", "/nonexistent/theta.json"], "No such file"),
    (["--arch", "1-2-1", "--inputs", "cauchy"], "invalid choice"),
])
def test_bad_requests_are_one_line_errors(capsys, argv, fragment):
    code, out, err = _run(capsys, *argv)
    assert code == 2 and out == "" and err.startswith("symmle: error:") and fragment in err
    assert "Traceback" not in err and err.count("\n") == 1


def test_theta_of_another_model_is_refused(capsys, tmp_path):
    other = sm.Model(sm.mlp(1, 1, activation="identity"), sm.Gaussian(1.0))
    X, y = other.simulate(np.array([0.5, -1.0]), 100, rng=0)
    path = tmp_path / "fit.json"
    sm.fit(other, X, y, n_starts=1, rng=0).to_json(path)
    code, out, err = _run(capsys, "--arch", "1-2", "--activation", "identity", "--no-bias",
                          "--theta", str(path))
    assert code == 2 and "of another model" in err


def _estimate(out):
    m = re.search(r"λ̂ = ([-0-9.e+]+) ± ([0-9.e+-]+)", out)
    assert m, out
    return float(m.group(1)), float(m.group(2))


def test_estimate_on_a_regular_linear_truth(capsys):
    """mlp(1, 1) identity with a bias, σ known: the tempered posterior is exactly Gaussian, and
    the local estimate is d/2 = 1 shrunk by the localisation, nβ/(nβ + γ) per direction
    (E x² = 1, so the information is the identity)."""
    code, out, _ = _run(capsys, "--arch", "1-1", "--activation", "identity", "--estimate",
                        "--n", "2000", "--draws", "400", "--seed", "1")
    assert code == 0 and "normal inputs" in out and "R-hat" in out
    est, se = _estimate(out)
    nb = 2000 / np.log(2000)
    want = nb / (nb + 1.0)
    assert abs(est - want) < 4 * se + 0.05
    assert re.search(r"; [+-][0-9.]+% from λ", out)


def test_estimate_defaults_to_uniform_inputs_for_the_odd_case(capsys):
    code, out, _ = _run(capsys, "--arch", "1-1-1", "--true-zero", "--estimate", "--n", "300",
                        "--draws", "60", "--chains", "1")
    assert code == 0 and "uniform inputs" in out and "local, n = 300" in out
    est, _ = _estimate(out)
    assert 0 < est < 2                     # λ = 1/2; a coarse run, but positive and O(1)


def test_estimate_wbic_on_rrr(capsys):
    code, out, _ = _run(capsys, "--arch", "2-1-2", "--activation", "identity", "--true-rank",
                        "1", "--estimate", "--method", "wbic", "--n", "1000", "--draws", "150",
                        "--chains", "1", "--prior-scale", "3")
    # H = r = 1: regular on the rank-one matrices, λ = r(M + N − r)/2 = 3/2, m = 1
    assert code == 0 and _lambda_line(Fraction(3, 2), 1) in out and "wbic, n = 1000" in out
    est, se = _estimate(out)
    assert abs(est - 1.5) < 4 * se + 0.5
