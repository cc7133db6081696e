//! The OptNet QP layer (stdlib `optnet_qp`): `min ½zᵀQz + pᵀz s.t. Gz ≤ h, Az = b`
//! with n variables, 2n inequalities and n/5 equalities.
//!
//! Seeded data, feasible with a unique optimum: Q = LLᵀ + I (L Gaussian, scaled
//! by 1/√n), p, G, A Gaussian, a point z0, h = G z0 + a slack uniform in
//! [0.1, 1.1), b = A z0.
//!
//! Per size, in one criterion group (`qp_layer`):
//!
//! - `ddn_forward`: per call `bind` + `forward` of the compiled node;
//! - `ddn_forward_backward`: the same plus `ddn::diff::backward` with a fixed
//!   cotangent on z (gradients for all six parameters; Clarabel has no
//!   backward, so this one has no baseline);
//! - `ddn_bind`, `ddn_canonicalize`: those two stages alone (where the forward
//!   time goes besides the solver);
//! - `ddn_ipm`: ddn's interior point method alone on the canonical program
//!   (default settings: a dense KKT factorisation up to n + m = 60, sparse above);
//! - `ddn_ipm_dense_kkt`, `ddn_forward_dense_kkt`: the IPM alone and the
//!   forward (`bind` + `forward_with`) with the dense KKT factorisation forced
//!   (a diagnostic: which factorisation suits these dense problems);
//! - `clarabel`: Clarabel (default settings but `verbose = false`), forward
//!   only, on the same canonical program converted to its CSC format
//!   (`DefaultSolver::new` + `solve`; the conversion is done once, untimed).
//!
//! Before timing, each size checks once that ddn (forward and IPM) and Clarabel
//! agree on the optimal point and value to 1e-6, and panics if not.
//!
//! ```sh
//! cargo bench --bench qp_layer
//! ```

mod common;

use std::hint::black_box;

use clarabel::algebra::CscMatrix;
use clarabel::solver::{
    DefaultSettings, DefaultSolver, IPSolver, NonnegativeConeT, SecondOrderConeT, SolverStatus, SupportedConeT,
    ZeroConeT,
};
use criterion::{criterion_group, criterion_main, Criterion};
use ddn::canon::canonicalize;
use ddn::diff::backward;
use ddn::eval::Tensor;
use ddn::runtime::{bind, forward, forward_with, Status};
use ddn::solve::{solve, ConeBlock, ConeProgram, KktMethod, Settings, Triplets};

use common::{bench, inputs, optnet_inputs, rel_diff, stdlib_node, time_once, Rng};

const GROUP: &str = "qp_layer";
const SIZES: [usize; 4] = [10, 50, 100, 200];

/// A cone program in Clarabel's format: P (upper triangle) and A as CSC.
struct ClarabelProblem {
    p: CscMatrix<f64>,
    q: Vec<f64>,
    a: CscMatrix<f64>,
    b: Vec<f64>,
    cones: Vec<SupportedConeT<f64>>,
}

fn csc(t: &Triplets) -> CscMatrix<f64> {
    let (i, j, v) = t.entries.iter().fold((vec![], vec![], vec![]), |(mut i, mut j, mut v), &(r, c, x)| {
        i.push(r);
        j.push(c);
        v.push(x);
        (i, j, v)
    });
    CscMatrix::new_from_triplets(t.nrows, t.ncols, i, j, v)
}

impl ClarabelProblem {
    fn new(prog: &ConeProgram) -> Self {
        let cones = prog
            .cones
            .iter()
            .map(|c| match *c {
                ConeBlock::Zero(d) => ZeroConeT(d),
                ConeBlock::Nonneg(d) => NonnegativeConeT(d),
                ConeBlock::SecondOrder(d) => SecondOrderConeT(d),
            })
            .collect();
        ClarabelProblem { p: csc(&prog.p), q: prog.q.clone(), a: csc(&prog.a), b: prog.b.clone(), cones }
    }

    fn solve(&self, settings: &DefaultSettings<f64>) -> DefaultSolver<f64> {
        let mut s = DefaultSolver::new(&self.p, &self.q, &self.a, &self.b, &self.cones, settings.clone())
            .expect("clarabel setup");
        s.solve();
        s
    }
}

