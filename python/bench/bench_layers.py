"""The ddn torch layer beside its peers, and the Python overhead of a ddn call.

On the peers' own instances (../shared/bench/peers/qp_problems.py: OptNet QPs with
n variables, 2n inequalities, n/5 equalities, a planted strictly complementary
solution), in one process on one thread, float64, loss = sum(x*):

    ddn          ddn.torch.Layer(stdlib/optnet_qp.ddn)
    qpth         qpth.qp.QPFunction (OptNet's batched interior point), defaults
    proxsuite    proxsuite.torch.qplayer.QPFunction, defaults
    cvxpylayers  CvxpyLayer (diffcp, Clarabel at 1e-10, dense derivative; Q through
                 its factor L as in the peers' bench_qp.py), n <= 50 only

Every layer's x* is checked against the planted solution before it is timed.

The other rows of issue 12's list, each beside the hand-written torch Function of
../shared/bench/peers (imported from there, with the instances of
../shared/bench/side_by_side.py), forward + backward with a fixed cotangent:

    least squares   n = 8, 128, 512, m = 2n: bench_lstsq's QRLstsq (QR forward, two
                    triangular solves backward) and, n <= 128, its cvxpylayers layer
                    (Clarabel at 1e-10, dense derivative); ddn: stdlib/least_squares.ddn
    entropic OT     256 x 256, gamma = 10, tolerance 1e-9 on |P1 - r|_1: bench_sinkhorn's
                    implicit Function (Schur complement); ddn: stdlib/optimal_transport.ddn
    robust pooling  batch 16, n = 1024, d = 16, pseudo-Huber on point distances:
                    bench_robust_pool's implicit Function (batched Newton); ddn: the
                    side-by-side script's node, the batch as one call

Each peer's outputs and gradients are checked equal to ddn's (to a tolerance from its
solver's stopping test) before timing.
`--only proxsuite`: ddn beside proxsuite alone on make_qp(n, 0), n = 10, 50, 200, the
two layers' x* and dL/dp checked equal before timing.

The Python overhead: the median of an unbatched ddn forward call from Python
(ddn.Node.forward and ddn.torch.Layer) minus the median of the Rust work it
wraps (binding the inputs and the solve, as `ddnc bench` times it), on the
least-squares node (n = 8) and the QP (n = 10). Target: <= 20 µs.

Run with the peers' environment (which has the peers; ddn from the staged
extension: scripts/test builds it in target/python-dev, or any `pip install`):

    RAYON_NUM_THREADS=1 PYTHONPATH=target/python-dev \\
        ~/.cache/ddn-peers/bin/python python/bench/bench_layers.py [--quick] [--only ROW]

Build the extension optimised for timings (the test profile has debug assertions).
"""

from __future__ import annotations

import argparse
import importlib
import os
import pathlib
import statistics
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
PEERS = ROOT.parent / "shared" / "bench" / "peers"

