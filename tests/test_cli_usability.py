"""The command line as a new user meets it: no silent change of the experiment, forgiving names,
the input width read from the data, a warning before megabytes of output, and help that speaks to
users."""

import numpy as np
import pytest

from symmle import cli
from symmle.cli import main
from symmle.study import SEED_THETA


def _run(capsys, *argv):
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.fixture
def no_study(monkeypatch):
    """Replace the study by a recorder: the tests check what it would be run with."""
    calls = []

    class Done:
        def __str__(self):
            return "study table"

    def fake(model, theta, **kw):
        calls.append((model, np.array(theta)))
        return Done()
    monkeypatch.setattr(cli, "consistency_study", fake)
    return calls


@pytest.mark.parametrize("argv", [[], ["--arch", "2-3-1"], ["--arch", "2-3-1", "--seed", "7"]])
def test_study_with_the_seed_architecture_keeps_the_seed_truth(capsys, no_study, argv):
    rc, out, err = _run(capsys, "study", *argv)
    assert rc == 0
    (model, theta), = no_study
    np.testing.assert_array_equal(theta, SEED_THETA)
    assert "SEED_THETA" in out and "W2_1_3=1" in out  # the θ* used is printed
    assert "Warning" not in err


def test_study_draws_other_truths_from_the_documented_generator_and_prints_them(capsys, no_study):
    rc, out, err = _run(capsys, "study", "--arch", "3-3-1", "--seed", "4")
    assert rc == 0
    (model, theta), = no_study
    np.testing.assert_array_equal(theta, model.random_params(4, scale=cli.TRUTH_SCALE))
    assert "random_params(seed=4, scale=2)" in out
    assert f"W1_1_1={theta[0]:.4g}" in out
    assert "checked: information condition number" in out and err == ""


@pytest.mark.parametrize("seed, what", [(2, "nearly reducible: unit 'h1_4' has zero outgoing weights"),
                                        (0, "information condition number 3")])
def test_study_warns_when_the_drawn_truth_is_nearly_non_identifiable(capsys, no_study, seed, what):
    rc, out, err = _run(capsys, "study", "--arch", "2-4-1", "--seed", str(seed))
    assert rc == 0
    assert err.startswith("symmle: warning: the drawn truth θ* is close to")
    assert what in err and "--seed" in err and "\n" not in err.strip()


def test_study_prints_a_column_legend(capsys):
    rc, out, err = _run(capsys, "study", "--sizes", "60", "--reps", "1", "--starts", "1",
                        "--jobs", "1", "--no-progress")
    assert rc == 0
    table, legend = out.split("columns (medians over the replications at each n):")
    for column in ("raw ‖θ̂−θ*‖", "aligned", "function", "coverage", "efficiency",
                   "robust eff.", "KS max", "below θ*"):
        assert column in table and column in legend


@pytest.mark.parametrize("name, family", [("Gaussian", "Gaussian"), ("NORMAL", "Gaussian"),
                                          ("logistic", "Bernoulli"), ("Poisson", "Poisson")])
def test_family_names_ignore_case_and_know_aliases(capsys, name, family):
    rc, out, err = _run(capsys, "derive", "--family", name, "--arch", "2-1")
    assert rc == 0 and f"{family}(" in out


def test_multinomial_is_categorical(capsys):
    rc, out, err = _run(capsys, "derive", "--family", "multinomial", "--arch", "2-3")
    assert rc == 0 and "Categorical(" in out


def test_an_unknown_family_is_one_error_line(capsys):
    rc, out, err = _run(capsys, "derive", "--family", "gamma")
    assert rc == 2 and err.startswith("symmle: error:") and "gaussian" in err


@pytest.fixture
def csv_file(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 3))
    y = X @ [1.0, -0.5, 0.2] + 0.1 * rng.standard_normal(40)
    path = tmp_path / "data.csv"
    lines = ["age; bmi ; bp ;y"] + [";".join(f"{v:.6f}" for v in (*x, t)) for x, t in zip(X, y)]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_fit_infers_the_input_width_and_reads_the_delimiter(capsys, csv_file):
    rc, out, err = _run(capsys, "fit", "--data", str(csv_file), "--delimiter", ";", "--arch", "2-1",
                        "--starts", "1", "--max-iter", "200", "--tol", "1e-8")
    assert rc == 0, err
    assert "architecture 3-2-1: 3 inputs (age, bmi, bp), 40 rows, 12 parameters" in out  # with log_sigma
    assert "Maximum-likelihood fit: mlp(3, 2, 1" in out


