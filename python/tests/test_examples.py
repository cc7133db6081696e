"""The Python examples run (in --quick mode) and their loss falls."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from conftest import ROOT


@pytest.mark.parametrize("script", ["optnet_learn_cost.py", "bilevel_ot.py"])
def test_example_loss_falls(script):
    out = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "python" / script), "--quick"],
        capture_output=True, text=True, timeout=600,
    )
    assert out.returncode == 0, out.stderr
    losses = [float(v) for v in re.findall(r"^step +\d+ +loss ([0-9.e+-]+)", out.stdout, flags=re.M)]
    assert len(losses) >= 5, out.stdout
    assert losses[-1] < 0.5 * losses[0], out.stdout