fn qp_layer(c: &mut Criterion) {
    let node = stdlib_node("optnet_qp.ddn", include_str!("../stdlib/optnet_qp.ddn"), "optnet_qp");
    let settings = Settings::default();
    let dense = Settings { kkt_method: KktMethod::Dense, ..Settings::default() };
    let cl_settings = DefaultSettings::<f64> { verbose: false, ..DefaultSettings::default() };
    // The reference point for the agreement check: Clarabel at tight tolerances
    // (two interior point methods stopped at 1e-8 may agree with each other
    // better than either does with the optimum).
    let t = 1e-12;
    let cl_reference = DefaultSettings::<f64> {
        verbose: false,
        tol_gap_abs: t,
        tol_gap_rel: t,
        tol_feas: t,
        ..DefaultSettings::default()
    };
    common::single_threaded();
    let mut group = c.benchmark_group(GROUP);
    for n in SIZES {
        let named = inputs(optnet_inputs(&mut Rng::new(0x0905_0000 + n as u64), n));
        let cot = vec![("z".to_string(), Tensor::vector(Rng::new(0x0c07 + n as u64).normals(n)))];

        // Once, untimed: ddn agrees with a tight Clarabel solve; the probe times pick the settings.
        let (t_fwd, solved) = time_once(|| forward(&node, &bind(&node, &named).expect("bind")).expect("forward"));
        assert_eq!(solved.status, Status::Optimal, "n = {n}: {:?}", solved.info);
        let (t_fb, _) = time_once(|| {
            let bound = bind(&node, &named).expect("bind");
            let mut solved = forward(&node, &bound).expect("forward");
            backward(&node, &bound, &mut solved, &cot).expect("backward")
        });
        let (t_bind, bound) = time_once(|| bind(&node, &named).expect("bind"));
        let (t_canon, canon) = time_once(|| canonicalize(&node, &bound).expect("canonicalize"));
        let prog = &canon.program;
        let (t_ipm, sol) = time_once(|| solve(prog, &settings).expect("solve"));
        let (t_fwd_dense, solved_dense) =
            time_once(|| forward_with(&node, &bind(&node, &named).expect("bind"), &dense).expect("forward"));
        let (t_dense, sol_dense) = time_once(|| solve(prog, &dense).expect("solve"));
        let cl = ClarabelProblem::new(prog);
        let (t_cl, cl_sol) = time_once(|| cl.solve(&cl_settings));
        let cl_sol = &cl_sol.solution;
        assert_eq!(cl_sol.status, SolverStatus::Solved, "n = {n}: Clarabel did not solve the problem");
        let reference = cl.solve(&cl_reference).solution;
        assert_eq!(reference.status, SolverStatus::Solved, "n = {n}: Clarabel's tight reference solve failed");
        let z_fwd = &solved.outputs[0].1.data;
        let dx_fwd = rel_diff(z_fwd, &reference.x);
        let dx_ipm = rel_diff(&sol.x, &reference.x);
        let dx_clarabel = rel_diff(&cl_sol.x, &reference.x);
        let f_cl = cl_sol.obj_val + prog.c0;
        let df = (sol.info.primal_objective - f_cl).abs() / f_cl.abs().max(1.0);
        println!(
            "qp_layer n = {n}: cone program {} variables, {} rows ({:?}), P nnz {}, A nnz {}; \
             iterations ddn {} / Clarabel {}; against Clarabel at 1e-12: |x_ddn − x_ref| {dx_ipm:.1e} (IPM), \
             {dx_fwd:.1e} (forward), |x_clarabel − x_ref| {dx_clarabel:.1e}; objective {df:.1e} (relative); \
             polishing steps {}",
            prog.n(),
            prog.m(),
            prog.cones,
            prog.p.entries.len(),
            prog.a.entries.len(),
            sol.info.iterations,
            cl_sol.iterations,
            sol.info.polish_steps,
        );
        let dx_dense =
            rel_diff(&sol_dense.x, &reference.x).max(rel_diff(&solved_dense.outputs[0].1.data, &reference.x));
        // Points: ddn at its default tolerances must be within 1e-6 of the tight
        // reference, or at least as close as Clarabel at its defaults (at n = 100
        // neither default run is within 1e-6: the objective is flat to second
        // order, and a 1e-8 gap leaves x about 1e-5 off).
        let bar = 1e-6f64.max(dx_clarabel);
        for (what, d) in [("forward point", dx_fwd), ("IPM point", dx_ipm), ("dense-KKT point", dx_dense)] {
            assert!(d <= bar, "n = {n}: ddn's {what} is {d:e} from the reference, Clarabel's {dx_clarabel:e}");
        }
        assert!(df <= 1e-6, "n = {n}: ddn and Clarabel disagree on the objective: relative difference {df:e}");

        let g = &mut group;
        bench(g, GROUP, "ddn_forward", n, t_fwd, || {
            let bound = bind(&node, black_box(&named)).expect("bind");
            forward(&node, &bound).expect("forward")
        });
        bench(g, GROUP, "ddn_forward_backward", n, t_fb, || {
            let bound = bind(&node, black_box(&named)).expect("bind");
            let mut solved = forward(&node, &bound).expect("forward");
            backward(&node, &bound, &mut solved, black_box(&cot)).expect("backward")
        });
        bench(g, GROUP, "ddn_bind", n, t_bind, || bind(&node, black_box(&named)).expect("bind"));
        bench(g, GROUP, "ddn_canonicalize", n, t_canon, || canonicalize(&node, black_box(&bound)).expect("canon"));
        bench(g, GROUP, "ddn_ipm", n, t_ipm, || solve(black_box(prog), &settings).expect("solve"));
        bench(g, GROUP, "ddn_ipm_dense_kkt", n, t_dense, || solve(black_box(prog), &dense).expect("solve"));
        bench(g, GROUP, "ddn_forward_dense_kkt", n, t_fwd_dense, || {
            let bound = bind(&node, black_box(&named)).expect("bind");
            forward_with(&node, &bound, &dense).expect("forward")
        });
        bench(g, GROUP, "clarabel", n, t_cl, || cl.solve(black_box(&cl_settings)));
    }
    group.finish();
}

criterion_group!(benches, qp_layer);
criterion_main!(benches);
