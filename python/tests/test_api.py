"""The NumPy-level API: compile, list nodes, forward, backward, status, explain;
and bad input from Python: a Python exception with `ddnc`'s message, never a crash."""

from __future__ import annotations

import json
import pathlib
import subprocess

import numpy as np
import pytest

import ddn
from conftest import ROOT, STDLIB, ddnc, seeded_inputs

LS = """node least_squares(A: real[m, n], b: real[m]) -> x: real[n] {
    minimize sum_squares(A @ x - b)
}
"""


def test_compile_source_and_path_list_nodes_params_outputs():
    m = ddn.compile(LS)
    assert m.nodes == ["least_squares"]
    node = m.node()
    assert node.params == [("A", "real[m, n]", 2), ("b", "real[m]", 1)]
    assert node.outputs == [("x", "var", "real[n]")]
    assert node.family == "QP" and node.convex
    qp = ddn.compile(STDLIB / "optnet_qp.ddn").node("optnet_qp")
    assert qp.params[0] == ("Q", "psd[n, n]", 2)
    assert qp.output_shapes({"Q": (4, 4), "p": (4,), "G": (5, 4), "h": (5,), "A": (1, 4), "b": (1,)}) == [(4,)]
    simplex = ddn.compile(str(STDLIB / "simplex_projection.ddn"))
    assert simplex.nodes == ["project_simplex", "project_simplex_dual"]
    assert simplex.node("project_simplex_dual").outputs == [("x", "var", "real[n]"), ("total", "dual", "real")]


