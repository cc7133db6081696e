//! Second-order, exponential and positive semidefinite cones against
//! Clarabel.rs (issue 16): the same cone program, ddn's canonicalisation of a
//! node, solved by both.
//!
//! - **SOC**: pseudo-Huber pooling (stdlib `pool_pseudo_huber` with `solve
//!   using ipm`, so its cone program rather than Newton on the text): x n × 16
//!   Gaussian, α = 0.5, one three-dimensional second-order cone per entry
//!   (16 n of them), n = 16, 64, 256: many small cones, the shape in which
//!   session 14's rank-2 form for every cone cost 50% (docs/benchmarks.md).
//! - **EXP**: logistic regression (stdlib `logistic_regression` with `solve
//!   using ipm`, so its cone program rather than Newton on the text), n
//!   features, m = 2n samples: X Gaussian scaled by 1/√n, labels
//!   `y = sign(X w₀ + ε)` (w₀ Gaussian, ε Gaussian with σ = 0.5, so the
//!   classes overlap), λ = 0.1. Two exponential cones per sample (`logistic`'s
//!   reduction), n = 50, 100, 200, 500.
//! - **SDP**: the nearest correlation matrix in Frobenius norm,
//!   `min ‖X − A‖²_F s.t. diag X = 1, X ⪰ 0` (a `psd[n, n]` variable), A
//!   symmetric with unit diagonal and off-diagonal entries uniform in
//!   [−1, 1) (indefinite, so the optimum is singular), n = 10, 20, 50.
//!
//! Per instance, in one criterion group (`cones`), ids `<family>/<name>/n`:
//!
//! - `ddn_forward`: `bind` + the forward of a [`Prepared`] node made once
//!   (untimed): the layer's steady state (its reductions replayed, then the
//!   interior point method);
//! - `ddn_forward_backward`: the same plus `ddn::diff::backward` with a fixed
//!   cotangent on the output (gradients for every parameter);
//! - `ddn_ipm`: ddn's interior point method alone on the canonical program
//!   (default settings); for SOC also `ddn_ipm_rank_two`, the same with every
//!   cone in the rank-2 form (`soc_low_rank_min_dim = 2`, session 14's
//!   default), the baseline of the dense blocks the default uses;
//! - `clarabel`: Clarabel.rs 0.11 on the same canonical program converted to
//!   its format once, untimed (setup + solve timed, as ddn's solve includes
//!   its setup). Settings: Clarabel's defaults (`verbose = false`), which are
//!   its best here: tolerances 1e-8 (gap abs/rel, feasibility; ddn's defaults
//!   are the same 1e-8), presolve, equilibration, and QDLDL, the only direct
//!   solver of a build without its `faer-sparse` feature; chordal
//!   decomposition on (a dense block has nothing to decompose);
//! - for SOC and EXP also `ddn_newton_forward`: the stdlib node as written
//!   (no `solve using`), which ddn solves by Newton on the smooth objective
//!   (its default): the same minimiser, not the same algorithm.
//!
//! Before timing, every instance checks once that ddn's forward, ddn's IPM
//! and Clarabel end `optimal`/`Solved`; that their points (the node's
//! variables) are close to the reference (relative to its largest entry) —
//! for SOC Newton's point, Clarabel's stopping 2e-6 from it even at 1e-10;
//! otherwise Clarabel at tolerances 1e-10 —: both within 1e-4 for SOC
//! (Clarabel's point at 1e-8 is 2.6e-5 away), 1e-5 for EXP, 1e-4 for
//! the SDP, whose optimum is singular (the distances are printed, with the
//! distances to Newton's point for EXP); that the objectives agree to 1e-7
//! relative; and that the layer's output is the IPM's point (to 1e-9); and panics if not.
//!
//! Everything runs on one thread (faer sequential; OpenBLAS, which Clarabel's
//! PSD cone calls, set to one thread).
//!
//! The SDP rows need Clarabel's PSD cone (its `sdp` feature, which calls
//! BLAS/LAPACK): this crate's `clarabel-sdp` feature, linked to the system's
//! OpenBLAS. Without it only the EXP rows run.
//!
//! ```sh
//! cargo bench --bench cones                       # SOC and EXP rows
//! apt-get install libopenblas-dev
//! cargo bench --features clarabel-sdp --bench cones
//! ```

