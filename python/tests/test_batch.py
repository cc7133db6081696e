"""Batches through the torch layer: bit-for-bit equal to one-at-a-time calls on
1 and 2 threads, broadcasting of unbatched parameters, float32 round trips, and
per-instance failure (NaN and a status, or an exception on request)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import ddn
import ddn.torch
from conftest import STDLIB, seeded_inputs


def optnet_batch(size: int) -> list[dict[str, np.ndarray]]:
    return [seeded_inputs("optnet_qp", seed=s) for s in range(size)]


def stacked(instances, names):
    return {n: torch.tensor(np.stack([i[n] for i in instances]), requires_grad=True) for n in names}


@pytest.mark.parametrize("threads", [1, 2])
def test_batched_equals_unbatched_bit_for_bit(threads):
    ddn.set_num_threads(threads)
    layer = ddn.torch.Layer(STDLIB / "optnet_qp.ddn", "optnet_qp")
    names = layer.node.param_names
    instances = optnet_batch(5)
    rng = np.random.default_rng(1)
    v = rng.normal(size=(5, 4))

    batch = stacked(instances, names)
    z = layer(*batch.values())
    assert z.shape == (5, 4) and z.dtype == torch.float64
    assert layer.last_status.tolist() == [0] * 5
    (z * torch.tensor(v)).sum().backward()

    for i, inst in enumerate(instances):
        one = {n: torch.tensor(inst[n], requires_grad=True) for n in names}
        zi = layer(*one.values())
        assert layer.last_status.shape == ()
        (zi * torch.tensor(v[i])).sum().backward()
        assert torch.equal(z[i], zi), i
        for n in names:
            assert torch.equal(batch[n].grad[i], one[n].grad), (i, n)


def test_smooth_node_batched_equals_unbatched_on_both_thread_counts():
    layer = ddn.torch.Layer(STDLIB / "robust_pooling.ddn", "pool_welsch")
    xs = torch.tensor(np.stack([seeded_inputs("pool_welsch", seed=s)["x"] for s in range(6)]), requires_grad=True)
    alpha = torch.tensor(0.8, requires_grad=True)
    results = []
    for threads in (1, 2):
        ddn.set_num_threads(threads)
        xs.grad, alpha.grad = None, None
        y = layer(xs, alpha)
        y.pow(2).sum().backward()
        results.append((y.detach().clone(), xs.grad.clone(), alpha.grad.clone()))
    for a, b in zip(*results):
        assert torch.equal(a, b)
    # and one at a time: x per instance, alpha shared (its gradient is the sum, in instance order)
    total = None
    for i in range(6):
        x = xs[i].detach().clone().requires_grad_(True)
        a = torch.tensor(0.8, requires_grad=True)
        y = layer(x, a)
        y.pow(2).sum().backward()
        assert torch.equal(y, results[0][0][i])
        assert torch.equal(x.grad, results[0][1][i])
        total = a.grad if total is None else total + a.grad
    assert torch.equal(total, results[0][2])


def test_unbatched_parameters_broadcast():
    """Q, G, h, A, b shared, p batched: each instance equals the unbatched call
    with the shared values, and the shared gradients are the sums."""
    layer = ddn.torch.Layer(STDLIB / "optnet_qp.ddn", "optnet_qp")
    base = seeded_inputs("optnet_qp")
    rng = np.random.default_rng(5)
    ps = base["p"] + 0.1 * rng.normal(size=(3, 4))
    shared = {n: torch.tensor(base[n], requires_grad=True) for n in ("Q", "G", "h", "A", "b")}
    p = torch.tensor(ps, requires_grad=True)
    z = layer(shared["Q"], p, shared["G"], shared["h"], shared["A"], shared["b"])
    assert z.shape == (3, 4)
    z.sum().backward()
    sums = {n: None for n in shared}
    for i in range(3):
        one = {n: torch.tensor(base[n], requires_grad=True) for n in shared}
        pi = torch.tensor(ps[i], requires_grad=True)
        zi = layer(one["Q"], pi, one["G"], one["h"], one["A"], one["b"])
        zi.sum().backward()
        assert torch.equal(zi, z[i])
        assert torch.equal(pi.grad, p.grad[i])
        for n in shared:
            sums[n] = one[n].grad if sums[n] is None else sums[n] + one[n].grad
    for n in shared:
        assert shared[n].grad.shape == shared[n].shape
        assert torch.equal(shared[n].grad, sums[n]), n


def test_float32_round_trip():
    """float32 in, float32 out (and gradients), equal to the float64 result of
    the float32 values rounded to float32."""
    layer = ddn.torch.Layer(STDLIB / "least_squares.ddn")
    inputs = seeded_inputs("least_squares")
    A32 = torch.tensor(inputs["A"], dtype=torch.float32, requires_grad=True)
    b32 = torch.tensor(inputs["b"], dtype=torch.float32, requires_grad=True)
    x32 = layer(A32, b32)
    assert x32.dtype == torch.float32
    x32.sum().backward()
    assert A32.grad.dtype == torch.float32 and b32.grad.dtype == torch.float32
    A64 = A32.detach().double().requires_grad_(True)
    b64 = b32.detach().double().requires_grad_(True)
    x64 = layer(A64, b64)
    x64.sum().backward()
    assert torch.equal(x32, x64.float())
    assert torch.equal(A32.grad, A64.grad.float()) and torch.equal(b32.grad, b64.grad.float())
    # a mixed call computes in float64 and returns float64
    assert layer(A32, b64).dtype == torch.float64


def test_gradients_only_for_inputs_that_require_them():
    layer = ddn.torch.Layer(STDLIB / "least_squares.ddn")
    inputs = seeded_inputs("least_squares")
    A = torch.tensor(inputs["A"])
    b = torch.tensor(inputs["b"], requires_grad=True)
    layer(A, b).sum().backward()
    assert A.grad is None and b.grad is not None
    x = layer(A, torch.tensor(inputs["b"]))
    assert not x.requires_grad


def infeasible_batch():
    """Three OptNet instances; the middle one's equality row contradicts an
    inequality (A z = b with b far beyond what G z <= h allows)."""
    instances = optnet_batch(3)
    bad = instances[1]
    bad["G"] = np.vstack([bad["G"][:4], bad["A"]])
    bad["h"] = np.concatenate([bad["h"][:4], bad["b"] - 1.0])
    return instances


def test_one_infeasible_instance_gives_nan_there_and_right_answers_elsewhere():
    layer = ddn.torch.Layer(STDLIB / "optnet_qp.ddn", "optnet_qp", return_status=True)
    names = layer.node.param_names
    instances = infeasible_batch()
    batch = stacked(instances, names)
    z, status = layer(*batch.values())
    assert [ddn.STATUS_NAMES[s] for s in status.tolist()] == ["optimal", "infeasible", "optimal"]
    assert layer.last_status_names == ["optimal", "infeasible", "optimal"]
    assert torch.isnan(z[1]).all() and not torch.isnan(z[[0, 2]]).any()
    z.sum().backward()
    for n in names:
        g = batch[n].grad
        assert torch.isnan(g[1]).all() and not torch.isnan(g[[0, 2]]).any(), n
    for i in (0, 2):
        one = {n: torch.tensor(instances[i][n], requires_grad=True) for n in names}
        zi = layer(*one.values())[0]
        zi.sum().backward()
        assert torch.equal(zi, z[i])
        for n in names:
            assert torch.equal(one[n].grad, batch[n].grad[i])


def test_masked_failure_leaves_shared_gradients_finite():
    """With the failed instance masked out of the loss (its cotangent zero), a
    shared parameter's gradient is the sum over the others."""
    layer = ddn.torch.Layer(STDLIB / "optnet_qp.ddn", "optnet_qp")
    instances = infeasible_batch()
    Q = torch.tensor(instances[0]["Q"], requires_grad=True)
    rest = {n: torch.tensor(np.stack([i[n] for i in instances])) for n in ("p", "G", "h", "A", "b")}
    z = layer(Q, *rest.values())
    ok = layer.last_status == 0
    torch.where(ok[:, None], z, 0.0).sum().backward()
    assert torch.isfinite(Q.grad).all()
    total = torch.zeros_like(Q)
    for i in (0, 2):
        Qi = torch.tensor(instances[0]["Q"], requires_grad=True)
        layer(Qi, *(torch.tensor(instances[i][n]) for n in ("p", "G", "h", "A", "b"))).sum().backward()
        total = total + Qi.grad
    torch.testing.assert_close(Q.grad, total, rtol=1e-14, atol=1e-14)


def test_on_failure_raise():
    layer = ddn.torch.Layer(STDLIB / "optnet_qp.ddn", "optnet_qp", on_failure="raise")
    batch = stacked(infeasible_batch(), layer.node.param_names)
    with pytest.raises(ddn.DdnError, match="instance 1: infeasible"):
        layer(*batch.values())


def test_numpy_level_batch_statuses():
    node = ddn.compile(STDLIB / "optnet_qp.ddn").node("optnet_qp")
    instances = infeasible_batch()
    sol = node.forward({n: np.stack([i[n] for i in instances]) for n in node.param_names})
    assert sol.status.tolist() == [ddn.OPTIMAL, ddn.STATUS_NAMES.index("infeasible"), ddn.OPTIMAL] and not sol.ok
    assert sol.status_names == ["optimal", "infeasible", "optimal"]
    assert sol.messages == [None, None, None]