def test_fit_accepts_the_full_widths_and_stripped_names(capsys, csv_file):
    rc, out, err = _run(capsys, "fit", "--data", str(csv_file), "--delimiter", ";", "--arch", "2-1",
                        "--features", " bp, age ", "--target", " y", "--starts", "1")
    assert rc == 0, err
    assert "architecture 2-1: 2 inputs (bp, age)" in out and "mlp(2, 1)" in out


def test_fit_single_width_is_a_glm(capsys, csv_file):
    rc, out, err = _run(capsys, "fit", "--data", str(csv_file), "--delimiter", ";", "--arch", "1",
                        "--starts", "1")
    assert rc == 0 and "architecture 3-1" in out


def test_fit_bad_arch_names_both_forms(capsys, csv_file):
    rc, out, err = _run(capsys, "fit", "--data", str(csv_file), "--delimiter", ";", "--arch", "x-1")
    assert rc == 2 and "3-1" in err and "3-3-1" in err


def test_fit_max_iter_reaches_the_optimiser(capsys, csv_file, monkeypatch):
    seen = {}
    real = cli.fit

    def spy(*a, **k):
        seen.update(k)
        return real(*a, **k)
    monkeypatch.setattr(cli, "fit", spy)
    _run(capsys, "fit", "--data", str(csv_file), "--delimiter", ";", "--starts", "1",
         "--max-iter", "7", "--tol", "0.001")
    assert seen["max_iter"] == 7 and seen["tol"] == 0.001


def test_derive_entry(capsys):
    rc, out, err = _run(capsys, "derive", "--sigma", "1", "--what", "fisher", "--entry", "W2_1_1,13")
    assert rc == 0 and out.strip() == "fisher[W2_1_1, b2_1] = tanh(W1_1_1*x1 + W1_1_2*x2 + b1_1)"
    rc, out, err = _run(capsys, "derive", "--sigma", "1", "--what", "score", "--entry", "13", "--latex")
    assert rc == 0 and out.strip().startswith("- W^{(2)}_{1 1}") and out.strip().endswith("+ y")
    rc, out, err = _run(capsys, "derive", "--what", "fisher", "--entry", "1")
    assert rc == 2 and "two indices" in err
    rc, out, err = _run(capsys, "derive", "--what", "score", "--entry", "w_nope")
    assert rc == 2 and "neither a parameter name" in err


def test_derive_warns_before_a_large_output(capsys, monkeypatch):
    monkeypatch.setattr(cli, "DERIVE_WARN_BYTES", 1000)
    rc, out, err = _run(capsys, "derive", "--what", "fisher")
    assert rc == 0 and len(out) > 1000
    assert err.startswith("symmle: warning:") and "--entry I,J" in err
    rc, out, err = _run(capsys, "derive", "--what", "loglik")
    assert rc == 0 and err == ""


def test_help_speaks_to_users(capsys):
    texts = []
    for command in ([], ["derive"], ["symmetry"], ["identify"], ["fit"], ["study"], ["mermaid"]):
        rc, out, err = _run(capsys, *command, "--help")
        assert rc == 0
        texts.append(out)
    text = " ".join(" ".join(texts).lower().split())
    for word in ("seed's", "mission", "issue", "experiment"):
        assert word not in text
    assert "normal, logistic, multinomial" in text


def test_mermaid_command_can_drop_labels(capsys):
    rc, out, err = _run(capsys, "mermaid", "--arch", "5-8-1")
    assert rc == 0 and "-->|" not in out and out.count("-->") == 48
    rc, out, err = _run(capsys, "mermaid", "--arch", "5-8-1", "--labels")
    assert rc == 0 and out.count("-->|") == 48
