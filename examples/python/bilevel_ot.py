"""A bilevel entropic optimal-transport problem, trained by gradient descent.

The inner problem is the entropic OT layer of stdlib/optimal_transport.ddn,

    P*(M) = argmin_P ⟨M, P⟩ + (1/γ) Σ P log P   subject to  P1 = r,  Pᵀ1 = c,

and the outer problem learns the cost matrix M from one observed plan: points
x_i, y_j in the plane move with an unknown cost ‖x_i − A y_j‖², and we fit the
2×2 matrix A so that P*(M(A)) matches the observed plan (cross-entropy between
plans). The gradient dL/dA flows through the transport plan's optimality
conditions (implicit differentiation, not unrolled Sinkhorn iterations).

    python examples/python/bilevel_ot.py [--quick]
"""

import argparse
import pathlib

import torch

import ddn.torch

ROOT = pathlib.Path(__file__).resolve().parents[2]


def cost(x: torch.Tensor, y: torch.Tensor, A: torch.Tensor) -> torch.Tensor:
    return ((x[:, None, :] - (y @ A.T)[None, :, :]) ** 2).sum(dim=2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few steps on a small problem (CI)")
    args = parser.parse_args()
    m, steps = (6, 40) if args.quick else (24, 300)

    torch.manual_seed(0)
    layer = ddn.torch.Layer(ROOT / "stdlib" / "optimal_transport.ddn", "entropic_ot")
    x = torch.randn(m, 2, dtype=torch.float64)
    y = torch.randn(m, 2, dtype=torch.float64)
    r = torch.full((m,), 1.0 / m, dtype=torch.float64)
    c = torch.full((m,), 1.0 / m, dtype=torch.float64)
    gamma = torch.tensor(1.0, dtype=torch.float64)
    theta = torch.tensor(0.9)
    A_true = torch.tensor([[theta.cos(), -theta.sin()], [theta.sin(), theta.cos()]], dtype=torch.float64) * 1.3
    with torch.no_grad():
        observed = layer(cost(x, y, A_true), r, c, gamma)

    A = torch.eye(2, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.Adam([A], lr=0.05)
    for step in range(steps + 1):
        P = layer(cost(x, y, A), r, c, gamma)
        # KL(observed ‖ P) up to a constant: the plans are distributions over pairs.
        loss = -(observed * torch.log(P.clamp_min(1e-300))).sum() + (observed * torch.log(observed)).sum()
        if step % max(1, steps // 10) == 0:
            print(f"step {step:4d}  loss {loss.item():.6f}  status {layer.last_status_names[0]}", flush=True)
        if step < steps:
            opt.zero_grad()
            loss.backward()
            opt.step()
    print(f"learnt A = {A.detach().numpy().round(3).tolist()}, true A = {A_true.numpy().round(3).tolist()}")


if __name__ == "__main__":
    main()