#[path = "../tests/suite/clarabel_problem.rs"]
mod clarabel_problem;
mod common;

use std::hint::black_box;

use clarabel::solver::{DefaultSettings, SolverStatus};
use clarabel_problem::ClarabelProblem;
use criterion::{criterion_group, criterion_main, Criterion};
use ddn::analysis::Analysed;
use ddn::canon::canonicalize;
use ddn::diff::backward;
use ddn::eval::Tensor;
use ddn::runtime::{bind, forward, interpreted, Options, Prepared, Status};
use ddn::solve::{solve, Settings};

use common::{bench, inputs, rel_diff, selected, stdlib_node, time_once, Rng};

const GROUP: &str = "cones";
const SOC_SIZES: [usize; 3] = [16, 64, 256];
const EXP_SIZES: [usize; 4] = [50, 100, 200, 500];
#[cfg(feature = "clarabel-sdp")]
const SDP_SIZES: [usize; 3] = [10, 20, 50];

#[cfg(feature = "clarabel-sdp")]
mod openblas {
    // The system OpenBLAS (BLAS and LAPACK for Clarabel's PSD cone, through
    // the `blas`/`lapack` crates' declarations). Referenced from this object,
    // so the linker keeps it for the references that follow in Clarabel's.
    #[link(name = "openblas")]
    extern "C" {
        fn openblas_set_num_threads(n: std::ffi::c_int);
    }

    /// One thread, as ddn and Clarabel's own code.
    pub fn single_threaded() {
        // SAFETY: OpenBLAS's documented setter, called before any BLAS call.
        unsafe { openblas_set_num_threads(1) }
    }
}

/// One instance: the node with its inputs and the cotangent of its output.
struct Instance {
    family: &'static str,
    n: usize,
    node: Analysed<'static>,
    named: std::collections::BTreeMap<String, Tensor>,
    cot: Vec<(String, Tensor)>,
    /// How close ddn's and Clarabel's points (the node's variables) must be
    /// to the reference (module doc), relative to its largest entry.
    point_tol: f64,
}

/// Logistic regression with n features and 2n samples (module doc).
fn logistic_instance(node: Analysed<'static>, n: usize) -> Instance {
    let m = 2 * n;
    let mut rng = Rng::new(0x1016_0000 + n as u64);
    let x: Vec<f64> = rng.normals(m * n).into_iter().map(|v| v / (n as f64).sqrt()).collect();
    let w0 = rng.normals(n);
    let y: Vec<f64> = (0..m)
        .map(|i| {
            let t: f64 = (0..n).map(|j| x[i * n + j] * w0[j]).sum::<f64>() + 0.5 * rng.normal();
            if t >= 0.0 {
                1.0
            } else {
                -1.0
            }
        })
        .collect();
    let named = inputs(vec![("X", Tensor::matrix(m, n, x)), ("y", Tensor::vector(y)), ("lam", Tensor::scalar(0.1))]);
    let cot = vec![("w".to_string(), Tensor::vector(rng.normals(n)))];
    // Both solvers stop 1e-6 away at tolerance 1e-8 (2.4e-6 at n = 50).
    Instance { family: "exp", n, node, named, cot, point_tol: 1e-5 }
}

