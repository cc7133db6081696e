"""Differentiable eigen decomposition: ddn's eigen nodes against torch.linalg.eigh.

The seed's "Differentiable Eigen Decomposition", "Full Eigen Decomposition" and
"Eigen Decomposition Backward Pass": the eigenvectors of a real symmetric X as
the solution of  maximize tr(Uᵀ X U) s.t. UᵀU = I  (stdlib/eigen.ddn, eigh_full;
max_eigvec for the top one), whose backward pass is

    dL/dX = ½ Y (Λ̃ ∘ YᵀV) Yᵀ + its transpose,   Λ̃ᵢⱼ = 1/(λᵢ − λⱼ)  (i ≠ j).

Three measurements:

  time     forward+backward of the full decomposition over m, for ddn's eigh_full,
           torch.linalg.eigh with autograd, and the seed's hand-written
           EigenDecompositionFcn ("PyTorch Implementation") in torch;
  gap      ‖dL/dX‖ as two eigenvalues λₖ, λₖ₊₁ = λₖ + ε approach (ε → 0): for a
           loss on one eigenvector it grows like 1/ε (the Λ̃ term); for a loss on
           the pair's invariant subspace (the projector yₖyₖᵀ + yₖ₊₁yₖ₊₁ᵀ) the two
           1/ε terms cancel and the gradient stays bounded;
  learn    a symmetric X learnt by gradient descent through max_eigvec so that
           its top eigenvector points along a target (the loss must fall).

Every loss is invariant to the eigenvectors' signs (±y are both optimal), so ddn
and torch give the same gradients whichever sign their eigh picks; X is
parametrised as (S + Sᵀ)/2 and the gradients compared are dL/dS.

    python examples/experiments/eigen.py [--quick] [--out DIR]
"""

from __future__ import annotations

import math

import torch

import _common
import ddn.torch

EPS = 1e-12


class SeedEigh(torch.autograd.Function):
    """The seed's "PyTorch Implementation" of the eigen decomposition node
    (for one matrix): eigh forward, the Λ̃ formula backward."""

    @staticmethod
    def forward(ctx, X):
        with torch.no_grad():
            lmd, Y = torch.linalg.eigh(0.5 * (X + X.T))
        ctx.save_for_backward(lmd, Y)
        return Y

    @staticmethod
    def backward(ctx, dJdY):
        lmd, Y = ctx.saved_tensors
        L = lmd[None, :] - lmd[:, None]
        L = torch.where(L.abs() < EPS, 0.0, 1.0 / L)
        dJdX = Y @ (L * (Y.T @ dJdY)) @ Y.T
        return 0.5 * (dJdX + dJdX.T)


def full_methods():
    layer = ddn.torch.Layer(_common.STDLIB / "eigen.ddn", "eigh_full")
    return {
        "torch.linalg.eigh": lambda X: torch.linalg.eigh(X)[1],
        "seed's Function": SeedEigh.apply,
        "ddn eigh_full": layer,
    }


def sym(S):
    return 0.5 * (S + S.T)


def grad_S(f, S, loss):
    S = S.detach().requires_grad_()
    value = loss(f(sym(S)))
    value.backward()
    return value.detach(), S.grad


def random_orthogonal(m: int, g: torch.Generator) -> torch.Tensor:
    q, _ = torch.linalg.qr(torch.randn(m, m, generator=g))
    return q


def timing(args, rows):
    sizes = [4, 8, 16] if args.quick else [4, 8, 16, 32, 64, 128, 256]
    repeats = 2 if args.quick else 5
    fs = full_methods()
    g = torch.Generator().manual_seed(0)
    for m in sizes:
        S = torch.randn(m, m, generator=g)
        W = torch.randn(m, m, generator=g)

        def loss(U):  # sign-invariant
            return (W * U * U).sum()

        grads = {}
        for name, f in fs.items():
            grads[name] = grad_S(f, S, loss)[1]
            t = _common.best_time(lambda: grad_S(f, S, loss), repeats)
            rows.append({"method": name, "m": m, "seconds": t})
            print(f"m={m:4d}  {name:18s} fwd+bwd {t * 1e3:9.3f} ms (CPU)", flush=True)
        ref = grads["torch.linalg.eigh"]
        for name, gr in grads.items():
            diff = (gr - ref).abs().max().item()
            scale = ref.abs().max().item()
            assert diff <= 1e-8 * scale * m, (name, m, diff, scale)


