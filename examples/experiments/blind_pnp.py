"""Blind perspective-n-point: the camera pose from unmatched 2D and 3D points, learnt end to end.

The seed's "Application to Blind Perspective-n-Point" (Campbell, Liu, Gould,
ECCV 2020): given 3D points of a scene and the bearing vectors of 2D points in
an image, without knowing which 2D point sees which 3D point, find the camera
pose. "If we knew correspondences then determining camera pose would be easy;
if we knew camera pose then determining correspondences would be easy."

Synthetic scenes: n points uniform in the cube (-1, 1)^3; a camera about 4
units away, turned from the nominal pose (R = I, t = (0, 0, 4)) by a random
rotation of up to 15 degrees, its centre moved by up to 0.3 per axis. n - k of
the points are seen (their bearing vectors f_i = N(R x_j + t)); k are hidden,
and k outlier bearings (views of other random points of the cube) take their
place; the bearings are shuffled. Two models, trained with the same pose loss
‖R − R*‖²_F + ‖t − t*‖² on fresh scenes, same optimiser, same steps:

  ddn        learnt point features (an MLP of each centred image point, an MLP
             of each 3D point) → cost M_ij = ‖φ(f_i) − ψ(x_j)‖² → the entropic
             OT node (stdlib/optimal_transport.ddn, uniform marginals, γ learnt)
             → soft correspondences W → the PnP node (stdlib/pnp.ddn,
             weighted_pnp: the weighted angular reprojection error over R with
             RᵀR = I and t, from the nominal pose) → (R, t). The gradient of the
             pose loss flows through both declarative nodes into the features.
  regression the correspondence-free baseline: the same point MLPs, pooled
             (mean and max over each set), and an MLP from the pooled features
             to a rotation (angle-axis, applied to the nominal pose) and a
             translation.

Reported on a fixed test set, against training step: the median rotation
error (degrees) and translation error; beside them two references that do not
learn: the nominal pose (the prior both models start from) and the PnP node
with the true correspondences (what perfect features would give).

    python examples/experiments/blind_pnp.py [--quick] [--out DIR]
"""

from __future__ import annotations

import math

import torch

import _common
import ddn.torch

NOMINAL_T = (0.0, 0.0, 4.0)


def rodrigues(w: torch.Tensor) -> torch.Tensor:
    """(..., 3) angle-axis vectors → (..., 3, 3) rotations, R = I + sin θ K + (1 − cos θ) K²
    with K the cross-product matrix of the unit axis (θ = ‖w‖; a tiny θ is
    kept off zero, where the formula's limit is I)."""
    theta = w.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    k = w / theta
    zero = torch.zeros_like(k[..., 0])
    K = torch.stack(
        [
            torch.stack([zero, -k[..., 2], k[..., 1]], -1),
            torch.stack([k[..., 2], zero, -k[..., 0]], -1),
            torch.stack([-k[..., 1], k[..., 0], zero], -1),
        ],
        -2,
    )
    s, c = torch.sin(theta)[..., None], torch.cos(theta)[..., None]
    return torch.eye(3) + s * K + (1 - c) * K @ K


def scenes(count: int, n: int, hidden: int, g: torch.Generator, max_angle: float = 15.0) -> dict[str, torch.Tensor]:
    """`count` scenes of `n` 3D points and `n` shuffled bearings, `hidden` of the
    points unseen and as many outlier bearings; with the true pose and the true
    correspondences (a 0/1 matrix: bearing i sees point j)."""
    X = 2 * torch.rand(count, n, 3, generator=g) - 1
    axis = torch.randn(count, 3, generator=g)
    angle = math.radians(max_angle) * torch.rand(count, 1, generator=g)
    R = rodrigues(axis / axis.norm(dim=-1, keepdim=True) * angle)
    t = torch.tensor(NOMINAL_T) + 0.3 * (2 * torch.rand(count, 3, generator=g) - 1)
    seen = X.clone()
    seen[:, n - hidden :] = 2 * torch.rand(count, hidden, 3, generator=g) - 1  # outliers
    C = seen @ R.transpose(-1, -2) + t[:, None, :]
    f = C / C.norm(dim=-1, keepdim=True)
    perm = torch.stack([torch.randperm(n, generator=g) for _ in range(count)])
    f = torch.gather(f, 1, perm[..., None].expand(-1, -1, 3))
    truth = torch.zeros(count, n, n)
    inlier = perm < n - hidden
    rows, cols = inlier.nonzero(as_tuple=True)
    truth[rows, cols, perm[rows, cols]] = 1.0
    return {"X": X, "f": f, "R": R, "t": t, "truth": truth}