/// Pseudo-Huber pooling of n Gaussian points in 16 dimensions (module doc).
fn pooling_instance(node: Analysed<'static>, n: usize) -> Instance {
    let d = 16;
    let mut rng = Rng::new(0x50c_0000 + n as u64);
    let named = inputs(vec![("x", Tensor::matrix(n, d, rng.normals(n * d))), ("alpha", Tensor::scalar(0.5))]);
    let cot = vec![("y".to_string(), Tensor::vector(rng.normals(d)))];
    // The objective is flat along the cones' boundaries: Clarabel stops 2.6e-5
    // from Newton's minimiser at tolerance 1e-8 and 2.0e-6 at 1e-10 (n = 16),
    // ddn's polished point 5e-15 (printed), so the reference is Newton's.
    Instance { family: "soc", n, node, named, cot, point_tol: 1e-4 }
}

/// `sym` from a row-major generator of the lower triangle.
#[cfg(feature = "clarabel-sdp")]
fn symmetric(n: usize, mut lower: impl FnMut(usize, usize) -> f64) -> Tensor {
    let mut a = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..=i {
            let v = lower(i, j);
            a[i * n + j] = v;
            a[j * n + i] = v;
        }
    }
    Tensor::matrix(n, n, a)
}

/// The nearest correlation matrix of an n × n indefinite A (module doc).
#[cfg(feature = "clarabel-sdp")]
fn correlation_instance(node: Analysed<'static>, n: usize) -> Instance {
    let mut rng = Rng::new(0x5d9_0000 + n as u64);
    let a = symmetric(n, |i, j| if i == j { 1.0 } else { 2.0 * rng.uniform() - 1.0 });
    let cot = symmetric(n, |_, _| rng.normal());
    // At the singular optimum the point's error goes as the square root of
    // the gap: both solvers stop 1.5e-5 away at tolerance 1e-8 (n = 10).
    let cot = vec![("X".to_string(), cot)];
    Instance { family: "sdp", n, node, named: inputs(vec![("A", a)]), cot, point_tol: 1e-4 }
}