def gap(args):
    """‖dL/dS‖ as λₖ₊₁ − λₖ = ε → 0, for a loss on one eigenvector and one on
    the pair's subspace, through ddn and through torch."""
    m, k = 6, 2
    g = torch.Generator().manual_seed(1)
    Q = random_orthogonal(m, g)
    W = torch.randn(m, m, generator=g)
    W = W + W.T
    epsilons = [10.0**-e for e in ([0, 2, 4, 9] if args.quick else range(0, 11))]
    fs = {"ddn eigh_full": full_methods()["ddn eigh_full"], "torch.linalg.eigh": lambda X: torch.linalg.eigh(X)[1]}
    losses = {
        "one eigenvector: yₖᵀ W yₖ": lambda U: U[:, k] @ W @ U[:, k],
        "their subspace: ⟨W, yₖyₖᵀ + yₖ₊₁yₖ₊₁ᵀ⟩": lambda U: (W * (U[:, k : k + 2] @ U[:, k : k + 2].T)).sum(),
    }
    out = {}
    for eps in epsilons:
        lam = torch.tensor([-2.0, -1.0, 0.5, 0.5 + eps, 2.0, 3.0])
        S = Q @ torch.diag(lam) @ Q.T
        for lname, loss in losses.items():
            norms = {}
            for fname, f in fs.items():
                norms[fname] = grad_S(f, S, loss)[1].norm().item()
                out.setdefault(f"{fname} | {lname}", []).append((eps, norms[fname]))
            print(f"ε={eps:.0e}  {lname:42s} ‖dL/dS‖ ddn {norms['ddn eigh_full']:.3e}  torch {norms['torch.linalg.eigh']:.3e}")
            # The two agree while the problem is well conditioned; the error of
            # either grows like (machine ε)/ε², so compare only for ε ≥ 1e-4.
            if eps >= 1e-4:
                a, b = norms["ddn eigh_full"], norms["torch.linalg.eigh"]
                assert abs(a - b) <= 1e-6 * max(a, b), (eps, lname, a, b)
    first, second = (f"ddn eigh_full | {name}" for name in losses)
    norm = {key: dict(out[key]) for key in (first, second)}
    # One eigenvector: the gradient grows like 1/ε.
    assert norm[first][1e-4] > 50 * norm[first][1e-2] > 2500 * norm[first][1.0], norm[first]
    # The subspace: bounded.
    assert norm[second][1e-4] < 10 * norm[second][1.0], norm[second]
    # Below MIN_REL_GAP·max|λ| (src/diff/eigen.rs: 1e-8 · 3) ddn declines the
    # derivative (NaN, its status an error) rather than return noise.
    assert all(math.isnan(v) for eps, v in out[first] + out[second] if eps < 3e-8)
    return out


def learn(args):
    """Learn X so that max_eigvec(X) points along a target u⋆: L = 1 − (uᵀu⋆)²."""
    m = 5 if args.quick else 10
    steps = 40 if args.quick else 150
    layer = ddn.torch.Layer(_common.STDLIB / "eigen.ddn", "max_eigvec")
    g = torch.Generator().manual_seed(2)
    target = torch.nn.functional.normalize(torch.randn(m, generator=g), dim=0)
    S = torch.randn(m, m, generator=g).requires_grad_()
    opt = torch.optim.Adam([S], lr=0.05)
    losses = []
    for step in range(steps):
        opt.zero_grad()
        u = layer(sym(S))
        loss = 1.0 - (u @ target) ** 2
        loss.backward()
        opt.step()
        losses.append(loss.item())
        if step % max(1, steps // 8) == 0:
            print(f"learn step {step:4d} loss {loss.item():.4e}")
    assert losses[-1] < 0.1 * losses[0], (losses[0], losses[-1])
    return losses


def main():
    args = _common.parse_args(__doc__)
    _common.one_thread()
    plt = _common.pyplot()
    rows = []
    timing(args, rows)
    gaps = gap(args)
    losses = learn(args)
    _common.write_record(args, "eigen.json", {"machine": _common.machine(), "rows": rows, "gap": gaps, "learn": losses})

    fig, ax = plt.subplots(figsize=(5.5, 4))
    for name, style in zip(full_methods(), ["o-", "s--", "D-"]):
        pts = [(row["m"], row["seconds"] * 1e3) for row in rows if row["method"] == name]
        ax.plot(*zip(*pts), style, label=name)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("m (X is m×m)")
    ax.set_ylabel("forward + backward CPU time (ms)")
    ax.set_title("full eigen decomposition, one fwd+bwd")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    _common.savefig(fig, args, "eigen_time.png")
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6.5, 4))
    for (name, pts), style in zip(gaps.items(), ["o-", "x--", "s-", "+--"]):
        ax.plot(*zip(*pts), style, label=name)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.invert_xaxis()
    ax.set_xlabel("eigenvalue gap ε = λₖ₊₁ − λₖ")
    ax.set_ylabel("‖dL/dS‖,  X = (S + Sᵀ)/2")
    ax.axvline(3e-8, color="gray", lw=0.8, ls=":")
    ax.text(3e-8, 2 * ax.get_ylim()[0], " ddn declines below 1e-8·max|λ|", fontsize=7, va="bottom", ha="left")
    ax.set_title("gradients as two eigenvalues approach (m = 6)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="upper left")
    _common.savefig(fig, args, "eigen_gap.png")
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(5.5, 4))
    ax.plot(losses)
    ax.set_yscale("log")
    ax.set_xlabel("Adam step")
    ax.set_ylabel("1 − (uᵀu⋆)²")
    ax.set_title("learning X through max_eigvec")
    ax.grid(True, which="both", alpha=0.3)
    _common.savefig(fig, args, "eigen_learn.png")
    plt.close(fig)


if __name__ == "__main__":
    main()
