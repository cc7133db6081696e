//! The eigen nodes: `eigh` against its defining equations and a closed form, and
//! both backward passes against the seed's per-eigenvector formula and central
//! differences under symmetric perturbations.

// The paper's symbols: X, U, V are matrices.
#![allow(non_snake_case)]

use ddn::diff::{eigh_vjp, max_eigvec_vjp};
use ddn::smooth::{eigh, Eigh};
use faer::linalg::solvers::Solve;
use faer::{Col, Mat};

use super::Rng;

/// Central-difference step for the symmetric perturbation `X + h ½(E_ij + E_ji)`.
const STEP: f64 = 1e-6;
/// Backward vs central differences: eigenvectors accurate to ~1e-15 / gap, over STEP.
const FD_TOL: f64 = 1e-6;
/// Backward vs the seed's formula, both exact.
const FORMULA_TOL: f64 = 1e-11;

fn random_sym(seed: u64, m: usize) -> Mat<f64> {
    let mut rng = Rng(seed);
    let A = Mat::from_fn(m, m, |_, _| rng.next());
    Mat::from_fn(m, m, |i, j| A[(i, j)] + A[(j, i)])
}

fn max_abs(X: &Mat<f64>) -> f64 {
    X.col_iter().flat_map(|c| c.iter().copied().collect::<Vec<_>>()).fold(0.0f64, |a, x| a.max(x.abs()))
}

#[test]
fn eigh_satisfies_its_defining_equations() {
    let m = 6;
    let X = random_sym(1, m);
    let eig = eigh(X.as_ref()).expect("eigh");
    let U = &eig.U;
    assert!(eig.lambda.windows(2).all(|w| w[0] < w[1]), "ascending: {:?}", eig.lambda);
    let residual = &X * U - U * Mat::from_fn(m, m, |i, j| if i == j { eig.lambda[i] } else { 0.0 });
    assert!(max_abs(&residual) <= 1e-13, "X U − U Λ: {:e}", max_abs(&residual));
    let gram = U.transpose() * U - Mat::<f64>::identity(m, m);
    assert!(max_abs(&gram) <= 1e-14, "UᵀU − I: {:e}", max_abs(&gram));
    // The sign convention: each column's largest-magnitude entry is positive.
    for k in 0..m {
        let col: Vec<f64> = U.col(k).iter().copied().collect();
        let big = col.iter().copied().fold(0.0f64, |a, x| if x.abs() > a.abs() { x } else { a });
        assert!(big > 0.0, "column {k}: {col:?}");
    }
    let (lambda, u) = eig.max_eigvec();
    assert_eq!(lambda, eig.lambda[m - 1]);
    assert_eq!(u.iter().copied().collect::<Vec<_>>(), U.col(m - 1).iter().copied().collect::<Vec<_>>());
}

#[test]
fn eigh_of_a_diagonal_matrix_is_a_signed_permutation() {
    let d = [3.0, -1.0, 2.0];
    let X = Mat::from_fn(3, 3, |i, j| if i == j { d[i] } else { 0.0 });
    let eig = eigh(X.as_ref()).expect("eigh");
    assert_eq!(eig.lambda, vec![-1.0, 2.0, 3.0]);
    // Ascending order puts e₁, e₂, e₀ in the columns, each +1 by the sign rule.
    let want = [[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]];
    for i in 0..3 {
        for j in 0..3 {
            assert_eq!(eig.U[(i, j)], want[i][j]);
        }
    }
}

#[test]
fn eigh_rejects_bad_input() {
    let mut X = random_sym(2, 3);
    X[(0, 2)] += 1e-3;
    assert!(eigh(X.as_ref()).expect_err("asymmetric").to_string().contains("X must be symmetric, but X[0, 2]"));
    let mut X = random_sym(2, 3);
    X[(1, 1)] = f64::NAN;
    assert!(eigh(X.as_ref()).expect_err("NaN").to_string().contains("X[1, 1] = NaN is not finite"));
    let X = Mat::<f64>::zeros(2, 3);
    assert!(eigh(X.as_ref()).expect_err("not square").to_string().contains("found 2×3"));
}

