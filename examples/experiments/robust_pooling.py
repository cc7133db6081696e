"""Robust pooling: a point-set classifier with each of the five pooling penalties, under outliers.

The seed's "Average Pooling Example" made robust (stdlib/robust_pooling.ddn), in
the experiment of the Deep Declarative Networks paper (point-cloud
classification with a fraction of the points replaced by outliers), on
synthetic data the script makes:

  data     sets of n points in the plane from one of four shapes (circle, square,
           cross, two blobs), randomly rotated and scaled, with noise; a fraction ρ
           of each set's points replaced by outliers, uniform in [−4, 4]²;
  model    a per-point MLP (2 → 32 → 16), the pooling node over the n feature
           vectors, a linear classifier (16 → 4): a PointNet in miniature, whose
           only difference between runs is the pooling penalty
             quadratic (the mean), pseudo-Huber, Huber, Welsch, truncated quadratic
           (α = 1), each a ddn.torch.Layer over the batch;
  run      for each ρ, one model per penalty trained with Adam on fresh batches
           with outliers at rate ρ, then tested on a fixed test set at the same ρ.

Figure: test accuracy vs outlier fraction, one line per penalty; and the
training loss of each penalty at the largest ρ.

    python examples/experiments/robust_pooling.py [--quick] [--out DIR]
"""

from __future__ import annotations

import concurrent.futures
import math

import torch

import _common
import ddn.torch

PENALTIES = ["quadratic", "pseudo_huber", "huber", "welsch", "truncated_quadratic"]
CONVEX = ["quadratic", "pseudo_huber", "huber"]
ALPHA = 1.0
CLASSES = 4


def shapes(labels: torch.Tensor, n: int, g: torch.Generator) -> torch.Tensor:
    """(B, n, 2): n points on shape labels[b] (circle, square, cross, two blobs)
    in a unit-sized frame, for each b."""
    B = len(labels)
    s = 2 * torch.rand(B, n, generator=g) - 1
    pick = torch.rand(B, n, generator=g)
    a = math.pi * s
    circle = torch.stack([a.cos(), a.sin()], -1)
    # Square boundary: a side (pick in quarters), then a position along it.
    side_x = torch.where(pick < 0.25, -1.0, 1.0)
    vertical = torch.stack([side_x, s], -1)
    horizontal = torch.stack([s, torch.where(pick < 0.75, -1.0, 1.0)], -1)
    square = torch.where((pick < 0.5)[..., None], vertical, horizontal)
    zero = torch.zeros_like(s)
    cross = torch.where((pick < 0.5)[..., None], torch.stack([s, zero], -1), torch.stack([zero, s], -1))
    blobs = torch.stack([0.7 * torch.where(pick < 0.5, -1.0, 1.0), zero], -1) + 0.2 * torch.randn(B, n, 2, generator=g)
    every = torch.stack([circle, square, cross, blobs])  # (4, B, n, 2)
    return every[labels, torch.arange(B)]


def batch(size: int, n: int, rho: float, g: torch.Generator):
    """`size` labelled point sets of n points, randomly rotated and scaled, with
    noise, a fraction rho of each set's points replaced by outliers."""
    labels = torch.randint(0, CLASSES, (size,), generator=g)
    p = shapes(labels, n, g) + 0.05 * torch.randn(size, n, 2, generator=g)
    a = 2 * math.pi * torch.rand(size, generator=g)
    rot = torch.stack([torch.stack([a.cos(), -a.sin()], -1), torch.stack([a.sin(), a.cos()], -1)], -2)  # (B, 2, 2)
    scale = 0.8 + 0.4 * torch.rand(size, 1, 1, generator=g)
    p = scale * p @ rot.mT
    k = int(round(rho * n))
    if k:
        # The first k points of each set (their order carries no meaning).
        p[:, :k] = 8 * torch.rand(size, k, 2, generator=g) - 4
    return p, labels


class SetClassifier(torch.nn.Module):
    def __init__(self, penalty: str, features: int = 16):
        super().__init__()
        self.phi = torch.nn.Sequential(torch.nn.Linear(2, 32), torch.nn.ReLU(), torch.nn.Linear(32, features))
        self.head = torch.nn.Linear(features, CLASSES)
        self.pool = ddn.torch.Layer(_common.STDLIB / "robust_pooling.ddn", f"pool_{penalty}")
        self.alpha = None if penalty == "quadratic" else torch.tensor(ALPHA)

    def forward(self, x):
        features = self.phi(x)  # (B, n, d): a batch of B pooling problems
        pooled = self.pool(features) if self.alpha is None else self.pool(features, self.alpha)
        ok = self.pool.last_status == 0
        return self.head(pooled), ok