os.environ.setdefault("RAYON_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

import ddn  # noqa: E402
import ddn.torch  # noqa: E402

torch.set_num_threads(1)
torch.set_default_dtype(torch.float64)
ddn.set_num_threads(1)


def median_time(fn, budget: float, min_reps: int = 5, max_reps: int = 2000) -> float:
    fn()
    times = []
    start = time.perf_counter()
    while len(times) < max_reps and (len(times) < min_reps or time.perf_counter() - start < budget):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def show(seconds: float) -> str:
    return f"{seconds * 1e6:.1f} µs" if seconds < 1e-3 else f"{seconds * 1e3:.3f} ms"


def layers():
    sys.path.insert(0, str(PEERS))
    found = {}
    qp_layer = ddn.torch.Layer(ROOT / "stdlib" / "optnet_qp.ddn", "optnet_qp", on_failure="raise")
    found["ddn"] = lambda T: qp_layer(T["Q"], T["p"], T["G"], T["h"], T["A"], T["b"])
    try:
        from qpth.qp import QPFunction

        found["qpth"] = lambda T: QPFunction(verbose=-1)(T["Q"], T["p"], T["G"], T["h"], T["A"], T["b"])
    except ImportError as e:
        print(f"(qpth not available: {e})")
    try:
        from proxsuite.torch.qplayer import QPFunction as ProxQP

        def prox(T):
            lo = torch.full_like(T["h"], -1e20)
            return ProxQP()(T["Q"], T["p"], T["A"], T["b"], T["G"], lo, T["h"])[0]

        found["proxsuite"] = prox
    except ImportError as e:
        print(f"(proxsuite not available: {e})")
    try:
        import cvxpy as cp
        from cvxpylayers.torch import CvxpyLayer

        cache = {}

        def cvx(T):
            n = T["p"].shape[-1]
            if n not in cache:
                L, p = cp.Parameter((n, n)), cp.Parameter(n)
                G, h = cp.Parameter((2 * n, n)), cp.Parameter(2 * n)
                A, b = cp.Parameter((max(1, n // 5), n)), cp.Parameter(max(1, n // 5))
                x = cp.Variable(n)
                obj = 0.5 * cp.sum_squares(L.T @ x) + 0.05 * cp.sum_squares(x) + p @ x
                cache[n] = CvxpyLayer(cp.Problem(cp.Minimize(obj), [G @ x <= h, A @ x == b]), [L, p, G, h, A, b], [x])
            tight = {"solve_method": "CLARABEL", "mode": "dense", "tol_gap_abs": 1e-10, "tol_gap_rel": 1e-10,
                     "tol_feas": 1e-10, "n_jobs_forward": 1, "n_jobs_backward": 1}
            return cache[n](T["L"], T["p"], T["G"], T["h"], T["A"], T["b"], solver_args=tight)[0]

        found["cvxpylayers"] = cvx
    except ImportError as e:
        print(f"(cvxpylayers not available: {e})")
    return found


def qp_table(quick: bool) -> None:
    import qp_problems

    sizes = [10, 50] if quick else [10, 50, 200]
    budget = 0.2 if quick else 0.6
    impls = layers()
    print("\nOptNet QP layer, forward+backward, median (ratio: peer / ddn; > 1: ddn faster)\n")
    print("| n | batch | " + " | ".join(impls) + " |")
    print("|---|---|" + "---|" * len(impls))
    for n in sizes:
        for B in (1, 16):
            qps = qp_problems.make_batch(n, B)
            row = {}
            for name, run in impls.items():
                if name == "cvxpylayers" and n > 50:
                    continue

                def tensors():
                    def st(attr):
                        a = np.stack([getattr(q, attr) for q in qps])
                        return torch.tensor(a[0] if B == 1 else a).requires_grad_()

                    return {k: st(k) for k in ("Q", "L", "p", "G", "h", "A", "b")}

                T = tensors()
                x = run(T)
                planted = np.stack([q.x for q in qps]).reshape(x.shape)
                err = float(np.abs(x.detach().numpy() - planted).max())
                if err > 1e-5 and name != "cvxpylayers":
                    raise SystemExit(f"{name}, n = {n}, batch {B}: |x - x_planted| = {err:.1e}")

                def step():
                    T2 = tensors()
                    run(T2).sum().backward()

                row[name] = median_time(step, budget)
            base = row["ddn"]
            cells = [show(row[k]) + ("" if k == "ddn" else f" ({row[k] / base:.1f}×)") if k in row else "–" for k in impls]
            print(f"| {n} | {B} | " + " | ".join(cells) + " |", flush=True)


def proxsuite_table(quick: bool) -> None:
    """ddn.torch.Layer beside proxsuite's QPLayer on make_qp(n, 0): forward + backward."""
    sys.path.insert(0, str(PEERS))
    import qp_problems
    from proxsuite.torch.qplayer import QPFunction as ProxQP

    layer = ddn.torch.Layer(ROOT / "stdlib" / "optnet_qp.ddn", "optnet_qp", on_failure="raise")
    runs = {
        "ddn": lambda T: layer(T["Q"], T["p"], T["G"], T["h"], T["A"], T["b"]),
        "proxsuite": lambda T: ProxQP()(T["Q"], T["p"], T["A"], T["b"], T["G"], torch.full_like(T["h"], -1e20), T["h"])[0],
    }
    print("\nddn beside proxsuite on make_qp(n, 0), forward+backward of sum(x*), median (ratio: proxsuite / ddn)\n")
    print("| n | ddn | proxsuite |")
    print("|---|---|---|")
    for n in [10, 50] if quick else [10, 50, 200]:
        q = qp_problems.make_qp(n, 0)

        def tensors():
            return {k: torch.tensor(getattr(q, k)).requires_grad_() for k in ("Q", "p", "G", "h", "A", "b")}

        answers = {}
        for name, run in runs.items():
            T = tensors()
            x = run(T)
            x.sum().backward()
            answers[name] = (x.detach().numpy(), T["p"].grad.numpy())
        (x1, g1), (x2, g2) = answers["ddn"], answers["proxsuite"]
        if np.abs(x1 - x2).max() > 1e-5 or np.abs(x1 - q.x).max() > 1e-5 or np.abs(g1 - g2).max() > 1e-4:
            raise SystemExit(f"n = {n}: the layers disagree (x: {np.abs(x1 - x2).max():.1e}, dL/dp: {np.abs(g1 - g2).max():.1e})")
        row = {}
        for name, run in runs.items():

            def step():
                run(tensors()).sum().backward()

            row[name] = median_time(step, 0.3 if quick else 1.5)
        print(f"| {n} | {show(row['ddn'])} | {show(row['proxsuite'])} ({row['proxsuite'] / row['ddn']:.2f}×) |", flush=True)


def peer(name: str):
    """The peers' script ../shared/bench/peers/NAME.py as a module (imported, so
    its own functions and generators run). Its argument parser reads sys.argv
    on import: it is given `--threads 1`, this script's mode."""
    if str(PEERS) not in sys.path:
        sys.path.insert(0, str(PEERS))
    argv, sys.argv = sys.argv, [name, "--threads", "1"]
    try:
        return importlib.import_module(name)
    finally:
        sys.argv = argv


def max_rel_diff(a: torch.Tensor, ref: torch.Tensor) -> float:
    """max |a - ref| / max |ref| (NaN anywhere: inf)."""
    diff = float((a.detach() - ref.detach()).abs().max())
    return diff / max(float(ref.detach().abs().max()), 1e-300) if np.isfinite(diff) else float("inf")


def compare_and_time(work: str, runs: dict, leaves: list[torch.Tensor], cot: torch.Tensor, tolerance: dict, budget: float) -> None:
    """One table row per peer: the outputs and the gradients (of the leaves that
    require grad, for the cotangent `cot`) of each run checked against ddn's,
    the first run, to its `tolerance`; then forward + backward timed, fresh
    leaves every call (as ../shared/bench/side_by_side.py's `fb`)."""

    def call(run):
        xs = [t.detach().clone().requires_grad_(t.requires_grad) for t in leaves]
        y = run(*xs)
        return y, torch.autograd.grad(y, [x for x in xs if x.requires_grad], grad_outputs=cot.reshape(y.shape))

    answers = {name: call(run) for name, run in runs.items()}
    y_ddn, g_ddn = answers["ddn"]
    diffs = {}
    for name, (y, g) in answers.items():
        if name == "ddn":
            continue
        dy = max_rel_diff(y, y_ddn)
        dg = max(max_rel_diff(a, b) for a, b in zip(g, g_ddn))
        if not (dy <= tolerance[name] and dg <= tolerance[name]):
            raise SystemExit(f"{work}, {name}: differs from ddn by {dy:.1e} (outputs), {dg:.1e} (gradients), relative")
        diffs[name] = (dy, dg)
    times = {name: median_time(lambda run=run: call(run), budget) for name, run in runs.items()}
    for name, (dy, dg) in diffs.items():
        ratio = times[name] / times["ddn"]
        print(f"| {work} | {name} | {show(times['ddn'])} | {show(times[name])} | {ratio:.2f}× | {dy:.0e}, {dg:.0e} |", flush=True)


def least_squares_rows(quick: bool) -> None:
    """ddn's least_squares node beside bench_lstsq's QR Function and its cvxpylayers layer."""
    try:
        lstsq = peer("bench_lstsq")  # imports cvxpy and cvxpylayers
    except ImportError as e:
        print(f"(bench_lstsq not available: {e})")
        return
    layer = ddn.torch.Layer(ROOT / "stdlib" / "least_squares.ddn", "least_squares", on_failure="raise")
    tight = {"solve_method": "CLARABEL", "mode": "dense", "tol_gap_abs": 1e-10, "tol_gap_rel": 1e-10,
             "tol_feas": 1e-10, "n_jobs_forward": 1, "n_jobs_backward": 1}
    for n in [8] if quick else [8, 128, 512]:
        m = 2 * n
        g = np.random.default_rng(n)  # side_by_side.py's instance
        A, b, v = (torch.tensor(a) for a in (g.standard_normal((m, n)), g.standard_normal(m), g.standard_normal(n)))
        runs = {"ddn": layer, "torch QR Function": lstsq.qr_custom}
        # ddn equals the QR Function to rounding. cvxpylayers differentiates the conic
        # form (sum_squares as a second-order cone) at Clarabel's approximate solution:
        # its gradients differ from both by about 2e-6 relative (n = 8).
        tolerance = {"torch QR Function": 1e-9, "cvxpylayers (Clarabel 1e-10)": 1e-5}
        if n <= 128:
            runs["cvxpylayers (Clarabel 1e-10)"] = lstsq.make_cvxpylayers(n, tight)
        compare_and_time(f"least squares n = {n}, m = {m}", runs, [A.requires_grad_(), b.requires_grad_()], v,
                         tolerance, 0.3 if quick else 1.0)


def entropic_ot_rows(quick: bool) -> None:
    """ddn's entropic_ot (Sinkhorn, tol 1e-9) beside bench_sinkhorn's implicit Function (Schur)."""
    sk = peer("bench_sinkhorn")
    if sk.GAMMA != 10.0:
        raise SystemExit(f"bench_sinkhorn's gamma is {sk.GAMMA}, not 10")
    sk.CFG["tol"] = 1e-9  # side_by_side.py's tolerance, the node's `sinkhorn(tol = 1e-9)`
    implicit = sk.make_implicit(sk._reduced_solve_schur, "schur")
    layer = ddn.torch.Layer(ROOT / "stdlib" / "optimal_transport.ddn", "entropic_ot", on_failure="raise")
    n = 32 if quick else 256
    M, W, r, c = sk.data(n)  # side_by_side.py's instance
    runs = {"ddn": layer, "torch implicit Function (Schur)": lambda M, r, c, gamma: implicit(M, r, c)}
    # Both stop at a marginal error |P1 - r|_1 <= 1e-9 (the plan's mass is 1), so their
    # plans and gradients differ by about that (8e-10 and 4e-10 measured).
    tolerance = {"torch implicit Function (Schur)": 1e-6}
    compare_and_time(f"entropic OT {n}², γ = 10, tol 1e-9", runs, [M.requires_grad_(), r, c, torch.tensor(sk.GAMMA)], W,
                     tolerance, 0.3 if quick else 2.0)


# side_by_side.py's node: pseudo-Huber on the distance of each point to y (the
# peers' penalty; stdlib's pool_pseudo_huber is per coordinate).
POOL_SOURCE = """node pool_vec_ph(x: real[n, d], alpha: pos) -> y: real[d] {
    minimize alpha^2 * sum(sqrt(1 + sum((x - y)^2, axis = 1) / alpha^2) - 1)
    init y = mean(x, axis = 0)
}
"""


def robust_pooling_rows(quick: bool) -> None:
    """ddn's vector pseudo-Huber pooling, a batch in one call, beside bench_robust_pool's implicit Function."""
    rp = peer("bench_robust_pool")
    layer = ddn.torch.Layer(POOL_SOURCE, "pool_vec_ph", on_failure="raise")
    B, n, d = (2, 64, 4) if quick else (16, 1024, 16)
    x, cot = rp.data(B, n, d)  # side_by_side.py's instance and cotangent
    runs = {"ddn": layer, "torch implicit Function (Newton)": lambda x, alpha: rp.implicit(x)}
    # The peer's Newton stops at |grad f| < 1e-10 n, ddn's at its own test; both converge
    # quadratically, so their answers agree to rounding (1e-15 measured).
    tolerance = {"torch implicit Function (Newton)": 1e-8}
    compare_and_time(f"robust pooling batch {B}, n = {n}, d = {d}", runs, [x.requires_grad_(), torch.tensor(rp.ALPHA)], cot,
                     tolerance, 0.3 if quick else 2.0)


def other_rows(quick: bool, only: str | None) -> None:
    print("\nForward+backward with a fixed cotangent, median (ratio: peer / ddn; > 1: ddn faster); "
          "the largest relative difference to ddn's outputs and gradients\n")
    print("| work | peer | ddn | peer | peer / ddn | Δ outputs, Δ gradients |")
    print("|---|---|---|---|---|---|")
    if only in (None, "ls"):
        least_squares_rows(quick)
    if only in (None, "ot"):
        entropic_ot_rows(quick)
    if only in (None, "pool"):
        robust_pooling_rows(quick)


def overhead(quick: bool) -> None:
    budget = 0.3 if quick else 1.0
    print("\nPython overhead of an unbatched call (median; Rust: binding + solve as `ddnc bench` times it)\n")
    print("| node | Rust | ddn.Node.forward | overhead | ddn.torch.Layer | overhead |")
    print("|---|---|---|---|---|---|")
    rng = np.random.default_rng(0)
    sys.path.insert(0, str(PEERS))
    import qp_problems

    q = qp_problems.make_qp(10, 1)
    cases = [
        ("least_squares (n = 8)", "least_squares.ddn", "least_squares",
         {"A": rng.standard_normal((16, 8)), "b": rng.standard_normal(16)}),
        ("optnet_qp (n = 10)", "optnet_qp.ddn", "optnet_qp",
         {"Q": q.Q, "p": q.p, "G": q.G, "h": q.h, "A": q.A, "b": q.b}),
    ]
    for label, file, name, inputs in cases:
        node = ddn.compile(ROOT / "stdlib" / file).node(name)
        layer = ddn.torch.Layer(node.module, name)
        rust = statistics.median(node._native.time_forward(inputs, 2000 if not quick else 200))
        py = median_time(lambda: node.forward(inputs), budget)
        tensors = [torch.tensor(inputs[n]) for n in node.param_names]
        with torch.no_grad():
            tl = median_time(lambda: layer(*tensors), budget)
        print(f"| {label} | {show(rust)} | {show(py)} | {show(py - rust)} | {show(tl)} | {show(tl - rust)} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", choices=["qp", "overhead", "proxsuite", "ls", "ot", "pool"])
    args = parser.parse_args()
    print(f"torch {torch.__version__}, numpy {np.__version__}, one thread (RAYON_NUM_THREADS={os.environ['RAYON_NUM_THREADS']})")
    if args.only in (None, "overhead"):
        overhead(args.quick)
    if args.only in (None, "qp"):
        qp_table(args.quick)
    if args.only in (None, "ls", "ot", "pool"):
        other_rows(args.quick, args.only)
    if args.only == "proxsuite":
        proxsuite_table(args.quick)


if __name__ == "__main__":
    main()
