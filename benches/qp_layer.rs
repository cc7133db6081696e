//! The OptNet QP layer (stdlib `optnet_qp`): `min ½zᵀQz + pᵀz s.t. Gz ≤ h, Az = b`
//! with n variables, 2n inequalities and max(1, n/5) equalities.
//!
//! The instances are the peers' (`/work/shared/bench/peers/qp_problems.py`,
//! `make_qp`), ported with this crate's seeded generator: Q = LLᵀ + 0.1I with
//! L Gaussian scaled by 1/√n; G, A Gaussian; a planted optimum x0 Gaussian with
//! a random 30% of the inequalities active (slack 0, multiplier uniform in
//! [0.5, 1.5)) and the rest inactive (slack uniform in [0.1, 1), multiplier 0),
//! equality multipliers Gaussian; h = G x0 + slack, b = A x0 and
//! p = −(Q x0 + Gᵀλ + Aᵀν), so x0 is the unique, strictly complementary optimum.
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
//!   (default settings: the KKT path `Auto` picks, printed below);
//! - `ddn_ipm_dense_kkt`, `ddn_ipm_condensed_kkt`, `ddn_ipm_sparse_kkt`: the
//!   same with each KKT path forced;
//! - `ddn_ipm_workspace`: an `ipm::Workspace` built once (untimed), each call
//!   `solve` with the program's values plus one `kkt_solve` (the backward's
//!   solve): the IPM's share of a forward+backward when the structure is reused;
//! - `ddn_active_set`: the same work by the dual active-set method
//!   (`solve::active_set`, its workspace kept), beside `ddn_ipm_workspace` as
//!   its baseline (the runtime takes it up to `active_set::MAX_VARIABLES`);
//! - `ddn_forward_backward_ipm`: `ddn_forward_backward` for the node naming
//!   `solve using ipm` (the interior point method at every size): the baseline
//!   of the default path's forward+backward;
//! - `faer_floor`: the floor of the default path's linear algebra, by hand
//!   with faer on the node's own Q, G, A: `it + 1` factorisations of the
//!   condensed matrix `[Q + GᵀDG, Aᵀ; A, −δI]` (`GᵀDG` by one triangular
//!   faer product into the lower triangle, then faer's unpivoted `LDLᵀ` with
//!   the same dynamic regularisation) and `3·it + 1` condensed solves
//!   (`r = r_x + Gᵀ(D r_g)`, the `LDLᵀ` solve, `z_g = D(G x − r_g)`), `it` the
//!   IPM's iteration count at this size: per iteration the factorisation, the
//!   solve for `Δτ`'s direction, the predictor and the corrector, then the
//!   backward's factorisation at the solution and its one solve. No refill,
//!   equilibration, iterative refinement, residuals, step lengths or
//!   polishing: `ddn_forward_backward` over `faer_floor` is what all of those
//!   and the layer around them cost;
//! - `clarabel`, `clarabel_no_equilibration`: Clarabel (`verbose = false`,
//!   otherwise its defaults: presolve on, QDLDL, the only direct solver this
//!   build has; and the same with equilibration off), forward only, on the same
//!   canonical program converted to its CSC format (`DefaultSolver::new` +
//!   `solve`; the conversion is done once, untimed).
//!
//! Before timing, each size checks once that ddn (forward, IPM on every path)
//! and Clarabel agree with the planted optimum (to 1e-6, or as close as
//! Clarabel gets) and on the objective, that the active-set method's point and
//! KKT solve agree with the IPM workspace's (to 1e-7), and panics if not.
//!
//! ```sh
//! cargo bench --bench qp_layer
//! ```

#[path = "../tests/suite/clarabel_problem.rs"]
mod clarabel_problem;
mod common;

use std::hint::black_box;

use clarabel::solver::{DefaultSettings, SolverStatus};
use clarabel_problem::ClarabelProblem;
use criterion::{criterion_group, criterion_main, Criterion};
use ddn::canon::canonicalize;
use ddn::diff::backward;
use ddn::eval::Tensor;
use ddn::runtime::{bind, forward, Options, Status};
use ddn::solve::active_set::ActiveSet;
use ddn::solve::ipm::Workspace;
use ddn::solve::{solve, KktMethod, Settings};