def train_and_test(penalty, rho, steps, batch_size, n, test, lr):
    torch.manual_seed(0)
    model = SetClassifier(penalty)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    g = torch.Generator().manual_seed(1)
    losses, failed, skipped = [], 0, 0
    for _ in range(steps):
        x, y = batch(batch_size, n, rho, g)
        logits, ok = model(x)
        failed += int((~ok).sum())
        # An instance whose pooling failed (NaN) is left out of the loss, so
        # its cotangent, and so its gradient, is zero.
        loss = torch.nn.functional.cross_entropy(logits[ok], y[ok])
        if not torch.isfinite(loss):
            # Diverged: reported as such (accuracy NaN), not trained on.
            return losses, float("nan"), failed, skipped
        opt.zero_grad()
        loss.backward()
        losses.append(loss.item())
        # A backward pass the node declines (a singular Hessian at a degenerate
        # local minimum of a non-convex penalty) gives that instance NaN
        # gradients: the step is skipped, and counted.
        if not all(torch.isfinite(p.grad).all() for p in model.parameters()):
            skipped += 1
            continue
        # The same clipping for every penalty: the non-convex ones (Welsch)
        # otherwise jump between local minima into huge losses.
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
    with torch.no_grad():
        logits, ok = model(test[0])
        accuracy = ((logits.argmax(1) == test[1]) & ok).double().mean().item()
    return losses, accuracy, failed, skipped


def run(job):
    """One training run and its test, on the test set of its outlier fraction."""
    penalty, rho, steps, batch_size, n, n_test, lr = job
    test = batch(n_test, n, rho, torch.Generator().manual_seed(99))
    try:
        return train_and_test(penalty, rho, steps, batch_size, n, test, lr)
    except ddn.DdnError as e:
        # ddn.DdnError does not pickle back from a worker process (its class
        # is `_native.DdnError`, which the parent cannot import by that name).
        raise RuntimeError(f"{penalty} at rho = {rho}: {e}") from None


def main():
    args = _common.parse_args(__doc__)
    _common.one_thread()
    plt = _common.pyplot()
    if args.quick:
        fractions, steps, batch_size, n, n_test, lr = [0.0, 0.5], 40, 16, 16, 128, 2e-2
    else:
        fractions, steps, batch_size, n, n_test, lr = [0.0, 0.2, 0.4, 0.6], 150, 32, 16, 1000, 2e-2
    # One process per outlier fraction (each on one thread): the runs are
    # independent, and seeded, so the results do not depend on the order.
    jobs = [(penalty, rho, steps, batch_size, n, n_test, lr) for rho in fractions for penalty in PENALTIES]
    with concurrent.futures.ProcessPoolExecutor(len(fractions), initializer=_common.one_thread) as pool:
        outcomes = list(pool.map(run, jobs))
    results = {}
    for (penalty, rho, *_), (losses, accuracy, failed, skipped) in zip(jobs, outcomes):
        results[f"{penalty}@{rho}"] = {
            "penalty": penalty, "rho": rho, "losses": losses, "accuracy": accuracy, "failed": failed, "skipped": skipped,
        }
        head = sum(losses[:5]) / 5
        tail = sum(losses[-5:]) / 5
        print(f"ρ={rho:.1f}  {penalty:20s} loss {head:.3f} → {tail:.3f}  test accuracy {accuracy:.3f}  failed solves {failed}  skipped steps {skipped}", flush=True)
    _common.write_record(
        args,
        "robust_pooling.json",
        {"machine": _common.machine(), "alpha": ALPHA, "steps": steps, "lr": lr, "batch": batch_size, "points": n, "test_sets": n_test, "results": results},
    )

    labels = {"quadratic": "quadratic (mean)", "pseudo_huber": "pseudo-Huber", "huber": "Huber", "welsch": "Welsch", "truncated_quadratic": "truncated quadratic"}
    markers = ["o", "s", "^", "D", "v"]
    fig, ax = plt.subplots(figsize=(5.5, 4))
    for penalty, marker in zip(PENALTIES, markers):
        ax.plot(fractions, [results[f"{penalty}@{rho}"]["accuracy"] for rho in fractions], marker + "-", label=labels[penalty])
    ax.axhline(1 / CLASSES, color="gray", lw=0.8, ls=":")
    ax.set_xlabel("outlier fraction ρ (train and test)")
    ax.set_ylabel("test accuracy")
    ax.set_ylim(0, 1.02)
    ax.set_title(f"point-set classifier with robust pooling (α = {ALPHA:g})")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    _common.savefig(fig, args, "robust_pooling_accuracy.png")
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(5.5, 4))
    rho = fractions[-1]
    window = max(1, steps // 25)
    for penalty in PENALTIES:
        losses = torch.tensor(results[f"{penalty}@{rho}"]["losses"])
        smooth = losses.unfold(0, window, 1).mean(1) if len(losses) >= window else losses
        ax.plot(range(window - 1, window - 1 + len(smooth)), smooth, label=labels[penalty])
    ax.set_xlabel("Adam step")
    ax.set_ylabel(f"cross-entropy (running mean of {window})")
    ax.set_title(f"training loss at ρ = {rho:g}")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    _common.savefig(fig, args, "robust_pooling_loss.png")
    plt.close(fig)

    for key, r in results.items():
        if r["rho"] == 0.0 and r["penalty"] in CONVEX:
            # Without outliers training works with every convex penalty: the
            # loss falls. (The non-convex ones are what the experiment reports:
            # Welsch's pooled vector can jump between local minima.)
            head, tail = sum(r["losses"][:5]) / 5, sum(r["losses"][-5:]) / 5
            assert tail < 0.8 * head, (key, head, tail)


if __name__ == "__main__":
    main()
