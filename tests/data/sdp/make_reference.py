"""Reference optima for ddn's semidefinite atoms, computed by CVXPY with Clarabel.

Writes reference.json beside this file: seeded instances (their data in full,
so the Rust test, tests/suite/psd_atoms.rs, needs no random generator of its
own), each with CVXPY's optimal value and solution. Every problem is a
minimisation with a unique solution (strongly convex, or a max-det problem).

    ~/.cache/ddn-peers/bin/python tests/data/sdp/make_reference.py
"""

import json
import pathlib

import cvxpy as cp
import numpy as np

TOL = dict(tol_gap_abs=1e-10, tol_gap_rel=1e-10, tol_feas=1e-10)


def solve(objective, constraints, variables):
    problem = cp.Problem(cp.Minimize(objective), constraints)
    problem.solve(solver=cp.CLARABEL, **TOL)
    assert problem.status == cp.OPTIMAL, problem.status
    return problem.value, {k: np.asarray(v.value).tolist() for k, v in variables.items()}


def symmetric(rng, n):
    g = rng.standard_normal((n, n))
    return (g + g.T) / 2


def nearest_correlation(rng, n):
    """min ‖X − A‖²_F s.t. diag X = 1, X ⪰ 0 (Higham's problem)."""
    a = symmetric(rng, n) + np.eye(n)
    x = cp.Variable((n, n), PSD=True)
    value, sol = solve(cp.sum_squares(x - a), [cp.diag(x) == 1], {"X": x})
    return {"A": a.tolist()}, value, sol


def nearest_correlation_log_det(rng, n):
    """min ‖X − A‖²_F − μ log det X s.t. diag X = 1."""
    a = symmetric(rng, n)
    mu = 0.3
    x = cp.Variable((n, n), symmetric=True)
    value, sol = solve(cp.sum_squares(x - a) - mu * cp.log_det(x), [cp.diag(x) == 1], {"X": x})
    return {"A": a.tolist(), "mu": mu}, value, sol


def max_det_ellipsoid(rng, n, m):
    """min −log det B s.t. ‖B aᵢ‖ + aᵢᵀd ≤ bᵢ: the largest ellipsoid
    {Bu + d : ‖u‖ ≤ 1} in a polytope (unit normals: the ± axes and m random ones)."""
    extra = rng.standard_normal((m, n))
    a = np.vstack([np.eye(n), -np.eye(n), extra / np.linalg.norm(extra, axis=1, keepdims=True)])
    b = 1.0 + rng.random(a.shape[0])
    bm = cp.Variable((n, n), symmetric=True)
    d = cp.Variable(n)
    constraints = [cp.norm(bm @ a[i]) + a[i] @ d <= b[i] for i in range(a.shape[0])]
    value, sol = solve(-cp.log_det(bm), constraints, {"B": bm, "d": d})
    return {"A": a.tolist(), "b": b.tolist()}, value, sol


def nuclear_norm_completion(rng, m, n):
    """min ‖M ⊙ (X − A)‖²_F + λ‖X‖_* + 0.1‖X‖²_F (M a 0/1 mask of observed entries)."""
    a = rng.standard_normal((m, 2)) @ rng.standard_normal((2, n))
    mask = (rng.random((m, n)) < 0.7).astype(float)
    lam = 0.5
    x = cp.Variable((m, n))
    objective = cp.sum_squares(cp.multiply(mask, x - a)) + lam * cp.normNuc(x) + 0.1 * cp.sum_squares(x)
    value, sol = solve(objective, [], {"X": x})
    return {"A": a.tolist(), "M": mask.tolist(), "lam": lam}, value, sol


def matrix_frac_regression(rng, m, n):
    """min (Aw − b)ᵀ S⁻¹ (Aw − b) + λ‖w‖₁ (generalised least squares, lasso)."""
    a = rng.standard_normal((m, n))
    b = rng.standard_normal(m)
    g = rng.standard_normal((m, m))
    s = g @ g.T / m + 0.5 * np.eye(m)
    lam = 0.2
    w = cp.Variable(n)
    value, sol = solve(cp.matrix_frac(a @ w - b, s) + lam * cp.norm1(w), [], {"w": w})
    return {"A": a.tolist(), "b": b.tolist(), "S": s.tolist(), "lam": lam}, value, sol


def lambda_max_pencil(rng, n):
    """min λ_max(A₀ + x₁A₁ + x₂A₂) + 0.1‖x‖² (an eigenvalue optimisation)."""
    a = [symmetric(rng, n) for _ in range(3)]
    x = cp.Variable(2)
    objective = cp.lambda_max(a[0] + x[0] * a[1] + x[1] * a[2]) + 0.1 * cp.sum_squares(x)
    value, sol = solve(objective, [], {"x": x})
    return {"A0": a[0].tolist(), "A1": a[1].tolist(), "A2": a[2].tolist()}, value, sol


def main():
    rng = np.random.default_rng(16)
    cases = [
        ("nearest_correlation", lambda: nearest_correlation(rng, 5)),
        ("nearest_correlation_log_det", lambda: nearest_correlation_log_det(rng, 4)),
        ("max_det_ellipsoid", lambda: max_det_ellipsoid(rng, 3, 4)),
        ("nuclear_norm_completion", lambda: nuclear_norm_completion(rng, 4, 5)),
        ("matrix_frac_regression", lambda: matrix_frac_regression(rng, 6, 3)),
        ("lambda_max_pencil", lambda: lambda_max_pencil(rng, 4)),
    ]
    instances = []
    for name, make in cases:
        data, value, solution = make()
        instances.append({"name": name, "data": data, "optimum": value, "solution": solution})
    out = {
        "generator": "tests/data/sdp/make_reference.py",
        "cvxpy": cp.__version__,
        "solver": "CLARABEL",
        "tolerances": TOL,
        "instances": instances,
    }
    path = pathlib.Path(__file__).with_name("reference.json")
    path.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
