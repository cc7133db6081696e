"""Forward mode from Python: `Solution.jvp`, torch's forward-mode AD through the
layer, and `ddn.jax.function(..., mode="forward")`.

Each is checked against something independent of the forward-mode code: the
adjoint identity <JVP(t), c> = <t, VJP(c)> with the backward pass, and central
differences of the forward solve."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.autograd.forward_ad as fwAD

import ddn
import ddn.torch
from conftest import AGREE, STDLIB, STEP, seeded_inputs
from test_gradients import tight_layer

CASES = [
    ("least_squares.ddn", "least_squares"),
    ("optnet_qp.ddn", "optnet_qp"),
    ("robust_pooling.ddn", "pool_pseudo_huber"),
]


def tangents_for(node: ddn.Node, inputs: dict, seed: int) -> dict:
    """A seeded tangent per parameter, symmetric for `sym`/`psd` ones (the
    node sees only their symmetric part, and a moved input must stay valid)."""
    rng = np.random.default_rng(seed)
    t = {}
    for n, kind, _ in node.params:
        v = rng.normal(size=np.shape(inputs[n]))
        t[n] = 0.5 * (v + v.T) if kind.split("[")[0] in ("sym", "psd") else v
    return t


def dot(a: dict, b: dict) -> float:
    return sum(float(np.sum(a[k] * b[k])) for k in a)


@pytest.mark.parametrize("path,name", CASES)
def test_jvp_satisfies_the_adjoint_identity_and_central_differences(path, name):
    inputs = seeded_inputs(name)
    # Iterative solvers at tolerance TIGHT, so that the differences measure the
    # derivative and not the solver's stopping point.
    node = tight_layer((STDLIB / path).read_text(), name, inputs).node
    sol = node.forward(inputs)
    assert sol.ok
    t = tangents_for(node, inputs, 1)
    out = sol.jvp(t)
    assert sol.jvp_failures == []
    rng = np.random.default_rng(2)
    cot = {k: rng.normal(size=v.shape) for k, v in sol.outputs.items()}
    grads = sol.backward(cot)
    lhs, rhs = dot(out, cot), dot(t, grads)
    assert abs(lhs - rhs) <= 1e-9 * (1 + abs(lhs)), (lhs, rhs)

    # Central differences of the solution along t, to the gradient tests' agreement.
    plus = node.forward({k: inputs[k] + STEP * t[k] for k in t}).outputs
    minus = node.forward({k: inputs[k] - STEP * t[k] for k in t}).outputs
    for k, v in out.items():
        fd = (plus[k] - minus[k]) / (2 * STEP)
        assert np.all(np.abs(v - fd) <= AGREE * (1 + np.abs(fd))), (k, v, fd)


def test_batched_jvp_is_the_unbatched_jvp_per_instance():
    node = ddn.compile(STDLIB / "least_squares.ddn").node("least_squares")
    rng = np.random.default_rng(3)
    A = rng.normal(size=(6, 3))
    bs = rng.normal(size=(4, 6))
    tA, tb = rng.normal(size=(6, 3)), rng.normal(size=(4, 6))
    batched = node.forward(A=A, b=bs).jvp(A=tA, b=tb)["x"]
    assert batched.shape == (4, 3)
    for i in range(4):
        one = node.forward(A=A, b=bs[i]).jvp(A=tA, b=tb[i])["x"]
        np.testing.assert_array_equal(batched[i], one)


def test_a_missing_tangent_is_zero_and_a_wrong_shape_is_named():
    node = ddn.compile(STDLIB / "least_squares.ddn").node("least_squares")
    inputs = seeded_inputs("least_squares")
    sol = node.forward(inputs)
    tb = np.ones_like(inputs["b"])
    np.testing.assert_array_equal(sol.jvp(b=tb)["x"], sol.jvp(b=tb, A=np.zeros_like(inputs["A"]))["x"])
    with pytest.raises(ddn.DdnError, match=r"tangent `A` must have shape \[\d+, \d+\] \(its parameter's\), found \[\d+\]"):
        sol.jvp(A=np.ones(3))
    with pytest.raises(ddn.DdnError, match="unknown parameter `c`"):
        sol.jvp(c=np.ones(3))


def test_an_infeasible_instance_has_nan_tangents_alone():
    node = ddn.compile(STDLIB / "optnet_qp.ddn").node("optnet_qp")
    good = seeded_inputs("optnet_qp")
    bad = dict(good)
    # Two rows z0 <= -1 and -z0 <= -1 of G z <= h: no point satisfies both.
    n = good["Q"].shape[0]
    G = np.zeros_like(good["G"])
    G[0, 0], G[1, 0] = 1.0, -1.0
    bad["G"], bad["h"] = G, -np.ones_like(good["h"])
    batch = {k: np.stack([good[k], bad[k]]) for k in good}
    sol = node.forward(batch)
    assert sol.status_names[1] == "infeasible"
    t = {k: np.ones_like(v) for k, v in batch.items()}
    z = sol.jvp(t)["z"]
    assert z.shape == (2, n)
    assert np.isnan(z[1]).all()
    np.testing.assert_array_equal(z[0], node.forward(good).jvp({k: np.ones_like(v) for k, v in good.items()})["z"])


@pytest.mark.parametrize("path,name", CASES)
def test_torch_forward_mode_equals_solution_jvp(path, name):
    layer = ddn.torch.Layer(STDLIB / path, name)
    node = layer.node
    inputs = seeded_inputs(name)
    t = tangents_for(node, inputs, 4)
    with fwAD.dual_level():
        duals = [fwAD.make_dual(torch.tensor(inputs[n]), torch.tensor(t[n])) for n in node.param_names]
        out = layer(*duals)
        outs = out if isinstance(out, tuple) else (out,)
        tangents = [fwAD.unpack_dual(o).tangent for o in outs]
    expected = node.forward(inputs).jvp(t)
    for k, tan in zip(node.output_names, tangents):
        np.testing.assert_array_equal(tan.numpy(), expected[k], err_msg=k)


def test_torch_forward_mode_keeps_float32():
    layer = ddn.torch.Layer(STDLIB / "least_squares.ddn", "least_squares")
    inputs = seeded_inputs("least_squares")
    with fwAD.dual_level():
        A = fwAD.make_dual(torch.tensor(inputs["A"], dtype=torch.float32), torch.ones(inputs["A"].shape))
        b = torch.tensor(inputs["b"], dtype=torch.float32)
        x = layer(A, b)
        tangent = fwAD.unpack_dual(x).tangent
    assert x.dtype == torch.float32 and tangent.dtype == torch.float32
    expected = layer.node.forward(A=inputs["A"].astype(np.float32).astype(np.float64), b=inputs["b"].astype(np.float32).astype(np.float64))
    np.testing.assert_allclose(tangent.numpy(), expected.jvp(A=np.ones(inputs["A"].shape))["x"], rtol=1e-5)


def test_jax_forward_mode_jvp_and_jacfwd():
    jax = pytest.importorskip("jax", reason="JAX is in python/requirements-lock.txt; this skip is for installs without it")
    jax.config.update("jax_enable_x64", True)
    import ddn.jax

    jnp = jax.numpy
    forward = ddn.jax.function(STDLIB / "least_squares.ddn", "least_squares", mode="forward")
    reverse = ddn.jax.function(STDLIB / "least_squares.ddn", "least_squares")
    inputs = seeded_inputs("least_squares")
    A, b = jnp.asarray(inputs["A"]), jnp.asarray(inputs["b"])
    node = forward.node
    t = tangents_for(node, inputs, 5)
    x, dx = jax.jit(lambda A, b, tA, tb: jax.jvp(forward, (A, b), (tA, tb)))(A, b, jnp.asarray(t["A"]), jnp.asarray(t["b"]))
    expected = node.forward(inputs)
    np.testing.assert_array_equal(np.asarray(x), expected.outputs["x"])
    np.testing.assert_array_equal(np.asarray(dx), expected.jvp(t)["x"])
    # The Jacobian with respect to b both ways: forward mode column by column
    # (vmapped tangents, one batched call) and reverse mode row by row.
    np.testing.assert_allclose(
        np.asarray(jax.jacfwd(forward, argnums=1)(A, b)), np.asarray(jax.jacrev(reverse, argnums=1)(A, b)), rtol=1e-12, atol=1e-13
    )
    with pytest.raises(ValueError, match="mode must be"):
        ddn.jax.function(STDLIB / "least_squares.ddn", "least_squares", mode="both")