/// The seed's formula, literally: `dL/dX_ij = Σ_k v_kᵀ (−½ (X − λ_k I)⁺ (E_ij + E_ji) y_k)`,
/// with the pseudo-inverse from a solve, `(X − λ_k I)⁺ = (X − λ_k I + y_k y_kᵀ)⁻¹ − y_k y_kᵀ`.
fn seed_formula(X: &Mat<f64>, eig: &Eigh, V: &Mat<f64>, columns: &[usize]) -> Mat<f64> {
    let m = X.nrows();
    let mut grad = Mat::<f64>::zeros(m, m);
    for &k in columns {
        let y = eig.U.col(k).to_owned();
        let shifted = Mat::from_fn(m, m, |i, j| X[(i, j)] - if i == j { eig.lambda[k] } else { 0.0 } + y[i] * y[j]);
        let lu = shifted.partial_piv_lu();
        // v_kᵀ (X − λ_k I)⁺ = ((X − λ_k I)⁺ v_k)ᵀ, the pseudo-inverse being symmetric.
        let v = V.col(k).to_owned();
        let mut pv: Col<f64> = lu.solve(&v);
        let yv: f64 = y.iter().zip(v.iter()).map(|(a, b)| a * b).sum();
        for i in 0..m {
            pv[i] -= y[i] * yv;
        }
        for i in 0..m {
            for j in 0..m {
                // (E_ij + E_ji) y has y_j at row i and y_i at row j.
                let mut e = Col::<f64>::zeros(m);
                e[i] += y[j];
                e[j] += y[i];
                let dot: f64 = pv.iter().zip(e.iter()).map(|(a, b)| a * b).sum();
                grad[(i, j)] -= 0.5 * dot;
            }
        }
    }
    grad
}

/// Checks `grad` against central differences of `loss` along `X + h ½(E_ij + E_ji)`,
/// and that the sign convention keeps every perturbed eigenbasis next to the original.
fn check_differences(X: &Mat<f64>, grad: &Mat<f64>, loss: impl Fn(&Eigh) -> f64) {
    let m = X.nrows();
    let base = eigh(X.as_ref()).expect("eigh");
    for i in 0..m {
        for j in i..m {
            let moved = |d: f64| {
                let mut Xp = X.clone();
                Xp[(i, j)] += 0.5 * d;
                Xp[(j, i)] += 0.5 * d;
                let eig = eigh(Xp.as_ref()).expect("eigh");
                let drift = max_abs(&(&eig.U - &base.U));
                assert!(drift <= 1e-4, "perturbing X[{i},{j}] flipped an eigenvector (drift {drift:e})");
                loss(&eig)
            };
            let numeric = (moved(STEP) - moved(-STEP)) / (2.0 * STEP);
            assert!(
                (numeric - grad[(i, j)]).abs() <= FD_TOL * (1.0 + numeric.abs()),
                "dL/dX[{i},{j}]: backward {}, central difference {numeric}",
                grad[(i, j)]
            );
            assert_eq!(grad[(i, j)], grad[(j, i)], "the gradient is symmetric");
        }
    }
}

#[test]
fn eigh_backward_matches_the_seed_formula_and_differences() {
    for (seed, m) in [(3, 4), (4, 6)] {
        let X = random_sym(seed, m);
        let eig = eigh(X.as_ref()).expect("eigh");
        let mut rng = Rng(seed + 50);
        let V = Mat::from_fn(m, m, |_, _| rng.next());
        let grad = eigh_vjp(&eig, V.as_ref()).expect("distinct eigenvalues");
        let all: Vec<usize> = (0..m).collect();
        let seed_grad = seed_formula(&X, &eig, &V, &all);
        let diff = max_abs(&(&grad - &seed_grad));
        assert!(diff <= FORMULA_TOL * (1.0 + max_abs(&seed_grad)), "m = {m}: vs the seed's formula {diff:e}");
        check_differences(&X, &grad, |e| {
            (0..m).flat_map(|i| (0..m).map(move |j| (i, j))).map(|(i, j)| V[(i, j)] * e.U[(i, j)]).sum()
        });
    }
}

