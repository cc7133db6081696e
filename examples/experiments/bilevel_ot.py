"""Bilevel optimal transport: the seed's experiment, three ways of differentiating Sinkhorn.

The seed's "Experiment" (after "Implementation"): learn the cost matrix M so that
the entropic OT plan matches a target plan,

    minimize_M  ½ ‖P*(M) − P_target‖²_F
    P*(M) = argmin_P ⟨M, P⟩ + (1/γ) Σ P log P   s.t.  P 1 = r,  Pᵀ1 = c,

with r = 1/m, c = 1/n, γ = 30, and P_target the plan of a hidden cost M_true
(squared distances between random points in the unit square, scaled to [0, 1];
Sinkhorn then takes 60 to 90 iterations at every size).
dL/dM is computed three ways, from the same forward pass (Sinkhorn from β = 1
until ‖P1 − r‖₁ ≤ 1e-9, the stdlib node's test):

  unrolled     torch autograd through every Sinkhorn iteration (α ← r ⊘ Kβ, β ← c ⊘ Kᵀα)
  unrolled-log the same in the log domain (log-sum-exps), the numerically safe form
               users reach for; autograd keeps an m×n tensor per iteration
  implicit     the seed's hand-written backward ("Optimal Transport Gradient",
               "Implementation"): the equality-constrained node's formula with the
               first row-sum constraint dropped, (AH⁻¹Aᵀ)⁻¹ by a Cholesky factor of
               its Schur complement
  ddn          the stdlib node entropic_ot as a ddn.torch.Layer (Sinkhorn and the
               closed-form backward in Rust)

and compared on running time and peak memory of one forward+backward over sizes
m = n up to 512 (the seed's "Results: Running Time" and "Results: Memory Usage"),
and on the upper-level loss over gradient steps (all four must give the same
gradients, and so the same loss curve).

    python examples/experiments/bilevel_ot.py [--quick] [--out DIR]
"""

from __future__ import annotations

import torch

import _common
import ddn.torch

GAMMA = 30.0
TOL = 1e-9
MAX_ITER = 100_000
#: The iteration counts of kernel_sinkhorn's calls.
ITERATIONS: list[int] = []


def kernel_sinkhorn(K: torch.Tensor, r: torch.Tensor, c: torch.Tensor):
    """Scalings (α, β) with P = diag(α) K diag(β): the seed's iteration, from β = 1,
    stopping when the row sums of the current plan are within TOL of r (the
    columns are exact after each β update). Differentiable when K requires grad."""
    beta = torch.ones_like(c)
    for iterations in range(1, MAX_ITER + 1):
        alpha = r / (K @ beta)
        beta = c / (K.T @ alpha)
        with torch.no_grad():
            if (alpha * (K @ beta) - r).abs().sum() <= TOL:
                ITERATIONS.append(iterations)
                return alpha, beta
    raise RuntimeError("Sinkhorn did not converge")


def unrolled(M, r, c):
    K = torch.exp(-GAMMA * M)
    alpha, beta = kernel_sinkhorn(K, r, c)
    return alpha[:, None] * K * beta[None, :]


def unrolled_log(M, r, c):
    """The same iteration on the potentials f = log(α)/γ, g = log(β)/γ."""
    log_r, log_c = torch.log(r), torch.log(c)
    g = torch.zeros_like(c)
    for _ in range(MAX_ITER):
        f = (log_r - torch.logsumexp(GAMMA * (g[None, :] - M), dim=1)) / GAMMA
        g = (log_c - torch.logsumexp(GAMMA * (f[:, None] - M), dim=0)) / GAMMA
        P = torch.exp(GAMMA * (f[:, None] + g[None, :] - M))
        with torch.no_grad():
            if (P.sum(1) - r).abs().sum() <= TOL:
                return P
    raise RuntimeError("Sinkhorn did not converge")


