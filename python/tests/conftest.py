"""Shared helpers: paths, the stdlib's nodes with seeded valid inputs, and
tightened sources for finite differences."""

from __future__ import annotations

import os
import pathlib
import re
import shutil

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
STDLIB = ROOT / "stdlib"
CONTRACT = ROOT.parent / "shared" / "design" / "language.md"


def stdlib_files() -> list[pathlib.Path]:
    return sorted(p for p in STDLIB.glob("*.ddn") if p.name != "prelude.ddn")


def stdlib_nodes() -> list[tuple[pathlib.Path, str]]:
    """Every node of the stdlib, with its file (from the compiler, not a list)."""
    import ddn

    return [(path, name) for path in stdlib_files() for name in ddn.compile(path).nodes]


def ddnc() -> str | None:
    """The `ddnc` binary scripts/test built (the DDNC variable), else one on PATH."""
    return os.environ.get("DDNC") or shutil.which("ddnc")


def _positive(rng, n):
    w = 1.0 + 0.5 * rng.uniform(-1, 1, n)
    return w / w.sum()


def _planted_optnet(rng, n, k, q):
    """A feasible OptNet QP with a planted solution and strict complementarity:
    every other inequality active with a multiplier >= 0.5, the rest slack >= 0.5."""
    l = rng.uniform(-1, 1, (n, n))
    Q = l @ l.T + np.eye(n)
    G, A, z = rng.uniform(-1, 1, (k, n)), rng.uniform(-1, 1, (q, n)), rng.uniform(-1, 1, n)
    lam = np.array([0.5 + abs(rng.uniform(-1, 1)) if i % 2 == 0 else 0.0 for i in range(k)])
    slack = np.array([0.0 if i % 2 == 0 else 0.5 + abs(rng.uniform(-1, 1)) for i in range(k)])
    nu = rng.uniform(-1, 1, q)
    p = -(Q @ z) - G.T @ lam - A.T @ nu
    return {"Q": Q, "p": p, "G": G, "h": G @ z + slack, "A": A, "b": A @ z}


def _rotation(w):
    """Rodrigues: the rotation by ‖w‖ about w/‖w‖."""
    theta = np.linalg.norm(w)
    k = np.array([[0, -w[2], w[1]], [w[2], 0, -w[0]], [-w[1], w[0], 0]]) / theta
    return np.eye(3) + np.sin(theta) * k + (1 - np.cos(theta)) * k @ k


def _pnp_scene(rng, n, blur=0.2, offset=0.1):
    """A PnP scene (the Rust suite's seeded::pnp_scene): n points in the cube, a
    camera about 4 away, shuffled bearings, soft weights (every one positive),
    a start `offset` rad from the true pose."""
    R = _rotation(rng.uniform(-1, 1, 3))
    t = np.array([0.0, 0.0, 4.0]) + 0.3 * rng.uniform(-1, 1, 3)
    X = rng.uniform(-1, 1, (n, 3))
    perm = rng.permutation(n)
    c = X[perm] @ R.T + t
    f = c / np.linalg.norm(c, axis=1, keepdims=True)
    W = (1 - blur) * np.eye(n)[perm] / n + blur / n**2
    R0 = _rotation(offset * rng.uniform(-1, 1, 3)) @ R
    return {"W": W, "f": f, "X": X, "R0": R0, "t0": t + offset * rng.uniform(-1, 1, 3)}


