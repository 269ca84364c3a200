"""The command line never prints a traceback: hostile files and options end in one
``symmle: error: ...`` line and exit status 2, checked *before* any long work starts; and a file
that is not a checkpoint is never modified."""

import pytest

from symmle.cli import main
from symmle.data import load_csv


def _run(capsys, *argv):
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.fixture
def files(tmp_path):
    ok = tmp_path / "ok.csv"
    ok.write_text("bmi,bp,y\n1,2,3\n2,3,4\n3,1,2\n4,4,4\n5,2,1\n")
    latin = tmp_path / "latin.csv"
    latin.write_bytes("bmi,bp,y\n1,2,3\nÆ,1,2\n".encode("latin-1"))
    binary = tmp_path / "binary.csv"
    binary.write_bytes(b"\x00\x01\x02binary\n\xff\xfe\n")
    long_line = tmp_path / "long.csv"
    long_line.write_bytes(b"a," * (2 ** 20) + b"y\n")
    folder = tmp_path / "folder"
    folder.mkdir()
    return {"ok": ok, "latin": latin, "binary": binary, "long": long_line, "folder": folder,
            "tmp": tmp_path}


@pytest.mark.parametrize("argv, match", [
    (["fit", "--data", "{latin}", "--arch", "2-1"], "line 3: not UTF-8 text"),
    (["fit", "--data", "{binary}", "--arch", "2-1"], "NUL byte; this is a binary file"),
    (["fit", "--data", "/dev/zero", "--arch", "2-1"], "not a regular file"),
    (["fit", "--data", "{folder}", "--arch", "2-1"], "not a regular file"),
    (["fit", "--data", "{long}", "--arch", "2-1"], "longer than"),
    (["fit", "--data", "{ok}", "--arch", "2-1", "--starts", "99999999999999999999"],
     "--starts: expected a positive integer at most"),
    (["fit", "--data", "{ok}", "--arch", "2-1", "--features", "bmi,bmi"], "more than once"),
    (["study", "--scheduler", ":::bad", "--sizes", "100", "--reps", "1"],
     "Dask scheduler address"),
    (["study", "--checkpoint", "{binary}", "--sizes", "100", "--reps", "1"],
     "not a symmle study header"),
    (["study", "--checkpoint", "{folder}", "--sizes", "100", "--reps", "1"],
     "not a regular file"),
    (["study", "--plot", "{tmp}/out.xyz", "--sizes", "100", "--reps", "1"],
     "not an image format"),
    (["study", "--plot", "{folder}", "--sizes", "100", "--reps", "1"], "is a directory"),
    (["study", "--plot", "{tmp}/nowhere/out.png", "--sizes", "100", "--reps", "1"],
     "does not exist"),
    (["study", "--reps", "1" + "0" * 30], "--reps: expected a positive integer"),
    (["study", "--sizes", "100,1" + "0" * 20], "--sizes"),
])
def test_hostile_input_ends_in_one_error_line(capsys, files, monkeypatch, argv, match):
    from symmle.study import _execution

    def no_task(*a, **k):
        raise AssertionError("a task ran before the input was checked")
    monkeypatch.setattr(_execution, "_run_task", no_task)
    argv = [a.format(**files) for a in argv]
    before = files["binary"].read_bytes()
    rc, out, err = _run(capsys, *argv)
    assert rc == 2
    assert "Traceback" not in err and err.startswith("symmle: error:")
    assert match in err
    assert files["binary"].read_bytes() == before  # never truncated or overwritten


def test_feature_names_are_stripped_and_checked(files):
    X, y, names = load_csv(files["ok"], features=[" bmi", "bp "])
    assert names == ("bmi", "bp") and X.shape == (5, 2)
    X2, _, names2 = load_csv(files["ok"], features=["bp"])
    assert names2 == ("bp",) and (X2[:, 0] == X[:, 1]).all()
    with pytest.raises(ValueError, match="delimiter"):
        load_csv(files["ok"], delimiter="ab")


def test_a_well_formed_fit_still_runs(capsys, files):
    rc, out, err = _run(capsys, "fit", "--data", str(files["ok"]), "--arch", "2-1",
                        "--features", "bmi, bp", "--starts", "2")
    assert rc == 0 and "Maximum-likelihood fit" in out
