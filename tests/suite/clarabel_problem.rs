//! Clarabel.rs as the independent reference (tests) and the peer (benches):
//! a ddn [`ConeProgram`] in Clarabel's format. The benches include this file
//! by path, so it depends on nothing else in the test suite.

use clarabel::algebra::CscMatrix;
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
                // Clarabel.rs has PSD cones only with its `sdp` feature, which
                // links a system BLAS/LAPACK: not built here.
                ConeBlock::Psd(_) => panic!("Clarabel.rs is built without PSD cones (its `sdp` feature)"),
            })
            .collect();
        ClarabelProblem { p: csc(&prog.p), q: prog.q.clone(), a: csc(&prog.a), b: prog.b.clone(), cones }
    }

    /// Sets up and solves (the setup is part of a solve's cost, as in ddn's).
    pub fn solve(&self, settings: &DefaultSettings<f64>) -> DefaultSolver<f64> {
        let mut s = DefaultSolver::new(&self.p, &self.q, &self.a, &self.b, &self.cones, settings.clone())
            .expect("clarabel setup");
        s.solve();
        s
    }
}
