"""The OptNet QP layer learning its cost from data.

Each sample is a feature vector θ and the solution z* of a QP whose linear cost
depends on θ through an unknown matrix W*:

    z*(θ) = argmin_z ½ zᵀQz + (W*θ)ᵀz   subject to  z ≥ 0,  1ᵀz = 1

(a simplex-constrained QP: a portfolio or an assignment of mass). The layer is
stdlib/optnet_qp.ddn; W is learnt by gradient descent on ‖z(θ; W) − z*‖² over
batches, the gradient flowing through the QP's KKT conditions. Q, G, h, A, b
are shared by the batch (unbatched), p = Wθ is batched.

    python examples/python/optnet_learn_cost.py [--quick]
"""

import argparse
import pathlib

import torch

import ddn.torch

ROOT = pathlib.Path(__file__).resolve().parents[2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few steps on a small problem (CI)")
    args = parser.parse_args()
    n, features, samples, steps = (5, 3, 64, 30) if args.quick else (10, 6, 512, 200)

    torch.manual_seed(0)
    layer = ddn.torch.Layer(ROOT / "stdlib" / "optnet_qp.ddn", "optnet_qp")
    L = torch.randn(n, n, dtype=torch.float64)
    Q = L @ L.T / n + torch.eye(n, dtype=torch.float64)
    G, h = -torch.eye(n, dtype=torch.float64), torch.zeros(n, dtype=torch.float64)
    A, b = torch.ones(1, n, dtype=torch.float64), torch.ones(1, dtype=torch.float64)

    W_true = torch.randn(n, features, dtype=torch.float64)
    theta = torch.randn(samples, features, dtype=torch.float64)
    with torch.no_grad():
        targets = layer(Q, theta @ W_true.T, G, h, A, b)

    W = torch.zeros(n, features, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.Adam([W], lr=0.1)
    batch = 32
    for step in range(steps + 1):
        idx = torch.randint(0, samples, (batch,))
        z = layer(Q, theta[idx] @ W.T, G, h, A, b)
        loss = ((z - targets[idx]) ** 2).sum(dim=1).mean()
        if step % max(1, steps // 10) == 0:
            bad = int((layer.last_status != 0).sum())
            print(f"step {step:4d}  loss {loss.item():.6f}" + (f"  ({bad} unsolved)" if bad else ""), flush=True)
        if step < steps:
            opt.zero_grad()
            loss.backward()
            opt.step()
    with torch.no_grad():
        full = ((layer(Q, theta @ W.T, G, h, A, b) - targets) ** 2).sum(dim=1).mean()
    print(f"final loss over all {samples} samples: {full.item():.6f}")


if __name__ == "__main__":
    main()