use common::{bench, inputs, rel_diff, stdlib_node, time_once, Rng};
use faer::dyn_stack::{MemBuffer, MemStack, StackReq};
use faer::linalg::cholesky::ldlt;
use faer::linalg::cholesky::ldlt::factor::LdltRegularization;
use faer::linalg::matmul::triangular::{matmul, BlockStructure};
use faer::{Accum, Conj, Mat, MatMut, Par};

const GROUP: &str = "qp_layer";
const SIZES: [usize; 4] = [10, 50, 100, 200];

/// The peers' `make_qp` (see the module doc): the node's inputs and the planted
/// optimum.
fn planted_qp(rng: &mut Rng, n: usize) -> (Vec<(&'static str, Tensor)>, Vec<f64>) {
    let (k, q) = (2 * n, (n / 5).max(1));
    let l: Vec<f64> = rng.normals(n * n).into_iter().map(|x| x / (n as f64).sqrt()).collect();
    let mut qm = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..=i {
            let v = (0..n).map(|t| l[i * n + t] * l[j * n + t]).sum::<f64>() + if i == j { 0.1 } else { 0.0 };
            qm[i * n + j] = v;
            qm[j * n + i] = v;
        }
    }
    let g = rng.normals(k * n);
    let a = rng.normals(q * n);
    let x0 = rng.normals(n);
    // A random 30% of the inequality rows active (a partial Fisher–Yates shuffle).
    let mut rows: Vec<usize> = (0..k).collect();
    let n_active = (0.3 * k as f64).round() as usize;
    for i in 0..n_active {
        let j = i + ((rng.uniform() * (k - i) as f64) as usize).min(k - i - 1);
        rows.swap(i, j);
    }
    let mut active = vec![false; k];
    rows[..n_active].iter().for_each(|&r| active[r] = true);
    let slack: Vec<f64> = active.iter().map(|&a| if a { 0.0 } else { 0.1 + 0.9 * rng.uniform() }).collect();
    let lam: Vec<f64> = active.iter().map(|&a| if a { 0.5 + rng.uniform() } else { 0.0 }).collect();
    let nu = rng.normals(q);
    let row = |m: &[f64], i: usize, x: &[f64]| (0..n).map(|j| m[i * n + j] * x[j]).sum::<f64>();
    let h: Vec<f64> = (0..k).map(|i| row(&g, i, &x0) + slack[i]).collect();
    let b: Vec<f64> = (0..q).map(|i| row(&a, i, &x0)).collect();
    let p: Vec<f64> = (0..n)
        .map(|j| {
            -(row(&qm, j, &x0)
                + (0..k).map(|i| g[i * n + j] * lam[i]).sum::<f64>()
                + (0..q).map(|i| a[i * n + j] * nu[i]).sum::<f64>())
        })
        .collect();
    let inputs = vec![
        ("Q", Tensor::matrix(n, n, qm)),
        ("p", Tensor::vector(p)),
        ("G", Tensor::matrix(k, n, g)),
        ("h", Tensor::vector(h)),
        ("A", Tensor::matrix(q, n, a)),
        ("b", Tensor::vector(b)),
    ];
    (inputs, x0)
}

/// The condensed linear algebra of `faer_floor` (see the module doc) for one
/// instance: Q, G, A dense, a fixed positive D.
struct Floor {
    n: usize,
    g: Mat<f64>,
    d: Vec<f64>,
    /// `[Q; A]` in the lower triangle of the reduced matrix (its constant part).
    base: Mat<f64>,
    dg: Mat<f64>,
    mat: Mat<f64>,
    signs: Vec<i8>,
    mem: MemBuffer,
    rg: Vec<f64>,
    red: Vec<f64>,
    out_g: Vec<f64>,
}