#[test]
fn max_eigvec_backward_matches_the_seed_formula_and_differences() {
    let m = 5;
    let X = random_sym(7, m);
    let eig = eigh(X.as_ref()).expect("eigh");
    let mut rng = Rng(57);
    let v = rng.vec(m);
    let grad = max_eigvec_vjp(&eig, &v).expect("simple λ_max");
    // The same as the full decomposition's VJP with V = v e_mᵀ, and the seed's formula.
    let V = Mat::from_fn(m, m, |i, k| if k == m - 1 { v[i] } else { 0.0 });
    let full = eigh_vjp(&eig, V.as_ref()).expect("distinct");
    assert!(max_abs(&(&grad - &full)) <= FORMULA_TOL * (1.0 + max_abs(&full)));
    let seed_grad = seed_formula(&X, &eig, &V, &[m - 1]);
    assert!(max_abs(&(&grad - &seed_grad)) <= FORMULA_TOL * (1.0 + max_abs(&seed_grad)));
    check_differences(&X, &grad, |e| e.max_eigvec().1.iter().zip(&v).map(|(a, b)| a * b).sum());
}

#[test]
fn repeated_eigenvalues_are_an_error_not_nan() {
    let diag = |d: [f64; 3]| Mat::from_fn(3, 3, |i, j| if i == j { d[i] } else { 0.0 });
    let ones = Mat::from_fn(3, 3, |_, _| 1.0);
    // λ = 1, 1, 2: the full VJP is undefined, but λ_max is simple.
    let eig = eigh(diag([1.0, 2.0, 1.0]).as_ref()).expect("eigh");
    let e = eigh_vjp(&eig, ones.as_ref()).expect_err("repeated");
    assert!(e.to_string().contains("eigenvalues 0 and 1") && e.to_string().contains("not distinct"), "{e}");
    let v = [0.3, -0.2, 0.5];
    let grad = max_eigvec_vjp(&eig, &v).expect("λ_max is simple");
    assert!(grad.col_iter().all(|c| c.iter().all(|x| x.is_finite())));
    // With zero cotangents on the repeated pair's columns the full VJP is defined,
    // and equals the max-eigenvector one.
    let V = Mat::from_fn(3, 3, |i, k| if k == 2 { v[i] } else { 0.0 });
    let full = eigh_vjp(&eig, V.as_ref()).expect("the repeated pair is not used");
    assert!(max_abs(&(&full - &grad)) <= 1e-15);
    // λ = 1, 2, 2: λ_max is repeated.
    let eig = eigh(diag([2.0, 1.0, 2.0]).as_ref()).expect("eigh");
    let e = max_eigvec_vjp(&eig, &v).expect_err("repeated λ_max");
    assert!(e.to_string().contains("eigenvalues 1 and 2"), "{e}");
    // Nearly repeated (relative gap 1e-12, below MIN_REL_GAP) is an error too.
    let X = random_sym(9, 4);
    let eig = eigh(X.as_ref()).expect("eigh");
    let mut lambda = eig.lambda.clone();
    lambda[1] = lambda[0] + 1e-12 * lambda[3].abs().max(lambda[0].abs());
    let near = Eigh { lambda, U: eig.U.clone() };
    assert!(eigh_vjp(&near, ones.as_ref()).is_err());
    // And the zero matrix: every eigenvalue repeated.
    let eig = eigh(Mat::<f64>::zeros(3, 3).as_ref()).expect("eigh");
    assert!(max_eigvec_vjp(&eig, &v).is_err());
}
