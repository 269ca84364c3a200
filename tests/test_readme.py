"""The README's example runs as written and shows what its comments claim."""

import re
from pathlib import Path

import numpy as np

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_starts_with_the_two_setup_commands():
    text = README.read_text(encoding="utf-8")
    first_block = re.match(r"```bash\n(.*?)\n```", text, re.S)
    assert first_block, "README must start with a bash block"
    lines = first_block.group(1).splitlines()
    assert len(lines) == 2
    assert lines[0].endswith("symmle study") and "pip install" in lines[0]
    assert lines[1].endswith("python -m pytest -q") and '".[test]"' in lines[1]


def test_readme_example_runs_and_its_comments_hold(capsys):
    text = README.read_text(encoding="utf-8")
    code = re.search(r"```python\n(.*?)\n```", text, re.S).group(1)
    namespace: dict = {}
    exec(compile(code, str(README), "exec"), namespace)  # our own README, not user input
    out = capsys.readouterr().out
    assert "Maximum-likelihood fit" in out and r"\tanh" in out
    res, theta, arch = namespace["res"], namespace["theta"], namespace["arch"]
    assert namespace["G"].order == 48
    assert np.linalg.norm(res.params - theta) > 2.0
    import symmle as sm

    assert sm.orbit_distance(arch, res.params, theta) < 0.35
