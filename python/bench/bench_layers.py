"""The ddn torch layer beside the QP-layer peers, and the Python overhead of a ddn call.

On the peers' own instances (../shared/bench/peers/qp_problems.py: OptNet QPs with
n variables, 2n inequalities, n/5 equalities, a planted strictly complementary
solution), in one process on one thread, float64, loss = sum(x*):

    ddn          ddn.torch.Layer(stdlib/optnet_qp.ddn)
    qpth         qpth.qp.QPFunction (OptNet's batched interior point), defaults
    proxsuite    proxsuite.torch.qplayer.QPFunction, defaults
    cvxpylayers  CvxpyLayer (diffcp, Clarabel at 1e-10, dense derivative; Q through
                 its factor L as in the peers' bench_qp.py), n <= 50 only

Every layer's x* is checked against the planted solution before it is timed.
`--only proxsuite`: ddn beside proxsuite alone on make_qp(n, 0), n = 10, 50, 200, the
two layers' x* and dL/dp checked equal before timing.

The Python overhead: the median of an unbatched ddn forward call from Python
(ddn.Node.forward and ddn.torch.Layer) minus the median of the Rust work it
wraps (binding the inputs and the solve, as `ddnc bench` times it), on the
least-squares node (n = 8) and the QP (n = 10). Target: <= 20 µs.

Run with the peers' environment (which has the peers; ddn from the staged
extension: scripts/test builds it in target/python-dev, or any `pip install`):

    RAYON_NUM_THREADS=1 PYTHONPATH=target/python-dev \\
        ~/.cache/ddn-peers/bin/python python/bench/bench_layers.py [--quick]

Build the extension optimised for timings (the test profile has debug assertions).
"""

from __future__ import annotations

import argparse
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
    parser.add_argument("--only", choices=["qp", "overhead", "proxsuite"])
    args = parser.parse_args()
    print(f"torch {torch.__version__}, numpy {np.__version__}, one thread (RAYON_NUM_THREADS={os.environ['RAYON_NUM_THREADS']})")
    if args.only in (None, "overhead"):
        overhead(args.quick)
    if args.only in (None, "qp"):
        qp_table(args.quick)
    if args.only == "proxsuite":
        proxsuite_table(args.quick)


if __name__ == "__main__":
    main()
