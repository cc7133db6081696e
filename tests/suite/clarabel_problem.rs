//! Clarabel.rs as the independent reference (tests) and the peer (benches):
//! a ddn [`ConeProgram`] in Clarabel's format. The benches include this file
//! by path, so it depends on nothing else in the test suite.

use clarabel::algebra::CscMatrix;
#[cfg(feature = "clarabel-sdp")]
use clarabel::solver::PSDTriangleConeT;
use clarabel::solver::{
    DefaultSettings, DefaultSolver, ExponentialConeT, IPSolver, NonnegativeConeT, SecondOrderConeT, SupportedConeT,
    ZeroConeT,
};
use ddn::solve::{ConeBlock, ConeProgram, Triplets};

/// A cone program in Clarabel's format: P (upper triangle, as ddn stores it)
/// and A as CSC, the cones block for block.
pub struct ClarabelProblem {
    p: CscMatrix<f64>,
    q: Vec<f64>,
    a: CscMatrix<f64>,
    b: Vec<f64>,
    cones: Vec<SupportedConeT<f64>>,
}

fn csc(t: &Triplets) -> CscMatrix<f64> {
    let rows = t.entries.iter().map(|e| e.0).collect();
    let cols = t.entries.iter().map(|e| e.1).collect();
    CscMatrix::new_from_triplets(t.nrows, t.ncols, rows, cols, t.entries.iter().map(|e| e.2).collect())
}

/// Clarabel's row of each of ddn's. They differ only in PSD blocks: ddn's
/// svec is the lower triangle column by column, Clarabel's the upper triangle
/// column by column (both with √2 off the diagonal), so entry `(i, j)`,
/// `i ≥ j`, is Clarabel's `(j, i)`, at `i(i + 1)/2 + j` in the block.
fn clarabel_rows(cones: &[ConeBlock]) -> Vec<usize> {
    let mut rows = Vec::new();
    for c in cones {
        let start = rows.len();
        match *c {
            ConeBlock::Psd(n) => (0..n).for_each(|j| rows.extend((j..n).map(|i| start + i * (i + 1) / 2 + j))),
            c => rows.extend(start..start + c.dim()),
        }
    }
    rows
}

impl ClarabelProblem {
    pub fn new(prog: &ConeProgram) -> Self {
        let cones = prog
            .cones
            .iter()
            .map(|c| match *c {
                ConeBlock::Zero(d) => ZeroConeT(d),
                ConeBlock::Nonneg(d) => NonnegativeConeT(d),
                ConeBlock::SecondOrder(d) => SecondOrderConeT(d),
                // Clarabel's cone is ours: (x, y, w) with y e^{x/y} ≤ w.
                ConeBlock::Exponential => ExponentialConeT(),
                #[cfg(feature = "clarabel-sdp")]
                ConeBlock::Psd(n) => PSDTriangleConeT(n),
                // Clarabel.rs has PSD cones only with its `sdp` feature, which
                // calls a system BLAS/LAPACK: this crate's `clarabel-sdp`.
                #[cfg(not(feature = "clarabel-sdp"))]
                ConeBlock::Psd(_) => panic!("Clarabel.rs is built without PSD cones (feature `clarabel-sdp`)"),
            })
            .collect();
        let rows = clarabel_rows(&prog.cones);
        let mut a = prog.a.clone();
        a.entries.iter_mut().for_each(|e| e.0 = rows[e.0]);
        let mut b = vec![0.0; prog.b.len()];
        rows.iter().zip(&prog.b).for_each(|(&r, &v)| b[r] = v);
        ClarabelProblem { p: csc(&prog.p), q: prog.q.clone(), a: csc(&a), b, cones }
    }

    /// Sets up and solves (the setup is part of a solve's cost, as in ddn's).
    pub fn solve(&self, settings: &DefaultSettings<f64>) -> DefaultSolver<f64> {
        let mut s = DefaultSolver::new(&self.p, &self.q, &self.a, &self.b, &self.cones, settings.clone())
            .expect("clarabel setup");
        s.solve();
        s
    }
}
