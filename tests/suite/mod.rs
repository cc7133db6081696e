//! Test modules and shared helpers.

mod active_set;
mod adjoint;
mod atoms;
pub mod backward;
mod batch;
mod canon;
mod clarabel_problem;
mod cli;
pub mod contract;
mod datasets;
mod docs;
mod eigen;
mod exp_cone;
mod generated;
mod ipm;
mod jit;
mod jvp;
mod kernels;
mod layers;
mod ot;
mod prepared;
mod properties;
mod psd_atoms;
mod psd_cone;
mod qr;
mod quad_form;
pub mod reference;
mod rewrite;
mod rewrite_corpus;
mod run;
mod runtime;
mod seeded;
mod smooth;
mod smooth_nodes;
mod smoothness;
mod statuses;
mod stdlib;
mod symbolic;
mod syntax;
mod testsets;
mod ui;
mod vjp;

use std::path::{Path, PathBuf};

/// The crate root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `shared/` beside the checkout (the design docs and data sets live there).
pub fn shared() -> PathBuf {
    root().join("..").join("shared")
}

/// The `.ddn` files of a folder, sorted.
pub fn ddn_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "ddn"))
        .collect();
    v.sort();
    v
}

/// Compiles a file from disk under its file name.
pub fn compile_path(path: &Path) -> ddn::Compiled {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    ddn::compile(&name, &text)
}

/// `node` with a fresh analysis, both held for the rest of the run: a test
/// helper that compiles a node hands it back as a compiled file keeps it
/// (derived and lowered once, however often it is solved), with the `'static`
/// lifetime a returned value needs. The node and its kernels are not freed.
pub fn analysed(node: ddn::ir::Node) -> ddn::analysis::Analysed<'static> {
    ddn::analysis::Analysed::new(Box::leak(Box::new(node)), Box::leak(Box::default()))
}

/// The rendered diagnostics of a compilation, without colour.
pub fn rendered(c: &ddn::Compiled) -> String {
    c.diagnostics_text(ddn::diag::Color::Never)
}

/// A deterministic pseudo-random stream (xorshift), for seeded test data.
pub struct Rng(pub u64);

impl Rng {
    /// Uniform in (−1, 1).
    pub fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
    }

    pub fn vec(&mut self, n: usize) -> Vec<f64> {
        (0..n).map(|_| self.next()).collect()
    }

    pub fn mat(&mut self, m: usize, n: usize) -> Vec<Vec<f64>> {
        (0..m).map(|_| self.vec(n)).collect()
    }

    /// A symmetric positive definite matrix `LLᵀ + shift·I`, L random.
    pub fn spd(&mut self, n: usize, shift: f64) -> Vec<Vec<f64>> {
        let l = self.mat(n, n);
        (0..n)
            .map(|i| {
                (0..n)
                    .map(|j| (0..n).map(|t| l[i][t] * l[j][t]).sum::<f64>() + if i == j { shift } else { 0.0 })
                    .collect()
            })
            .collect()
    }

    /// An OptNet QP `min ½zᵀQz + pᵀz s.t. Gz ≤ h, Az = b` (n variables, k
    /// inequalities, q equalities) built around a chosen optimum z* with strict
    /// complementarity: even rows active with λ > 0, odd rows slack > 0. Returns
    /// the node's inputs and z*.
    pub fn planted_optnet(&mut self, n: usize, k: usize, q: usize) -> (serde_json::Value, Vec<f64>) {
        let l = self.mat(n, n);
        let qm: Vec<Vec<f64>> = (0..n)
            .map(|i| {
                (0..n)
                    .map(|j| (0..n).map(|t| l[i][t] * l[j][t]).sum::<f64>() + if i == j { 1.0 } else { 0.0 })
                    .collect()
            })
            .collect();
        let (g, a, z) = (self.mat(k, n), self.mat(q, n), self.vec(n));
        let lam: Vec<f64> = (0..k).map(|i| if i % 2 == 0 { 0.5 + self.next().abs() } else { 0.0 }).collect();
        let slack: Vec<f64> = (0..k).map(|i| if i % 2 == 0 { 0.0 } else { 0.5 + self.next().abs() }).collect();
        let nu = self.vec(q);
        // Stationarity Qz* + p + Gᵀλ + Aᵀν = 0 fixes p; feasibility fixes h and b.
        let p: Vec<f64> = (0..n)
            .map(|i| {
                -(0..n).map(|j| qm[i][j] * z[j]).sum::<f64>()
                    - (0..k).map(|r| g[r][i] * lam[r]).sum::<f64>()
                    - (0..q).map(|r| a[r][i] * nu[r]).sum::<f64>()
            })
            .collect();
        let h: Vec<f64> = (0..k).map(|r| (0..n).map(|j| g[r][j] * z[j]).sum::<f64>() + slack[r]).collect();
        let b: Vec<f64> = (0..q).map(|r| (0..n).map(|j| a[r][j] * z[j]).sum::<f64>()).collect();
        (serde_json::json!({"Q": qm, "p": p, "G": g, "h": h, "A": a, "b": b}), z)
    }
}
