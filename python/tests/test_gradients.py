"""Backward passes through the torch layer: `torch.autograd.gradcheck` on every
stdlib node, and central differences on the contract's examples."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import ddn
import ddn.torch
from conftest import AGREE, CONTRACT, STEP, seeded_inputs, stdlib_nodes, tightened

ITERATIVE = {"ipm", "newton", "sqp", "sinkhorn"}


def tight_layer(source: str, name: str, inputs: dict) -> ddn.torch.Layer:
    """The node as a layer; an iteratively solved one at tolerance TIGHT (as the
    Rust suite's finite-difference checks solve), so that the differences
    measure the derivative and not the solver's stopping point."""
    node = ddn.compile(source).node(name)
    solver = node.forward(inputs).info()["solver"]
    if solver in ITERATIVE:
        source = tightened(source, name, solver)
    return ddn.torch.Layer(source, name, on_failure="raise")


def wrapped(node: ddn.Node, layer: ddn.torch.Layer):
    """The layer as a function of unconstrained-shape tensors: `sym`/`psd`
    parameters through their symmetric part (a perturbation of one entry keeps
    them symmetric), transport marginals normalised to mass one (a perturbation
    keeps them of equal mass). gradcheck then checks the chain rule through
    these maps as well."""
    kinds = {n: t.split("[")[0] for n, t, _ in node.params}
    marginals = node.name == "entropic_ot"

    def f(*params):
        fixed = []
        for (n, _, _), p in zip(node.params, params):
            if kinds[n] in ("sym", "psd"):
                p = 0.5 * (p + p.T)
            if marginals and n in ("r", "c"):
                p = p / p.sum()
            fixed.append(p)
        return layer(*fixed)

    return f


@pytest.mark.parametrize("path,name", stdlib_nodes(), ids=lambda v: getattr(v, "stem", v))
def test_gradcheck_every_stdlib_node(path, name):
    source = path.read_text()
    inputs = seeded_inputs(name)
    layer = tight_layer(source, name, inputs)
    params = tuple(torch.tensor(inputs[n], dtype=torch.float64, requires_grad=True) for n in layer.node.param_names)
    assert torch.autograd.gradcheck(wrapped(layer.node, layer), params, eps=STEP, atol=AGREE, rtol=AGREE)


def test_stdlib_has_every_node_the_issue_names():
    names = {n for _, n in stdlib_nodes()}
    assert {"least_squares", "optnet_qp", "entropic_ot", "max_eigvec", "pool_pseudo_huber", "project_simplex"} <= names
    assert len(names) >= 19


def contract_nodes() -> list[tuple[str, str]]:
    """The contract's complete examples: (source block, node name)."""
    text = CONTRACT.read_text()
    blocks = [b.split("```")[0] for b in text.split("```ddn\n")[1:]]
    found = []
    for b in blocks:
        if "node " not in b:
            continue
        for name in ddn.compile(b).nodes:
            found.append((b, name))
    return found


CONTRACT_INPUTS = {
    "least_squares": "least_squares",
    "robust_pool": "pool_pseudo_huber",
    "qp_layer": "optnet_qp",
    "entropic_ot": "entropic_ot",
    "max_eigvec": "max_eigvec",
}


def test_contract_examples_found():
    names = {n for _, n in contract_nodes()}
    assert set(CONTRACT_INPUTS) <= names, names


@pytest.mark.parametrize("name", sorted(CONTRACT_INPUTS))
def test_contract_example_matches_central_differences(name):
    """L(θ) = Σ⟨v, output(θ)⟩; each entry of dL/dθ from the layer against
    (L(θ + h e) − L(θ − h e)) / 2h, symmetric pairs moved together, to
    |numeric − analytic| ≤ 1e-5 (1 + |numeric|) (the Rust suite's check)."""
    source = dict((n, b) for b, n in contract_nodes())[name]
    inputs = seeded_inputs(CONTRACT_INPUTS[name], seed=1)
    layer = tight_layer(source, name, inputs)
    node = layer.node
    rng = np.random.default_rng(7)
    outs = node.forward(inputs).outputs
    cot = {k: rng.uniform(-1, 1, v.shape) for k, v in outs.items()}

    def loss(values):
        out = layer(*(torch.tensor(values[n]) for n in node.param_names))
        out = out if isinstance(out, tuple) else (out,)
        return sum(float((o.numpy() * cot[k]).sum()) for k, o in zip(node.output_names, out))

    params = {n: torch.tensor(inputs[n], requires_grad=True) for n in node.param_names}
    out = layer(*params.values())
    out = out if isinstance(out, tuple) else (out,)
    torch.autograd.backward(out, [torch.tensor(cot[k]) for k in node.output_names])
    kinds = {n: t.split("[")[0] for n, t, _ in node.params}
    checked = 0
    for n, p in params.items():
        if name == "entropic_ot" and n in ("r", "c"):
            continue  # a lone marginal entry moved breaks equal mass (no solution)
        grad = p.grad.numpy()
        symmetric = kinds[n] in ("sym", "psd")
        for idx in np.ndindex(*grad.shape):
            if symmetric and idx[1] < idx[0]:
                continue

            def moved(d):
                v = {k: np.array(x, dtype=np.float64) for k, x in inputs.items()}
                v[n][idx] += d
                if symmetric and idx[0] != idx[1]:
                    v[n][idx[::-1]] += d
                return loss(v)

            numeric = (moved(STEP) - moved(-STEP)) / (2 * STEP)
            analytic = 2 * grad[idx] if symmetric and idx[0] != idx[1] else grad[idx]
            assert abs(numeric - analytic) <= AGREE * (1 + abs(numeric)), (n, idx, analytic, numeric)
            checked += 1
    assert checked > 0
