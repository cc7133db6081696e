"""Guiding neural collapse: the unconstrained-features model with the ETF projection node.

The seed's "Neural Collapse", "Guiding Neural Collapse" and "Neural Collapse
Results (UFM-10)" (Markou, Ajanthan, Gould, NeurIPS 2024). In the
unconstrained-features model (UFM) the last-layer features H (d × N, n per
class, k classes) are free parameters, trained with cross-entropy and weight
decay together with the classifier. Two classifiers:

  standard  W (k × d) learnt;
  guided    W = τ (U*M)ᵀ, where U* = etf_project(H̄, U_prox, δ) is the node of
            stdlib/neural_collapse.ddn,
                U* = argmin_U ‖H̄ − UM‖²_F + δ/2 ‖U − U_prox‖²_F  s.t.  UᵀU = I,
            M = I − 11ᵀ/k the canonical simplex ETF, H̄ the centred class means
            (scaled to ‖M‖_F), U_prox the previous step's U*, τ a learnt scale.
            The gradient flows through the node into H̄ and so into the features.

Both are trained by full-batch gradient descent (momentum 0.9) with the same
step size, the same weight decay on H and W, and the same initial features, and compared over steps on the seed's three curves:

  cross-entropy loss
  NC1 = tr(Σ_W Σ_B⁺)/k        (variability collapse: within-class over between-class)
  NC3 = ‖W/‖W‖ − H̄ᵀ/‖H̄‖‖²_F  (self-duality: classifier rows along the class means)

    python examples/experiments/neural_collapse.py [--quick] [--out DIR]
"""

from __future__ import annotations

import torch

import _common
import ddn.torch


def centred_means(H: torch.Tensor, labels: torch.Tensor, k: int) -> torch.Tensor:
    """d × k: the class means minus the global mean."""
    means = torch.stack([H[:, labels == c].mean(1) for c in range(k)], 1)
    return means - H.mean(1, keepdim=True)


def nc1(H: torch.Tensor, labels: torch.Tensor, k: int) -> float:
    means = torch.stack([H[:, labels == c].mean(1) for c in range(k)], 1)
    within = H - means[:, labels]
    sigma_w = within @ within.T / H.shape[1]
    between = means - H.mean(1, keepdim=True)
    sigma_b = between @ between.T / k
    return (torch.trace(sigma_w @ torch.linalg.pinv(sigma_b, hermitian=True)) / k).item()


def nc3(W: torch.Tensor, H_bar: torch.Tensor) -> float:
    return ((W / W.norm() - H_bar.T / H_bar.norm()) ** 2).sum().item()


class Guided(torch.nn.Module):
    """The classifier τ (U*M)ᵀ, U* the ETF nearest the class means."""

    def __init__(self, d: int, k: int, delta: float, g: torch.Generator):
        super().__init__()
        self.k = k
        self.project = ddn.torch.Layer(_common.STDLIB / "neural_collapse.ddn", "etf_project")
        self.M = torch.eye(k) - torch.ones(k, k) / k
        self.delta = torch.tensor(delta)
        self.U_prox = torch.linalg.qr(torch.randn(d, k, generator=g))[0]
        self.tau = torch.nn.Parameter(torch.tensor(1.0))

    def weights(self, H: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        H_bar = centred_means(H, labels, self.k)
        H_bar = H_bar * (self.M.norm() / H_bar.norm())
        U = self.project(H_bar, self.U_prox, self.delta)
        if self.project.last_status.item() != 0:
            raise RuntimeError(f"etf_project: {self.project.last_status_names[0]}")
        self.U_prox = U.detach()
        return self.tau * (U @ self.M).T


def train(kind: str, H0, labels, k, steps, lr, wd, seed=0):
    g = torch.Generator().manual_seed(seed)
    d = H0.shape[0]
    H = torch.nn.Parameter(H0.clone())
    if kind == "guided":
        model = Guided(d, k, delta=1.0, g=g)
        params = [H, model.tau]
    else:
        W = torch.nn.Parameter(0.1 * torch.randn(k, d, generator=g))
        params = [H, W]
    opt = torch.optim.SGD(params, lr=lr, momentum=0.9)
    curves = {"loss": [], "nc1": [], "nc3": []}
    for _ in range(steps):
        weights = model.weights(H, labels) if kind == "guided" else W
        loss = torch.nn.functional.cross_entropy((weights @ H).T, labels)
        # The same weight decay on the features and on the classifier (for the
        # guided one, on τ through W).
        objective = loss + 0.5 * wd * ((H**2).sum() / H.shape[1] + (weights**2).sum())
        opt.zero_grad()
        objective.backward()
        opt.step()
        with torch.no_grad():
            curves["loss"].append(loss.item())
            curves["nc1"].append(nc1(H, labels, k))
            curves["nc3"].append(nc3(weights.detach(), centred_means(H, labels, k)))
    return curves


def main():
    args = _common.parse_args(__doc__)
    _common.one_thread()
    plt = _common.pyplot()
    k, d, per_class, steps = (4, 6, 5, 40) if args.quick else (10, 16, 20, 300)
    lr, wd = 0.5, 5e-3
    g = torch.Generator().manual_seed(0)
    labels = torch.arange(k).repeat_interleave(per_class)
    H0 = 0.1 * torch.randn(d, k * per_class, generator=g)
    runs = {kind: train(kind, H0, labels, k, steps, lr, wd) for kind in ("standard", "guided")}
    for kind, c in runs.items():
        for s in range(0, steps, max(1, steps // 8)):
            print(f"{kind:8s} step {s:4d} loss {c['loss'][s]:.4e}  NC1 {c['nc1'][s]:.3e}  NC3 {c['nc3'][s]:.3e}")
        print(f"{kind:8s} final     loss {c['loss'][-1]:.4e}  NC1 {c['nc1'][-1]:.3e}  NC3 {c['nc3'][-1]:.3e}")
        assert c["loss"][-1] < 0.5 * c["loss"][0], (kind, c["loss"][0], c["loss"][-1])
        assert c["nc1"][-1] < c["nc1"][0], (kind, c["nc1"][0], c["nc1"][-1])
    _common.write_record(
        args,
        "neural_collapse.json",
        {"machine": _common.machine(), "k": k, "d": d, "per_class": per_class, "steps": steps, "lr": lr, "weight_decay": wd, "runs": runs},
    )
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    for ax, (key, title) in zip(
        axes, [("loss", "cross-entropy loss"), ("nc1", "NC1: variability collapse"), ("nc3", "NC3: convergence to self-duality")]
    ):
        for kind, c in runs.items():
            ax.plot(c[key], label=kind)
        ax.set_yscale("log")
        ax.set_xlabel("gradient step (full batch)")
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    fig.suptitle(f"UFM-{k}: d = {d}, {per_class} features per class, SGD lr {lr}, weight decay {wd}")
    _common.savefig(fig, args, "neural_collapse.png")
    plt.close(fig)


if __name__ == "__main__":
    main()