def mlp(inputs: int, width: int, outputs: int) -> torch.nn.Module:
    return torch.nn.Sequential(
        torch.nn.Linear(inputs, width), torch.nn.ReLU(), torch.nn.Linear(width, width), torch.nn.ReLU(), torch.nn.Linear(width, outputs)
    )


def image_points(f: torch.Tensor) -> torch.Tensor:
    """Bearings → image coordinates on the plane z = 4 (the nominal depth, so
    they are in the cube's units)."""
    return 4.0 * f[..., :2] / f[..., 2:]


class BlindPnP(torch.nn.Module):
    """Features → cost → entropic OT → weighted PnP."""

    def __init__(self, width: int, dim: int):
        super().__init__()
        self.phi = mlp(2, width, dim)  # a centred image point
        self.psi = mlp(3, width, dim)  # a 3D point
        self.log_gamma = torch.nn.Parameter(torch.tensor(math.log(10.0)))
        self.ot = ddn.torch.Layer(_common.STDLIB / "optimal_transport.ddn", "entropic_ot")
        self.pnp = ddn.torch.Layer(_common.STDLIB / "pnp.ddn", "weighted_pnp")

    def weights(self, f: torch.Tensor, X: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The soft correspondences W (each row sums to 1/m, each column to 1/n)
        and which instances the OT node solved. Features are unit vectors, so
        the costs lie in [0, 4] and γ alone sets how sharp W is."""
        u = image_points(f)
        a = torch.nn.functional.normalize(self.phi(u - u.mean(1, keepdim=True)), dim=-1)
        b = torch.nn.functional.normalize(self.psi(X), dim=-1)
        M = ((a[:, :, None, :] - b[:, None, :, :]) ** 2).sum(-1)
        _, m, n = M.shape
        r, c = torch.full((m,), 1.0 / m), torch.full((n,), 1.0 / n)
        W = self.ot(M, r, c, self.log_gamma.exp())
        return W, solved(self.ot)

    def pose(self, W: torch.Tensor, f: torch.Tensor, X: torch.Tensor):
        """The PnP node from the nominal pose, on the instances whose W is
        finite. An instance it does not solve (out of iterations) is dropped
        from the loss, and its gradient (NaN) is replaced by zero before it
        reaches the features."""
        R0, t0 = torch.eye(3), torch.tensor(NOMINAL_T)
        R, t = self.pnp(W, f, X, R0, t0)
        ok = solved(self.pnp)
        if W.requires_grad:
            W.register_hook(lambda g: torch.where(ok[:, None, None], g, torch.zeros_like(g)))
        return R, t, ok

    def forward(self, f, X):
        """(R, t) per instance, and which instances both nodes solved (the
        others' poses are NaN)."""
        W, ok = self.weights(f, X)
        R = torch.full((W.shape[0], 3, 3), math.nan)
        t = torch.full((W.shape[0], 3), math.nan)
        R[ok], t[ok], solved_pnp = self.pose(W[ok], f[ok], X[ok])
        ok[ok.clone()] = solved_pnp
        return R, t, ok


def solved(layer) -> torch.Tensor:
    """Which instances of the layer's last call were solved."""
    return layer.last_status.reshape(-1) <= max(ddn.SOLVED)


class Regression(torch.nn.Module):
    """The correspondence-free baseline: pooled point features → pose."""

    def __init__(self, width: int, dim: int):
        super().__init__()
        self.phi = mlp(2, width, dim)
        self.psi = mlp(3, width, dim)
        self.head = mlp(4 * dim, width, 6)

    def forward(self, f, X):
        a, b = self.phi(image_points(f)), self.psi(X)
        pooled = torch.cat([a.mean(1), a.amax(1), b.mean(1), b.amax(1)], -1)
        out = self.head(pooled)
        R = rodrigues(out[:, :3])
        t = torch.tensor(NOMINAL_T) + out[:, 3:]
        ok = torch.ones(R.shape[0], dtype=torch.bool)
        return R, t, ok


def pose_loss(R, t, s):
    return ((R - s["R"]) ** 2).sum((-1, -2)) + ((t - s["t"]) ** 2).sum(-1)


def errors(R, t, s) -> tuple[torch.Tensor, torch.Tensor]:
    """Rotation error in degrees (the angle of R*ᵀR) and translation error ‖t − t*‖."""
    cos = ((R.transpose(-1, -2) @ s["R"]).diagonal(dim1=-2, dim2=-1).sum(-1) - 1) / 2
    return torch.rad2deg(torch.arccos(cos.clamp(-1, 1))), (t - s["t"]).norm(dim=-1)


def evaluate(model, test) -> dict[str, float]:
    """Median errors and mean pose loss over the test instances solved, how
    many were not, and for the ddn model the fraction of seen bearings whose
    largest weight is on their true point."""
    with torch.no_grad():
        R, t, ok = model(test["f"], test["X"])
        out = {}
        if isinstance(model, BlindPnP):
            W, _ = model.weights(test["f"], test["X"])
            seen = test["truth"].sum(-1) > 0
            right = torch.gather(test["truth"], -1, W.argmax(-1, keepdim=True))[..., 0]
            out = {"matches": right[seen].mean().item(), "gamma": model.log_gamma.exp().item()}
    rot, trans = errors(R, t, test)
    return {
        "rotation_deg": rot[ok].median().item(),
        "translation": trans[ok].median().item(),
        "loss": pose_loss(R, t, test)[ok].mean().item(),
        "unsolved": int((~ok).sum()),
        **out,
    }


def correspondence_loss(W, truth):
    """−mean over the seen bearings of log(m W_ij) at their true point j (each
    row of W sums to 1/m: m W's row is a distribution over the points)."""
    m = W.shape[-2]
    seen = truth.sum(-1) > 0
    return -(truth * torch.log((m * W).clamp_min(1e-12))).sum(-1)[seen].mean()


def train(kind, args, test, g_data):
    """`args.steps` Adam steps on fresh scenes. The regression model learns from
    the pose loss alone. The ddn model, as in Campbell et al., first learns its
    correspondences alone (the OT node's plan against the true matches) for
    `args.warmup` steps, then adds the pose loss through the PnP node."""
    torch.manual_seed(1)
    model = BlindPnP(args.width, args.dim) if kind == "ddn" else Regression(args.width, args.dim)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    curve = {"step": [], "train_loss": [], "eval": []}
    unsolved = 0  # training instances either node did not solve
    for step in range(args.steps + 1):
        if step % args.eval_every == 0 or step == args.steps:
            e = evaluate(model, test)
            curve["eval"].append({"step": step, **e})
            print(
                f"{kind:10s} step {step:4d}  test: rotation {e['rotation_deg']:6.2f} deg  "
                f"translation {e['translation']:.3f}  loss {e['loss']:.4f}  unsolved {e['unsolved']}"
                + (f"  matches {e['matches']:.2f}  gamma {e['gamma']:.1f}" if "matches" in e else ""),
                flush=True,
            )
        if step == args.steps:
            break
        s = scenes(args.batch, args.points, args.hidden, g_data)
        if kind == "ddn":
            W, ok = model.weights(s["f"], s["X"])
            unsolved += int((~ok).sum())
            W, s = W[ok], {k: v[ok] for k, v in s.items()}
            loss = correspondence_loss(W, s["truth"])
            if step >= args.warmup:
                R, t, ok = model.pose(W, s["f"], s["X"])
                unsolved += int((~ok).sum())
                loss = loss + pose_loss(R[ok], t[ok], {"R": s["R"][ok], "t": s["t"][ok]}).mean()
        else:
            R, t, _ = model(s["f"], s["X"])
            loss = pose_loss(R, t, s).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        curve["step"].append(step)
        curve["train_loss"].append(loss.item())
    if kind == "ddn":
        curve["unsolved_in_training"] = unsolved
        curve["gamma"] = model.log_gamma.exp().item()
    return curve


def references(test, args) -> dict[str, dict[str, float]]:
    """The nominal pose, and the PnP node given the true correspondences."""
    count = test["R"].shape[0]
    R0 = torch.eye(3).expand(count, 3, 3)
    t0 = torch.tensor(NOMINAL_T).expand(count, 3)
    rot, trans = errors(R0, t0, test)
    out = {"nominal pose": {"rotation_deg": rot.median().item(), "translation": trans.median().item()}}
    pnp = ddn.torch.Layer(_common.STDLIB / "pnp.ddn", "weighted_pnp")
    W = test["truth"] / test["truth"].sum((-1, -2), keepdim=True)
    R, t = pnp(W, test["f"], test["X"], torch.eye(3), torch.tensor(NOMINAL_T))
    ok = solved(pnp)
    rot, trans = errors(R, t, test)
    out["PnP, true correspondences"] = {
        "rotation_deg": rot[ok].median().item(),
        "translation": trans[ok].median().item(),
        "unsolved": int((~ok).sum()),
    }
    return out


def main():
    def extra(p):
        p.add_argument("--steps", type=int, default=None)

    args = _common.parse_args(__doc__, extra)
    _common.one_thread()
    plt = _common.pyplot()
    quick = dict(points=8, hidden=1, batch=8, steps=40, warmup=20, eval_every=5, test=16, width=32, dim=16, lr=3e-3)
    full = dict(points=12, hidden=2, batch=16, steps=200, warmup=60, eval_every=10, test=48, width=64, dim=32, lr=3e-3)
    for k, v in (quick if args.quick else full).items():
        if k != "steps" or args.steps is None:
            setattr(args, k, v)
    test = scenes(args.test, args.points, args.hidden, torch.Generator().manual_seed(1234))
    refs = references(test, args)
    for name, r in refs.items():
        print(f"{name:28s} rotation {r['rotation_deg']:6.2f} deg  translation {r['translation']:.3f}")
    runs = {}
    for kind in ("ddn", "regression"):
        runs[kind] = train(kind, args, test, torch.Generator().manual_seed(99))
    for kind, c in runs.items():
        first, last = c["eval"][0]["loss"], c["eval"][-1]["loss"]
        assert last < first, (kind, first, last)
    _common.write_record(
        args,
        "blind_pnp.json",
        {
            "machine": _common.machine(),
            "settings": {k: getattr(args, k) for k in quick},
            "references": refs,
            "runs": runs,
        },
    )
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.8))
    colours = {"ddn": "C0", "regression": "C1"}
    labels = {"ddn": "features → OT node → PnP node", "regression": "regression (no correspondences)"}
    exact = refs["PnP, true correspondences"]
    for ax, key, title in [
        (axes[0], "rotation_deg", "test rotation error (median, degrees)"),
        (axes[1], "translation", "test translation error (median)"),
    ]:
        for kind, c in runs.items():
            e = c["eval"][1:]  # step 0: the untrained ddn model's PnP mostly diverges
            ax.plot([x["step"] for x in e], [x[key] for x in e], colours[kind], marker=".", label=labels[kind])
        ax.axhline(refs["nominal pose"][key], color="k", linestyle="--", linewidth=1, label="nominal pose (the prior)")
        ax.axvline(args.warmup, color="grey", linestyle=":", linewidth=1, label="ddn: pose loss from here")
        ax.set_xlabel("training step")
        ax.set_title(title)
        ax.set_ylim(bottom=0)
        ax.grid(True, alpha=0.3)
    axes[0].legend(
        fontsize=8, loc="lower left", title_fontsize=8,
        title=f"PnP, true correspondences: {exact['rotation_deg']:.0e} deg, {exact['translation']:.0e}",
    )
    e = runs["ddn"]["eval"]
    axes[2].plot([x["step"] for x in e], [x["matches"] for x in e], "C0", marker=".", label="seen bearings matched (argmax of W)")
    axes[2].plot([x["step"] for x in e], [x["unsolved"] / args.test for x in e], "C3", marker=".", label="PnP not solved (200 iterations)")
    axes[2].axvline(args.warmup, color="grey", linestyle=":", linewidth=1)
    axes[2].set_ylim(0, 1)
    axes[2].set_xlabel("training step")
    axes[2].set_title("ddn model on the test scenes (fractions)")
    axes[2].grid(True, alpha=0.3)
    axes[2].legend(fontsize=8)
    fig.suptitle(
        f"blind PnP: {args.points} 3D points, {args.hidden} hidden and {args.hidden} outlier bearings, "
        f"{args.test} test scenes, batch {args.batch}, Adam lr {args.lr}"
    )
    _common.savefig(fig, args, "blind_pnp.png")
    plt.close(fig)


if __name__ == "__main__":
    main()