def seeded_inputs(node: str, seed: int = 0) -> dict[str, np.ndarray]:
    """Small valid inputs for a stdlib node (the Rust suite's seeded.rs, in NumPy):
    symmetric matrices with separated eigenvalues, positive marginals of equal
    mass, a feasible OptNet QP with strict complementarity, a bounded LP."""
    rng = np.random.default_rng([seed, len(node)])
    u = lambda *shape: rng.uniform(-1, 1, shape)  # noqa: E731
    if node in ("max_eigvec", "eigh_full"):
        s = u(3, 3)
        return {"X": 0.1 * (s + s.T) + np.diag([0.0, 1.0, 2.0])}
    if node == "least_squares":
        return {"A": u(4, 2), "b": u(4)}
    if node == "lp_layer":
        n = 3
        G = np.vstack([u(4, n), np.eye(n), -np.eye(n)])
        h = np.concatenate([1.0 + np.abs(u(4)), 2.0 * np.ones(2 * n)])
        return {"c": u(n), "G": G, "h": h}
    if node == "ls_norm_ball":
        return {"A": u(3, 2), "b": np.array([2.0, 1.5, 0.3]), "r": np.array(0.7)}
    if node == "lasso":
        return {"A": u(4, 3), "b": u(4), "lam": np.array(0.3)}
    if node == "logistic_regression":
        return {"X": u(6, 3), "y": np.array([1.0, -1.0] * 3), "lam": np.array(0.1)}
    if node == "softmax_layer":
        return {"z": u(4)}
    if node == "pool_welsch_ball":
        return {"x": 1.0 + 0.3 * u(5, 2), "alpha": np.array(1.5)}
    if node == "etf_project":
        return {"H_bar": u(4, 2), "U_prox": np.eye(4, 2) + 0.1 * u(4, 2), "delta": np.array(0.5)}
    if node == "entropic_ot":
        return {"M": u(2, 3), "r": _positive(rng, 2), "c": _positive(rng, 3), "gamma": np.array(5.0)}
    if node == "optnet_qp":
        return _planted_optnet(rng, 4, 5, 1)
    if node == "pool_quadratic":
        return {"x": u(5, 2)}
    if node in ("pool_pseudo_huber", "pool_huber", "pool_welsch", "pool_truncated_quadratic"):
        return {"x": u(5, 2), "alpha": np.array(0.8)}
    if node in ("project_simplex", "project_simplex_dual"):
        return {"y": u(5)}
    if node == "weighted_pnp":
        return _pnp_scene(rng, 5)
    if node == "project_ellipsoid":
        # A positive definite P and y outside the ellipsoid: the constraint is active.
        s = u(3, 3)
        return {"y": 3.0 + u(3), "P": s @ s.T + 0.5 * np.eye(3), "x0": u(3)}
    raise KeyError(f"no seeded inputs for `{node}`: add them to conftest.seeded_inputs")


#: Forward tolerance for finite differences (the Rust suite's `tight()`), and
#: the step and agreement of its central-difference checks (backward.rs).
TIGHT = 1e-12
STEP = 1e-5
AGREE = 1e-5


def tightened(source: str, node: str, solver: str) -> str:
    """`source` with node `node` solved by `solver` at tolerance TIGHT: its
    `solve using` options replaced, or the clause added before the node's
    closing brace. Only for iterative solvers (ipm, newton, sqp, sinkhorn)."""
    start = source.index(f"node {node}(")
    # The node's body ends at the first line that is a lone `}` after its start.
    end = source.index("\n}", start) + 1
    body = source[start:end]
    if "solve using" in body:
        body = re.sub(r"solve using (\w+)\([^)]*\)", rf"solve using \1(tol = {TIGHT})", body)
        body = re.sub(r"solve using (\w+)\s*$", rf"solve using \1(tol = {TIGHT})", body, flags=re.M)
    else:
        body += f"    solve using {solver}(tol = {TIGHT})\n"
    return source[:start] + body + source[end:]


@pytest.fixture(autouse=True)
def _default_threads():
    import ddn

    before = ddn.get_num_threads()
    yield
    ddn.set_num_threads(before)


def pytest_collection_modifyitems(items):
    """JAX's tests last: JAX starts threads, and a process that forks after
    (the DataLoader and fork tests) should not inherit them."""
    items.sort(key=lambda item: "test_jax" in item.nodeid)
