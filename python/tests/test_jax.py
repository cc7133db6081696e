"""The JAX function: `jax.grad` under `jit` and `vmap` equals the torch layer's
gradients (the same Rust forward and backward underneath)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

jax = pytest.importorskip("jax", reason="JAX is in python/requirements-lock.txt; this skip is for installs without it")
jnp = jax.numpy
jax.config.update("jax_enable_x64", True)

import ddn.jax  # noqa: E402
import ddn.torch  # noqa: E402
from conftest import STDLIB, seeded_inputs  # noqa: E402


def torch_grads(layer, inputs: dict, weight: np.ndarray) -> dict:
    params = {n: torch.tensor(inputs[n], requires_grad=True) for n in layer.node.param_names}
    out = layer(*params.values())
    (out * torch.tensor(weight)).sum().backward()
    return out.detach().numpy(), {n: p.grad.numpy() for n, p in params.items()}


def test_grad_under_jit_equals_torch():
    f = ddn.jax.function(STDLIB / "optnet_qp.ddn", "optnet_qp")
    layer = ddn.torch.Layer(STDLIB / "optnet_qp.ddn", "optnet_qp")
    inputs = seeded_inputs("optnet_qp")
    w = np.random.default_rng(2).normal(size=4)
    names = layer.node.param_names

    def loss(*params):
        return (f(*params) * w).sum()

    args = [jnp.asarray(inputs[n]) for n in names]
    z = jax.jit(f)(*args)
    grads = jax.jit(jax.grad(loss, argnums=tuple(range(len(names)))))(*args)
    z_t, grads_t = torch_grads(layer, inputs, w)
    np.testing.assert_array_equal(np.asarray(z), z_t)
    for n, g in zip(names, grads):
        np.testing.assert_array_equal(np.asarray(g), grads_t[n], err_msg=n)


def test_grad_under_vmap_equals_torch_per_instance():
    f = ddn.jax.function(STDLIB / "robust_pooling.ddn", "pool_pseudo_huber")
    layer = ddn.torch.Layer(STDLIB / "robust_pooling.ddn", "pool_pseudo_huber")
    xs = np.stack([seeded_inputs("pool_pseudo_huber", seed=s)["x"] for s in range(4)])
    alpha = 0.8
    w = np.array([0.5, -1.5])

    def loss(x, a):
        return (f(x, a) * w).sum()

    per_instance = jax.jit(jax.vmap(jax.grad(loss, argnums=(0, 1)), in_axes=(0, None)))
    gx, ga = per_instance(jnp.asarray(xs), jnp.asarray(alpha))
    ys = jax.vmap(f, in_axes=(0, None))(jnp.asarray(xs), jnp.asarray(alpha))
    assert gx.shape == xs.shape and ga.shape == (4,)
    for i in range(4):
        y_t, g_t = torch_grads(layer, {"x": xs[i], "alpha": np.array(alpha)}, w)
        np.testing.assert_array_equal(np.asarray(ys[i]), y_t)
        np.testing.assert_array_equal(np.asarray(gx[i]), g_t["x"])
        np.testing.assert_array_equal(np.asarray(ga[i]), g_t["alpha"])


def test_batched_arguments_without_vmap_and_float32():
    f = ddn.jax.function(STDLIB / "least_squares.ddn")
    inputs = seeded_inputs("least_squares")
    bs = np.stack([inputs["b"], -inputs["b"]])
    x = f(jnp.asarray(inputs["A"]), jnp.asarray(bs))
    assert x.shape == (2, 2)
    x32 = f(jnp.asarray(inputs["A"], dtype=jnp.float32), jnp.asarray(inputs["b"], dtype=jnp.float32))
    assert x32.dtype == jnp.float32
    g = jax.grad(lambda A, b: f(A, b).sum())(jnp.asarray(inputs["A"]), jnp.asarray(bs))
    assert g.shape == inputs["A"].shape