/// Checks the instance once, then times its rows (module doc). `newton` is
/// the node solved by its default (smooth) path, where there is one.
fn run(c: &mut Criterion, inst: &Instance, newton: Option<&Analysed<'static>>) {
    let (node, n, named, cot) = (&inst.node, inst.n, &inst.named, &inst.cot);
    let group_name = format!("{GROUP}/{}", inst.family);
    let names =
        ["ddn_forward", "ddn_forward_backward", "ddn_ipm", "ddn_ipm_rank_two", "clarabel", "ddn_newton_forward"];
    if !names.iter().any(|name| selected(&format!("{group_name}/{name}/{n}"))) {
        return;
    }
    let settings = Settings::default();
    let cl_settings = DefaultSettings::<f64> { verbose: false, ..DefaultSettings::default() };
    let bound = bind(node, named).expect("bind");
    let prepared = Prepared::new(node, &bound, interpreted(node).expect("kernels")).expect("prepare");
    let layer = |named| {
        let bound = bind(node, named).expect("bind");
        let solved = prepared.forward(&bound).expect("forward");
        (bound, solved)
    };
    let (t_fwd, (_, solved)) = time_once(|| layer(named));
    assert_eq!(solved.status, Status::Optimal, "{} n = {n}: ddn's forward: {:?}", inst.family, solved.info);
    let (t_fb, grads) = time_once(|| {
        let (bound, mut solved) = layer(named);
        backward(node, &bound, &mut solved, cot).expect("backward")
    });
    assert!(grads.iter().all(|g| g.data.iter().all(|v| v.is_finite())));
    let canon = canonicalize(node, &bound).expect("canonicalize");
    let prog = &canon.program;
    let (t_ipm, sol) = time_once(|| solve(prog, &settings).expect("solve"));
    assert_eq!(sol.status, ddn::solve::Status::Optimal, "{} n = {n}: ddn's IPM: {:?}", inst.family, sol.info);
    let cl = ClarabelProblem::new(prog);
    let (t_cl, cl_solver) = time_once(|| cl.solve(&cl_settings));
    let cl_sol = &cl_solver.solution;
    assert_eq!(cl_sol.status, SolverStatus::Solved, "{} n = {n}: Clarabel: {:?}", inst.family, cl_sol.status);
    // The node's own variables (the reductions' auxiliary columns left out).
    let user = |x: &[f64]| -> Vec<f64> {
        canon
            .layout
            .var_cols
            .iter()
            .flat_map(|(c, shape)| x[*c..*c + shape.iter().product::<usize>()].to_vec())
            .collect()
    };
    let (u_ddn, u_cl) = (user(&sol.x), user(&cl_sol.x));
    let tight =
        DefaultSettings::<f64> { tol_gap_abs: 1e-10, tol_gap_rel: 1e-10, tol_feas: 1e-10, ..cl_settings.clone() };
    let reference = cl.solve(&tight);
    // Where the node has a smooth path, Newton's point (to rounding) is the
    // reference; elsewhere Clarabel's at 1e-10.
    let newton_point = newton.map(|node| {
        let (t, s) =
            time_once(|| forward(node, &bind(node, named).expect("bind"), &Options::default()).expect("forward"));
        (t, s.outputs[0].1.data.clone())
    });
    let u_ref = match (&newton_point, inst.family) {
        (Some((_, w)), "soc") => w.clone(),
        _ => user(&reference.solution.x),
    };
    let (dx, dx_cl) = (rel_diff(&u_ddn, &u_ref), rel_diff(&u_cl, &u_ref));
    let f_cl = cl_sol.obj_val + prog.c0;
    let df = (sol.info.primal_objective - f_cl).abs() / f_cl.abs().max(1.0);
    let out = &solved.outputs[0].1.data;
    // The layer's forward (the recording replayed) against the IPM's point.
    let dout = rel_diff(out, &u_ddn);
    // Where the node has a smooth path: both cone solutions against Newton's.
    let vs_newton = newton_point.as_ref().map_or(String::new(), |(_, w)| {
        format!("; vs Newton: ddn {:.1e}, Clarabel {:.1e}", rel_diff(&u_ddn, w), rel_diff(&u_cl, w))
    }) + &format!("; ddn vs Clarabel {:.1e}", rel_diff(&u_ddn, &u_cl));
    println!(
        "cones {} n = {n}: cone program {} variables, {} rows, {} soc / {} exp / {} psd blocks; KKT {:?}; \
         iterations ddn {} / Clarabel {}; points vs the reference (Clarabel at 1e-10: {:?}): ddn {dx:.2e}, Clarabel {dx_cl:.2e}{vs_newton}; objective {df:.1e} (relative); \
         ddn rel. gap {:.1e}, residuals {:.1e}/{:.1e}; Clarabel objectives {:.9e}/{:.9e}, residuals {:.1e}/{:.1e}",
        inst.family,
        prog.n(),
        prog.m(),
        prog.cones.iter().filter(|b| matches!(b, ddn::solve::ConeBlock::SecondOrder(_))).count(),
        prog.cones.iter().filter(|b| matches!(b, ddn::solve::ConeBlock::Exponential)).count(),
        prog.cones.iter().filter(|b| matches!(b, ddn::solve::ConeBlock::Psd(_))).count(),
        sol.info.kkt_method,
        sol.info.iterations,
        cl_sol.iterations,
        reference.solution.status,
        sol.info.rel_gap,
        sol.info.primal_residual,
        sol.info.dual_residual,
        cl_sol.obj_val,
        cl_sol.obj_val_dual,
        cl_sol.r_prim,
        cl_sol.r_dual,
    );
    for (who, d) in [("ddn", dx), ("Clarabel", dx_cl)] {
        assert!(d <= inst.point_tol, "{} n = {n}: {who}'s point is {d:e} from the reference", inst.family);
    }
    assert!(df <= 1e-7, "{} n = {n}: ddn and Clarabel objectives differ by {df:e} (relative)", inst.family);
    assert!(dout <= 1e-9, "{} n = {n}: the layer and the IPM differ by {dout:e}", inst.family);
    drop(cl_solver);

    let mut group = c.benchmark_group(&group_name);
    let g = &mut group;
    bench(g, &group_name, "ddn_forward", n, t_fwd, || layer(black_box(named)));
    bench(g, &group_name, "ddn_forward_backward", n, t_fb, || {
        let (bound, mut solved) = layer(black_box(named));
        backward(node, &bound, &mut solved, black_box(cot)).expect("backward")
    });
    bench(g, &group_name, "ddn_ipm", n, t_ipm, || solve(black_box(prog), &settings).expect("solve"));
    if inst.family == "soc" {
        // The baseline of the default's dense blocks: every cone in the
        // rank-2 form, as session 14 had it (`soc_low_rank_min_dim`).
        let rank_two = Settings { soc_low_rank_min_dim: 2, ..settings.clone() };
        let (t, sol2) = time_once(|| solve(prog, &rank_two).expect("solve"));
        assert_eq!(sol2.status, ddn::solve::Status::Optimal, "soc n = {n}: rank-2 form: {:?}", sol2.info);
        let d = rel_diff(&user(&sol2.x), &u_ref);
        assert!(d <= inst.point_tol, "soc n = {n}: the rank-2 form's point is {d:e} from the reference");
        bench(g, &group_name, "ddn_ipm_rank_two", n, t, || solve(black_box(prog), &rank_two).expect("solve"));
    }
    bench(g, &group_name, "clarabel", n, t_cl, || cl.solve(black_box(&cl_settings)));
    if let (Some(newton), Some((t_newton, _))) = (newton, newton_point) {
        bench(g, &group_name, "ddn_newton_forward", n, t_newton, || {
            forward(newton, &bind(newton, black_box(named)).expect("bind"), &Options::default()).expect("forward")
        });
    }
    group.finish();
}