class SeedImplicit(torch.autograd.Function):
    """The seed's "Implementation" slide, for one m×n problem: with V = dL/dP,

        dL/dM = γ V diag(P) Aᵀ Λ A diag(P) − γ V diag(P),
        Λ = γ (A H⁻¹ Aᵀ)⁻¹ = [diag(r₂:ₘ)  P₂:ₘ; P₂:ₘᵀ  diag(c)]⁻¹,

    A the row sums 2..m and all column sums. Λ is applied through the Schur
    complement Λ₁₁⁻¹ = diag(r₂:ₘ) − P₂:ₘ diag(c)⁻¹ P₂:ₘᵀ, factored by Cholesky
    (as the slide's lmd_11, lmd_12, lmd_22)."""

    @staticmethod
    def forward(ctx, M, r, c):
        with torch.no_grad():
            K = torch.exp(-GAMMA * M)
            alpha, beta = kernel_sinkhorn(K, r, c)
            P = alpha[:, None] * K * beta[None, :]
        ctx.save_for_backward(r, c, P)
        return P

    @staticmethod
    def backward(ctx, dLdP):
        r, c, P = ctx.saved_tensors
        # -vᵀH⁻¹ (H⁻¹ = γ diag(P)); the γ is applied at the end.
        W = P * dLdP
        # vᵀH⁻¹Aᵀ: row sums 2..m, column sums.
        a1, a2 = W[1:].sum(1), W.sum(0)
        P_over_c = P[1:] / c
        L11 = torch.linalg.cholesky(torch.diag(r[1:]) - P_over_c @ P[1:].T)
        # Block elimination of [diag(r₂:ₘ) P₂:ₘ; P₂:ₘᵀ diag(c)] μ = (a1, a2).
        mu_r = torch.cholesky_solve((a1 - P_over_c @ a2)[:, None], L11)[:, 0]
        mu_c = (a2 - P[1:].T @ mu_r) / c
        mu_r = torch.cat([mu_r.new_zeros(1), mu_r])
        return GAMMA * (P * (mu_r[:, None] + mu_c[None, :]) - W), None, None


def problem(n: int, seed: int = 0):
    """Squared distances between two sets of n random points in the unit square,
    scaled to [0, 1]: the hidden cost M_true, and the starting cost M0."""
    g = torch.Generator().manual_seed(seed)

    def cost():
        x, y = torch.rand(n, 2, generator=g), torch.rand(n, 2, generator=g)
        M = ((x[:, None, :] - y[None, :, :]) ** 2).sum(2)
        return M / M.max()

    M_true, M0 = cost(), cost()
    r = torch.full((n,), 1.0 / n)
    c = torch.full((n,), 1.0 / n)
    return M_true, M0, r, c


def methods():
    layer = ddn.torch.Layer(_common.STDLIB / "optimal_transport.ddn", "entropic_ot")
    gamma = torch.tensor(GAMMA)
    return {
        "unrolled": unrolled,
        "unrolled-log": unrolled_log,
        "implicit (seed)": SeedImplicit.apply,
        "ddn": lambda M, r, c: layer(M, r, c, gamma),
    }


def loss_and_grad(f, M, r, c, P_target):
    M = M.detach().requires_grad_()
    loss = 0.5 * ((f(M, r, c) - P_target) ** 2).sum()
    loss.backward()
    return loss.detach(), M.grad


def train(f, M0, r, c, P_target, steps: int, lr: float):
    """Adam on M; the loss at every step."""
    M = M0.clone().requires_grad_()
    opt = torch.optim.Adam([M], lr=lr)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = 0.5 * ((f(M, r, c) - P_target) ** 2).sum()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def memory_probe(name: str, sizes: list[int]):
    """Printed: the peak memory of one forward+backward of `name` at each size,
    after a warm-up call at the first (in a fresh process: see
    _common.peak_memory_of)."""
    f = methods()[name]
    for k, n in enumerate([sizes[0], *sizes]):
        M_true, M0, r, c = problem(n)
        with torch.no_grad():
            P_target = unrolled(M_true, r, c)
        mem = _common.peak_memory(lambda: loss_and_grad(f, M0, r, c, P_target))
        if k > 0:
            print(mem, flush=True)


