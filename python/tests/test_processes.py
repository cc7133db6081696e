"""Where training runs: pickling a layer, DataLoader worker processes, `fork`
after a batch has run, and a 2-process torch.distributed (gloo) step."""

from __future__ import annotations

import multiprocessing as mp
import os
import pickle
import socket

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, Dataset

import ddn
import ddn.torch
from conftest import STDLIB, seeded_inputs


def optnet_layer() -> ddn.torch.Layer:
    return ddn.torch.Layer(STDLIB / "optnet_qp.ddn", "optnet_qp")


def test_pickle_round_trip_recompiles_from_source(tmp_path):
    # A layer made from a file that is gone by the time it is loaded: the
    # pickle carries the source.
    path = tmp_path / "ls.ddn"
    path.write_text((STDLIB / "least_squares.ddn").read_text())
    layer = ddn.torch.Layer(path, on_failure="raise", threads=1)
    data = pickle.dumps(layer)
    path.unlink()
    copy = pickle.loads(data)
    assert copy.on_failure == "raise" and copy.threads == 1
    assert copy.node.name == "least_squares" and copy.module.source == layer.module.source
    inputs = seeded_inputs("least_squares")
    A, b = (torch.tensor(inputs[n]) for n in ("A", "b"))
    assert torch.equal(copy(A, b), layer(A, b))
    node = pickle.loads(pickle.dumps(layer.node))
    np.testing.assert_array_equal(node.forward(inputs).outputs["x"], layer(A, b).numpy())


class PoolingData(Dataset):
    """Each item runs the layer (as a data pipeline's feature step would)."""

    def __init__(self, layer):
        self.layer = layer
        self.xs = [torch.tensor(seeded_inputs("pool_welsch", seed=s)["x"]) for s in range(8)]

    def __len__(self):
        return len(self.xs)

    def __getitem__(self, i):
        return self.layer(self.xs[i], torch.tensor(0.8)), os.getpid()


def test_dataloader_with_two_workers():
    layer = ddn.torch.Layer(STDLIB / "robust_pooling.ddn", "pool_welsch")
    data = PoolingData(layer)
    # The parent runs a batch first, so its pool exists when the workers fork.
    expect = layer(torch.stack(data.xs), torch.tensor(0.8))
    got, pids = [], set()
    for y, pid in DataLoader(data, batch_size=2, num_workers=2):
        got.append(y)
        pids.update(pid.tolist())
    assert torch.equal(torch.cat(got), expect)
    assert len(pids) == 2 and os.getpid() not in pids


def _forked_batch(conn):
    layer = optnet_layer()
    ddn.set_num_threads(2)
    batch = {n: torch.tensor(np.stack([seeded_inputs("optnet_qp", seed=s)[n] for s in range(4)])) for n in layer.node.param_names}
    conn.send(layer(*batch.values()).numpy())
    conn.close()


def test_batch_after_fork():
    """A child forked after the parent ran a 2-thread batch runs its own."""
    ddn.set_num_threads(2)
    layer = optnet_layer()
    batch = {n: torch.tensor(np.stack([seeded_inputs("optnet_qp", seed=s)[n] for s in range(4)])) for n in layer.node.param_names}
    expect = layer(*batch.values()).numpy()
    ctx = mp.get_context("fork")
    parent, child = ctx.Pipe()
    p = ctx.Process(target=_forked_batch, args=(child,))
    p.start()
    assert parent.poll(120), "the forked child did not answer within 120 s"
    got = parent.recv()
    p.join(30)
    assert p.exitcode == 0
    np.testing.assert_array_equal(got, expect)


# --- torch.distributed ------------------------------------------------------------


def distributed_problem():
    """OptNet with a learnable shared linear cost p = W θ_i over 4 instances."""
    instances = [seeded_inputs("optnet_qp", seed=s) for s in range(4)]
    rng = np.random.default_rng(11)
    thetas = rng.normal(size=(4, 3))
    W = rng.normal(size=(4, 3))
    targets = rng.normal(size=(4, 4))
    return instances, thetas, W, targets


def loss_and_grad(rows):
    layer = optnet_layer()
    instances, thetas, W0, targets = distributed_problem()
    W = torch.tensor(W0, requires_grad=True)
    theta = torch.tensor(thetas[rows])
    shared = {n: torch.tensor(instances[0][n]) for n in ("Q", "G", "h", "A", "b")}
    z = layer(shared["Q"], theta @ W.T, shared["G"], shared["h"], shared["A"], shared["b"])
    loss = ((z - torch.tensor(targets[rows])) ** 2).sum()
    loss.backward()
    return W.grad


def _distributed_worker(rank, port, conn):
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    try:
        grad = loss_and_grad([2 * rank, 2 * rank + 1])
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        conn.send(grad.numpy())
    finally:
        dist.destroy_process_group()
        conn.close()


def test_distributed_two_processes_gloo_equals_single_process():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ctx = mp.get_context("spawn")
    pipes, procs = [], []
    for rank in range(2):
        parent, child = ctx.Pipe()
        p = ctx.Process(target=_distributed_worker, args=(rank, port, child))
        p.start()
        pipes.append(parent)
        procs.append(p)
    grads = []
    for parent in pipes:
        assert parent.poll(300), "a distributed worker did not answer within 300 s"
        grads.append(parent.recv())
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    single = loss_and_grad([0, 1, 2, 3]).numpy()
    # The all-reduce adds the two halves' gradients: the single process adds
    # the four instances' in one sum, so the order of additions differs.
    np.testing.assert_array_equal(grads[0], grads[1])
    np.testing.assert_allclose(grads[0], single, rtol=1e-13, atol=1e-13)


def test_ddn_error_crosses_process_boundaries():
    # An error raised in a worker process reaches the parent by pickling: the
    # exception class must be importable by its qualified name.
    assert ddn.DdnError.__module__ == "ddn._native"
    err = pickle.loads(pickle.dumps(ddn.DdnError("bad input")))
    assert isinstance(err, ddn.DdnError) and str(err) == "bad input"
    with mp.get_context("spawn").Pool(1) as pool:
        try:
            pool.apply(ddn.compile, ("node n(a: real) -> x: real { minimize (x - b)^2 }",))
        except ddn.DdnError as e:
            assert "b" in str(e)
        else:
            raise AssertionError("an unknown name compiled")