def test_forward_backward_least_squares_closed_form():
    """x = (AᵀA)⁻¹Aᵀb, and for L = ⟨v, x⟩: dL/db = A (AᵀA)⁻¹ v,
    dL/dA = r wᵀ − A w xᵀ... checked against the closed form's own derivative
    by the normal equations: dL/db = A w with w = (AᵀA)⁻¹ v."""
    rng = np.random.default_rng(3)
    A, b, v = rng.normal(size=(6, 3)), rng.normal(size=6), rng.normal(size=3)
    node = ddn.compile(LS).node()
    sol = node.forward(A=A, b=b)
    assert sol.status.shape == () and sol.ok and sol.status_names == ["optimal"]
    x = np.linalg.solve(A.T @ A, A.T @ b)
    np.testing.assert_allclose(sol.outputs["x"], x, rtol=1e-12, atol=1e-12)
    g = sol.backward(x=v)
    w = np.linalg.solve(A.T @ A, v)
    r = b - A @ x
    np.testing.assert_allclose(g["b"], A @ w, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(g["A"], np.outer(r, w) - np.outer(A @ w, x), rtol=1e-10, atol=1e-12)
    assert sol.info()["solver"] == "qr"
    only_b = sol.backward({"x": v}, wanted=["b"])
    assert set(only_b) == {"b"}
    np.testing.assert_array_equal(only_b["b"], g["b"])


def test_outputs_match_ddnc_run():
    """The same numbers as `ddnc run` (its JSON output) on the repository's example inputs."""
    exe = ddnc()
    if exe is None:
        pytest.skip("no ddnc binary (scripts/test sets DDNC)")
    inputs = ROOT / "examples/inputs/least_squares.json"
    cot = ROOT / "examples/inputs/least_squares_cotangents.json"
    out = subprocess.run(
        [exe, "run", "stdlib/least_squares.ddn", "least_squares", "--inputs", str(inputs), "--cotangents", str(cot)],
        cwd=ROOT, capture_output=True, text=True, check=True,
    )
    expect = json.loads(out.stdout)
    node = ddn.compile(STDLIB / "least_squares.ddn").node("least_squares")
    sol = node.forward(json.loads(inputs.read_text()))
    assert sol.status_names == [expect["status"]]
    np.testing.assert_array_equal(sol.outputs["x"], np.array(expect["outputs"]["x"]))
    grads = sol.backward(json.loads(cot.read_text()))
    for k, v in expect["gradients"].items():
        np.testing.assert_array_equal(grads[k], np.array(v))


def test_explain_and_check_match_ddnc():
    exe = ddnc()
    if exe is None:
        pytest.skip("no ddnc binary (scripts/test sets DDNC)")
    path = "stdlib/robust_pooling.ddn"
    m = ddn.compile(ROOT / path)
    out = subprocess.run([exe, "explain", path, "--node", "pool_welsch"], cwd=ROOT, capture_output=True, text=True, check=True)
    assert m.node("pool_welsch").explain() == out.stdout
    out = subprocess.run([exe, "check", path], cwd=ROOT, capture_output=True, text=True, check=True)
    assert m.check() == out.stdout
    lasso = ddn.compile(STDLIB / "more.ddn").node("lasso")
    text = lasso.explain(seeded_inputs("lasso"))
    assert "lasso" in text and text != lasso.explain()


def test_backends_agree_bit_for_bit():
    inputs = seeded_inputs("pool_pseudo_huber")
    cot = {"y": np.array([0.3, -0.7])}
    results = []
    for backend in ("jit", "interpreter", "evaluator"):
        node = ddn.compile(STDLIB / "robust_pooling.ddn", backend=backend).node("pool_pseudo_huber")
        sol = node.forward(inputs)
        results.append((sol.outputs["y"], sol.backward(cot)["x"]))
    for y, gx in results[1:]:
        np.testing.assert_array_equal(y, results[0][0])
        np.testing.assert_array_equal(gx, results[0][1])


# --- bad input: a Python exception with ddnc's message -------------------------


def ddnc_errors(*args: str, stdin_json=None, tmp: pathlib.Path | None = None) -> str:
    """What `ddnc` prints on stderr for a failing command."""
    exe = ddnc()
    if exe is None:
        pytest.skip("no ddnc binary (scripts/test sets DDNC)")
    out = subprocess.run([exe, "--color", "never", *args], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode != 0, out
    return out.stderr


def ddnc_run_errors(tmp_path, path: str, node: str, inputs: dict) -> str:
    """The message of `ddnc run`'s one `error: ...` line."""
    f = tmp_path / "in.json"
    f.write_text(json.dumps({k: np.asarray(v).tolist() for k, v in inputs.items()}))
    err = ddnc_errors("run", path, node, "--inputs", str(f))
    lines = [line.removeprefix("error: ") for line in err.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, err
    return lines[0]


def test_wrong_shape_names_both_shapes_as_ddnc_does(tmp_path):
    node = ddn.compile("stdlib/least_squares.ddn").node("least_squares")
    bad = {"A": np.ones((4, 2)), "b": np.ones(3)}
    with pytest.raises(ddn.DdnError) as e:
        node.forward(bad)
    assert str(e.value) == ddnc_run_errors(tmp_path, "stdlib/least_squares.ddn", "least_squares", bad)
    assert "is 4" in str(e.value) and "has 3" in str(e.value)
    rank = {"A": np.ones(4), "b": np.ones(4)}
    with pytest.raises(ddn.DdnError) as e:
        node.forward(rank)
    assert str(e.value) == ddnc_run_errors(tmp_path, "stdlib/least_squares.ddn", "least_squares", rank)
    assert "real[m, n]" in str(e.value) and "a vector of length 4" in str(e.value)


def test_unknown_and_missing_inputs_as_ddnc(tmp_path):
    node = ddn.compile("stdlib/least_squares.ddn").node("least_squares")
    bad = {"A": np.ones((4, 2)), "c": np.ones(4)}
    with pytest.raises(ddn.DdnError) as e:
        node.forward(bad)
    assert str(e.value) == ddnc_run_errors(tmp_path, "stdlib/least_squares.ddn", "least_squares", bad)


def test_nan_input_is_an_error_naming_the_entry():
    node = ddn.compile(STDLIB / "least_squares.ddn").node("least_squares")
    A = np.ones((4, 2))
    A[2, 1] = np.nan
    with pytest.raises(ddn.DdnError, match=r"input `A` has a non-finite entry \(NaN\) at flat index 5"):
        node.forward(A=A, b=np.ones(4))
    with pytest.raises(ddn.DdnError, match=r"instance 1: input `b` has a non-finite entry \(inf\) at flat index 0"):
        node.forward(A=np.ones((4, 2)), b=np.array([np.ones(4), [np.inf, 0, 0, 0]]))


def test_domain_errors():
    qp = ddn.compile(STDLIB / "optnet_qp.ddn").node("optnet_qp")
    inputs = seeded_inputs("optnet_qp")
    inputs["Q"] = -inputs["Q"]
    with pytest.raises(ddn.DdnError, match="must be positive semidefinite"):
        qp.forward(inputs)


def test_unknown_node_as_ddnc(tmp_path):
    m = ddn.compile("stdlib/least_squares.ddn")
    with pytest.raises(ddn.DdnError) as e:
        m.node("least_square")
    (tmp_path / "in.json").write_text("{}")
    err = ddnc_errors("run", "stdlib/least_squares.ddn", "least_square", "--inputs", str(tmp_path / "in.json"))
    assert err == f"error: {e.value}\n"


def test_syntax_error_with_line_and_column_as_ddnc(tmp_path):
    path = tmp_path / "broken.ddn"
    path.write_text("node f(a: real) -> x: real {\n    minimize (x - a)^2 +\n}\n")
    with pytest.raises(ddn.DdnError) as e:
        ddn.compile(path)
    err = ddnc_errors("check", str(path))
    assert str(e.value) == err
    assert f"{path}:3:1" in str(e.value) or f"{path}:2:" in str(e.value), str(e.value)


def test_type_errors_never_crash():
    node = ddn.compile(LS).node()
    with pytest.raises((ValueError, TypeError)):
        node.forward(A="not a number", b=np.ones(3))
    with pytest.raises(ddn.DdnError, match="rank > 2"):
        node.forward(A=np.ones((2, 2, 2, 2)), b=np.ones(2))
    with pytest.raises(ddn.DdnError, match="disagree on the batch size"):
        node.forward(A=np.ones((3, 4, 2)), b=np.ones((2, 4)))
    sol = node.forward(A=np.eye(3, 2), b=np.ones(3))
    with pytest.raises(ddn.DdnError, match="unknown output `y`"):
        sol.backward(y=np.ones(2))
    with pytest.raises(ddn.DdnError, match=r"cotangent `x` must have shape \[2\]"):
        sol.backward(x=np.ones(3))
    with pytest.raises(ValueError, match="unknown backend"):
        ddn.compile(LS, backend="gpu")