/// A stdlib node as written (solved by Newton), and its file's text with
/// `solve using ipm` after the node's objective line (its cone program).
fn both_paths(file: &str, text: &str, node: &str, objective: &str) -> (Analysed<'static>, String) {
    let line = format!("    {objective}\n");
    assert!(text.contains(&line), "stdlib/{file}'s {node} changed");
    (stdlib_node(file, text, node), text.replacen(&line, &format!("{line}    solve using ipm\n"), 1))
}

fn cones(c: &mut Criterion) {
    common::single_threaded();
    #[cfg(feature = "clarabel-sdp")]
    openblas::single_threaded();
    let pooling = include_str!("../stdlib/robust_pooling.ddn");
    let (newton, by_ipm) =
        both_paths("robust_pooling.ddn", pooling, "pool_pseudo_huber", "minimize sum(pseudo_huber(x - y, alpha))");
    for n in SOC_SIZES {
        run(c, &pooling_instance(stdlib_node("robust_pooling.ddn", &by_ipm, "pool_pseudo_huber"), n), Some(&newton));
    }
    let more = include_str!("../stdlib/more.ddn");
    let objective = "minimize sum(logistic(-y * (X @ w))) + lam * sum_squares(w)";
    let (newton, by_ipm) = both_paths("more.ddn", more, "logistic_regression", objective);
    for n in EXP_SIZES {
        run(c, &logistic_instance(stdlib_node("more.ddn", &by_ipm, "logistic_regression"), n), Some(&newton));
    }
    #[cfg(feature = "clarabel-sdp")]
    for n in SDP_SIZES {
        let src = "node nearest_correlation(A: sym[n, n]) -> X: psd[n, n] {
            minimize sum_squares(X - A)
            subject to { diag(X) == ones(n) }
        }";
        run(c, &correlation_instance(stdlib_node("nearest_correlation.ddn", src, "nearest_correlation"), n), None);
    }
}

criterion_group!(benches, cones);
criterion_main!(benches);