impl Floor {
    fn new(data: &[(&'static str, Tensor)], n: usize) -> Floor {
        let get = |name: &str| &data.iter().find(|(k, _)| *k == name).expect("an input").1.data;
        let (qm, gm, am) = (get("Q"), get("G"), get("A"));
        let (k, q) = (gm.len() / n, am.len() / n);
        let dim = n + q;
        let mut base = Mat::zeros(dim, dim);
        for j in 0..n {
            for i in j..n {
                base[(i, j)] = qm[i * n + j];
            }
            for r in 0..q {
                base[(n + r, j)] = am[r * n + j];
            }
        }
        for r in 0..q {
            base[(n + r, n + r)] = -1e-8;
        }
        Floor {
            n,
            g: Mat::from_fn(k, n, |i, j| gm[i * n + j]),
            d: (0..k).map(|i| 0.5 + (i % 7) as f64).collect(),
            base,
            dg: Mat::zeros(k, n),
            mat: Mat::zeros(dim, dim),
            signs: (0..dim).map(|i| if i < n { 1 } else { -1 }).collect(),
            mem: MemBuffer::new(StackReq::any_of(&[
                ldlt::factor::cholesky_in_place_scratch::<f64>(dim, Par::Seq, Default::default()),
                ldlt::solve::solve_in_place_scratch::<f64>(dim, 1, Par::Seq),
            ])),
            rg: vec![0.0; k],
            red: vec![0.0; dim],
            out_g: vec![0.0; k],
        }
    }

    fn factor(&mut self) {
        let n = self.n;
        for j in 0..self.mat.ncols() {
            self.mat.col_as_slice_mut(j)[j..].copy_from_slice(&self.base.col_as_slice(j)[j..]);
        }
        for j in 0..n {
            for ((o, &g), &d) in self.dg.col_as_slice_mut(j).iter_mut().zip(self.g.col_as_slice(j)).zip(&self.d) {
                *o = d * g;
            }
        }
        matmul(
            self.mat.as_mut().submatrix_mut(0, 0, n, n),
            BlockStructure::TriangularLower,
            Accum::Add,
            self.g.transpose(),
            BlockStructure::Rectangular,
            self.dg.as_ref(),
            BlockStructure::Rectangular,
            1.0,
            Par::Seq,
        );
        let reg = LdltRegularization {
            dynamic_regularization_signs: Some(&self.signs),
            dynamic_regularization_epsilon: Settings::default().dynamic_reg_eps,
            dynamic_regularization_delta: Settings::default().dynamic_reg_delta,
        };
        ldlt::factor::cholesky_in_place(
            self.mat.as_mut(),
            reg,
            Par::Seq,
            MemStack::new(&mut self.mem),
            Default::default(),
        )
        .expect("the floor's factorisation");
    }

    /// One condensed solve for the right-hand side `(r_x, r_g, r_eq) = (1, 1, 1)`.
    fn solve(&mut self) {
        let n = self.n;
        self.red.fill(1.0);
        for (r, &d) in self.rg.iter_mut().zip(&self.d) {
            *r = d;
        }
        for (j, y) in self.red[..n].iter_mut().enumerate() {
            *y += self.g.col_as_slice(j).iter().zip(&self.rg).map(|(a, b)| a * b).sum::<f64>();
        }
        let dim = self.red.len();
        let rhs = MatMut::from_column_major_slice_mut(&mut self.red, dim, 1);
        let mat = self.mat.as_ref();
        ldlt::solve::solve_in_place_with_conj(
            mat,
            mat.diagonal(),
            Conj::No,
            rhs,
            Par::Seq,
            MemStack::new(&mut self.mem),
        );
        self.out_g.fill(-1.0);
        for (j, &x) in self.red[..n].iter().enumerate() {
            for (o, g) in self.out_g.iter_mut().zip(self.g.col_as_slice(j)) {
                *o += g * x;
            }
        }
        for (o, &d) in self.out_g.iter_mut().zip(&self.d) {
            *o *= d;
        }
    }

    /// `iterations` IPM iterations' worth, then the backward's.
    fn run(&mut self, iterations: usize) -> f64 {
        for _ in 0..iterations {
            self.factor();
            (0..3).for_each(|_| self.solve());
        }
        self.factor();
        self.solve();
        self.red[0] + self.out_g[0]
    }
}

fn qp_layer(c: &mut Criterion) {
    let node = stdlib_node("optnet_qp.ddn", include_str!("../stdlib/optnet_qp.ddn"), "optnet_qp");
    let by_ipm_src = include_str!("../stdlib/optnet_qp.ddn").replacen("    }\n}", "    }\n    solve using ipm\n}", 1);
    let node_ipm = stdlib_node("optnet_qp.ddn", &by_ipm_src, "optnet_qp");
    let settings = Settings::default();
    let forced = |kkt_method| Settings { kkt_method, ..Settings::default() };
    let paths = [
        ("ddn_ipm_dense_kkt", forced(KktMethod::Dense)),
        ("ddn_ipm_condensed_kkt", forced(KktMethod::Condensed)),
        ("ddn_ipm_sparse_kkt", forced(KktMethod::Sparse)),
    ];
    let cl_settings = DefaultSettings::<f64> { verbose: false, ..DefaultSettings::default() };
    let cl_no_equil = DefaultSettings::<f64> { equilibrate_enable: false, ..cl_settings.clone() };
    common::single_threaded();
    let mut group = c.benchmark_group(GROUP);
    for n in SIZES {
        let (data, x0) = planted_qp(&mut Rng::new(0x0905_0000 + n as u64), n);
        let mut floor = Floor::new(&data, n);
        let named = inputs(data);
        let cot = vec![("z".to_string(), Tensor::vector(Rng::new(0x0c07 + n as u64).normals(n)))];

        // Once, untimed: every solver reaches the planted optimum; the probe times pick the settings.
        let (t_fwd, solved) =
            time_once(|| forward(&node, &bind(&node, &named).expect("bind"), &Options::default()).expect("forward"));
        assert_eq!(solved.status, Status::Optimal, "n = {n}: {:?}", solved.info);
        let (t_fb, _) = time_once(|| {
            let bound = bind(&node, &named).expect("bind");
            let mut solved = forward(&node, &bound, &Options::default()).expect("forward");
            backward(&node, &bound, &mut solved, &cot).expect("backward")
        });
        let (t_bind, bound) = time_once(|| bind(&node, &named).expect("bind"));
        let (t_canon, canon) = time_once(|| canonicalize(&node, &bound).expect("canonicalize"));
        let prog = &canon.program;
        let (t_ipm, sol) = time_once(|| solve(prog, &settings).expect("solve"));
        let cl = ClarabelProblem::new(prog);
        let (t_cl, cl_sol) = time_once(|| cl.solve(&cl_settings));
        let cl_sol = &cl_sol.solution;
        assert_eq!(cl_sol.status, SolverStatus::Solved, "n = {n}: Clarabel did not solve the problem");
        let (t_cl_ne, cl_ne) = time_once(|| cl.solve(&cl_no_equil));
        assert_eq!(cl_ne.solution.status, SolverStatus::Solved, "n = {n}: Clarabel without equilibration failed");
        let dx_clarabel = rel_diff(&cl_sol.x, &x0).max(rel_diff(&cl_ne.solution.x, &x0));
        // Points: within 1e-6 of the planted optimum, or as close as Clarabel gets.
        let bar = 1e-6f64.max(dx_clarabel);
        let z_fwd = &solved.outputs[0].1.data;
        let mut checked = vec![("forward point", rel_diff(z_fwd, &x0)), ("IPM point", rel_diff(&sol.x, &x0))];
        let mut path_times = Vec::new();
        for (name, s) in &paths {
            let (t, sp) = time_once(|| solve(prog, s).expect("solve"));
            assert_eq!(sp.info.kkt_method, s.kkt_method);
            checked.push((name, rel_diff(&sp.x, &x0)));
            path_times.push((name, s, t, sp.info.iterations));
        }
        let mut ws = Workspace::new(prog, &settings).expect("workspace");
        let mut w = vec![0.0; prog.n() + prog.m()];
        let mut ws_call = |w: &mut Vec<f64>| {
            ws.solve(black_box(prog)).expect("solve");
            w.iter_mut().enumerate().for_each(|(i, v)| *v = (i as f64 * 0.37).cos());
            ws.kkt_solve(w).expect("kkt solve")
        };
        let (t_ws, _) = time_once(|| ws_call(&mut w));
        let mut qp = ActiveSet::default();
        let mut w_as = vec![0.0; prog.n() + prog.m()];
        let mut as_call = |w: &mut Vec<f64>| {
            qp.solve(black_box(prog), &settings).expect("the active-set method declined");
            w.iter_mut().enumerate().for_each(|(i, v)| *v = (i as f64 * 0.37).cos());
            qp.kkt_solve(w).expect("kkt solve")
        };
        let (t_as, _) = time_once(|| as_call(&mut w_as));
        let (t_fb_ipm, _) = time_once(|| {
            let bound = bind(&node_ipm, &named).expect("bind");
            let mut solved = forward(&node_ipm, &bound, &Options::default()).expect("forward");
            backward(&node_ipm, &bound, &mut solved, &cot).expect("backward")
        });
        let dw = rel_diff(&w_as, &w);
        assert!(dw <= 1e-7, "n = {n}: the active-set and IPM KKT solves differ by {dw:e}");
        for (what, d) in checked {
            assert!(d <= bar, "n = {n}: ddn's {what} is {d:e} from the planted optimum, Clarabel's {dx_clarabel:e}");
        }
        let f_cl = cl_sol.obj_val + prog.c0;
        let df = (sol.info.primal_objective - f_cl).abs() / f_cl.abs().max(1.0);
        assert!(df <= 1e-6, "n = {n}: ddn and Clarabel disagree on the objective: relative difference {df:e}");
        println!(
            "qp_layer n = {n}: cone program {} variables, {} rows ({:?}); default KKT path {:?}; \
             iterations ddn {} ({}) / Clarabel {}; |x − x0|: ddn {:.1e}, Clarabel {dx_clarabel:.1e}; \
             objective vs Clarabel {df:.1e} (relative); polishing steps {}",
            prog.n(),
            prog.m(),
            prog.cones,
            sol.info.kkt_method,
            sol.info.iterations,
            path_times.iter().map(|(name, _, _, it)| format!("{name} {it}")).collect::<Vec<_>>().join(", "),
            cl_sol.iterations,
            rel_diff(&sol.x, &x0),
            sol.info.polish_steps,
        );

        let it = sol.info.iterations as usize;
        let (t_floor, _) = time_once(|| floor.run(it));
        println!("qp_layer n = {n}: faer_floor = {} factorisations and {} condensed solves", it + 1, 3 * it + 1);
        let g = &mut group;
        bench(g, GROUP, "faer_floor", n, t_floor, || floor.run(black_box(it)));
        bench(g, GROUP, "ddn_forward", n, t_fwd, || {
            let bound = bind(&node, black_box(&named)).expect("bind");
            forward(&node, &bound, &Options::default()).expect("forward")
        });
        bench(g, GROUP, "ddn_forward_backward", n, t_fb, || {
            let bound = bind(&node, black_box(&named)).expect("bind");
            let mut solved = forward(&node, &bound, &Options::default()).expect("forward");
            backward(&node, &bound, &mut solved, black_box(&cot)).expect("backward")
        });
        bench(g, GROUP, "ddn_bind", n, t_bind, || bind(&node, black_box(&named)).expect("bind"));
        bench(g, GROUP, "ddn_canonicalize", n, t_canon, || canonicalize(&node, black_box(&bound)).expect("canon"));
        bench(g, GROUP, "ddn_ipm", n, t_ipm, || solve(black_box(prog), &settings).expect("solve"));
        for (name, s, t, _) in path_times {
            bench(g, GROUP, name, n, t, || solve(black_box(prog), s).expect("solve"));
        }
        bench(g, GROUP, "ddn_ipm_workspace", n, t_ws, || ws_call(&mut w));
        bench(g, GROUP, "ddn_active_set", n, t_as, || as_call(&mut w_as));
        bench(g, GROUP, "ddn_forward_backward_ipm", n, t_fb_ipm, || {
            let bound = bind(&node_ipm, black_box(&named)).expect("bind");
            let mut solved = forward(&node_ipm, &bound, &Options::default()).expect("forward");
            backward(&node_ipm, &bound, &mut solved, black_box(&cot)).expect("backward")
        });
        bench(g, GROUP, "clarabel", n, t_cl, || cl.solve(black_box(&cl_settings)));
        bench(g, GROUP, "clarabel_no_equilibration", n, t_cl_ne, || cl.solve(black_box(&cl_no_equil)));
    }
    group.finish();
}

criterion_group!(benches, qp_layer);
criterion_main!(benches);
