"""The seed's experiments (examples/experiments/) run in --quick mode: each exits
0 (its own assertions: losses fall, methods agree), writes its figures as PNG
files and its numbers as JSON, and the recorded loss falls."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import ROOT

PNG = b"\x89PNG\r\n\x1a\n"


def falls(losses) -> bool:
    return losses[-1] < 0.5 * losses[0]


EXPERIMENTS = {
    "bilevel_ot.py": (
        ["bilevel_ot_time.png", "bilevel_ot_memory.png", "bilevel_ot_loss.png"],
        lambda r: all(falls(c) for c in r["curves"].values()) and {row["method"] for row in r["rows"]} >= {"unrolled", "implicit (seed)", "ddn"},
    ),
    "blind_pnp.py": (
        ["blind_pnp.png"],
        # The test-set pose loss falls for both models (the script asserts it
        # too), and the PnP node recovers the true poses from the true
        # correspondences.
        lambda r: all(c["eval"][-1]["loss"] < c["eval"][0]["loss"] for c in r["runs"].values())
        and r["references"]["PnP, true correspondences"]["rotation_deg"] < 1e-3,
    ),
    "eigen.py": (
        ["eigen_time.png", "eigen_gap.png", "eigen_learn.png"],
        lambda r: falls(r["learn"]),
    ),
    "robust_pooling.py": (
        ["robust_pooling_accuracy.png", "robust_pooling_loss.png"],
        # Without outliers, training falls with every convex penalty (the mean
        # of the last five steps' losses below 0.8 of the first five's).
        lambda r: len({v["penalty"] for v in r["results"].values()}) == 5
        and all(
            sum(v["losses"][-5:]) < 0.8 * sum(v["losses"][:5])
            for v in r["results"].values()
            if v["rho"] == 0.0 and v["penalty"] in ("quadratic", "pseudo_huber", "huber")
        ),
    ),
    "neural_collapse.py": (
        ["neural_collapse.png"],
        lambda r: all(falls(c["loss"]) for c in r["runs"].values()),
    ),
}


@pytest.mark.parametrize("script", sorted(EXPERIMENTS))
def test_experiment_quick(script, tmp_path):
    out = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "experiments" / script), "--quick", "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=900,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    figures, check = EXPERIMENTS[script]
    for name in figures:
        data = (tmp_path / name).read_bytes()
        assert data.startswith(PNG) and len(data) > 5000, name
    record = json.loads((tmp_path / script.replace(".py", ".json")).read_text())
    assert check(record), record