def main():
    args = _common.parse_args(__doc__)
    _common.one_thread()
    if args.memory_probe:
        return memory_probe(args.memory_probe[0], [int(s) for s in args.memory_probe[1].split(",")])
    plt = _common.pyplot()
    fs = methods()
    sizes = [8, 16, 32] if args.quick else [16, 32, 64, 128, 256, 512]
    repeats = 2 if args.quick else 5
    train_n, steps, lr = (8, 40, 0.05) if args.quick else (64, 200, 0.02)

    # Time, memory and agreement of the gradients, per size.
    rows = []
    for n in sizes:
        M_true, M0, r, c = problem(n)
        with torch.no_grad():
            P_target = fs["ddn"](M_true, r, c)
            unrolled(M0, r, c)
        iterations = ITERATIONS[-1]
        print(f"n={n:4d}  Sinkhorn iterations to tol {TOL:g}: {iterations}", flush=True)
        grads = {}
        for name, f in fs.items():
            grads[name] = loss_and_grad(f, M0, r, c, P_target)[1]
            t = _common.best_time(lambda: loss_and_grad(f, M0, r, c, P_target), repeats)
            rows.append({"method": name, "n": n, "seconds": t, "sinkhorn_iterations": iterations})
            print(f"n={n:4d}  {name:16s} fwd+bwd {t * 1e3:9.2f} ms (CPU)", flush=True)
        scale = grads["unrolled"].abs().max().item()
        for name, g in grads.items():
            diff = (g - grads["unrolled"]).abs().max().item()
            print(f"n={n:4d}  {name:16s} max |dL/dM − unrolled's| = {diff:.2e} (max |dL/dM| {scale:.2e})")
            # Same tolerance, same forward: the gradients agree to well within
            # what the stopping tolerance allows.
            assert diff <= 1e-5 * scale, (name, n, diff, scale)

    for name in fs:
        for n, mem in zip(sizes, _common.peak_memory_of(__file__, name, sizes)):
            next(row for row in rows if row["method"] == name and row["n"] == n)["peak_bytes"] = mem
            print(f"n={n:4d}  {name:16s} peak memory {mem / 2**20:8.2f} MiB", flush=True)

    # The upper-level problem, solved with each gradient.
    M_true, M0, r, c = problem(train_n, seed=1)
    with torch.no_grad():
        P_target = fs["ddn"](M_true, r, c)
    curves = {name: train(f, M0, r, c, P_target, steps, lr) for name, f in fs.items()}
    for name, losses in curves.items():
        for k in range(0, steps, max(1, steps // 6)):
            print(f"{name:16s} step {k:4d} loss {losses[k]:.4e}")
        assert losses[-1] < 0.5 * losses[0], (name, losses[0], losses[-1])
        assert abs(losses[-1] - curves["ddn"][-1]) <= 1e-3 * curves["ddn"][0], name

    _common.write_record(
        args,
        "bilevel_ot.json",
        {"machine": _common.machine(), "gamma": GAMMA, "tol": TOL, "rows": rows, "train_n": train_n, "curves": curves},
    )
    styles = {"unrolled": "o-", "unrolled-log": "v--", "implicit (seed)": "s-", "ddn": "D-"}
    for key, ylabel, scale, fname in [
        ("seconds", "forward + backward CPU time (ms)", 1e3, "bilevel_ot_time.png"),
        ("peak_bytes", "peak memory growth (MiB)", 1 / 2**20, "bilevel_ot_memory.png"),
    ]:
        fig, ax = plt.subplots(figsize=(5.5, 4))
        for name in fs:
            pts = [(row["n"], max(row[key] * scale, 4e-3)) for row in rows if row["method"] == name]
            ax.plot(*zip(*pts), styles[name], label=name)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("problem size m = n")
        ax.set_ylabel(ylabel)
        ax.set_title(f"bilevel OT, one fwd+bwd (γ = {GAMMA:g}, tol {TOL:g})")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
        _common.savefig(fig, args, fname)
        plt.close(fig)
    fig, ax = plt.subplots(figsize=(5.5, 4))
    for name, losses in curves.items():
        ax.plot(range(len(losses)), losses, styles[name][1:], label=name)
    ax.set_yscale("log")
    ax.set_xlabel("Adam step")
    ax.set_ylabel("½‖P − P_target‖²")
    ax.set_title(f"upper-level loss, m = n = {train_n}")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    _common.savefig(fig, args, "bilevel_ot_loss.png")
    plt.close(fig)


if __name__ == "__main__":
    main()
