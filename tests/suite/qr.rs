//! `linalg::qr`, the blocked Householder QR of the least-squares path, against
//! faer's QR and against its own defining identities:
//!
//! - `QᵀA = R` (R upper triangular, zeros below) to `c·ε‖A‖`: Q is applied as
//!   the factorisation stores it, so this is the backward-error test of
//!   Golub & Van Loan §5.2.2;
//! - R equals faer's R up to the sign of each row (both are Householder QRs
//!   without pivoting, unique up to those signs for a full-rank A);
//! - the least-squares solution satisfies the normal equations `Aᵀ(Ax − b) = 0`
//!   and equals faer's to the conditioning;
//! - `(AᵀA)⁻¹v` by two triangular solves;
//! - scaling A by 2^±1000 scales R exactly (the column norms' overflow and
//!   underflow recovery), and rank deficiency is detected.
//!
//! Sizes straddle the panel width (32): unblocked, one panel plus an unblocked
//! rest, several panels, square and wide.

use ddn::linalg::qr::Qr;
use faer::linalg::solvers::SolveLstsq;
use faer::{Col, Mat, MatRef};
use proptest::prelude::*;
use proptest::test_runner::Config;

use super::Rng;

/// `max |x|` of a matrix.
fn max_abs(a: MatRef<'_, f64>) -> f64 {
    a.norm_max()
}

/// `QᵀA` column by column through [`Qr::apply_qt`].
fn qt_times(qr: &Qr, a: MatRef<'_, f64>) -> Mat<f64> {
    let m = a.nrows();
    let mut out = Mat::zeros(m, a.ncols());
    for j in 0..a.ncols() {
        let mut col: Vec<f64> = (0..m).map(|i| a[(i, j)]).collect();
        qr.apply_qt(&mut col);
        for i in 0..m {
            out[(i, j)] = col[i];
        }
    }
    out
}

/// Checks the factorisation of `a`; `cond` bounds its condition number (the
/// solution's agreement with faer's is relative to it).
fn check(a: &Mat<f64>, b: &[f64], cond: f64) {
    let (m, n) = (a.nrows(), a.ncols());
    let mut qr = Qr::default();
    qr.factor(a.as_ref());
    let eps = f64::EPSILON;
    let scale = max_abs(a.as_ref()).max(f64::MIN_POSITIVE);
    // QᵀA = R.
    let qta = qt_times(&qr, a.as_ref());
    let r = qr.r();
    let k = m.min(n);
    for j in 0..n {
        for i in 0..m {
            let want = if i <= j && i < k { r[(i, j)] } else { 0.0 };
            let err = (qta[(i, j)] - want).abs();
            assert!(err <= 50.0 * (m as f64) * eps * scale, "{m}×{n}: (QᵀA − R)[{i},{j}] = {err:e}");
        }
    }
    // R against faer's, up to row signs.
    let faer_qr = a.qr();
    let rf = faer_qr.R();
    for i in 0..k {
        let sign = if (r[(i, i)] >= 0.0) == (rf[(i, i)] >= 0.0) { 1.0 } else { -1.0 };
        for j in i..n {
            let err = (r[(i, j)] - sign * rf[(i, j)]).abs();
            assert!(err <= 1e3 * cond * eps * scale, "{m}×{n}: R[{i},{j}] {} vs faer {}", r[(i, j)], rf[(i, j)]);
        }
    }
    if m < n {
        assert!(!qr.full_rank(), "{m}×{n}: a wide matrix has no full column rank");
        return;
    }
    assert!(qr.full_rank(), "{m}×{n} (cond ≤ {cond:e}): full rank");
    // Least squares: the normal equations, and faer's solution.
    let mut x = b.to_vec();
    qr.solve_lstsq_in_place(&mut x);
    let residual_norm = x[n..].iter().map(|v| v * v).sum::<f64>().sqrt();
    let x = Col::from_fn(n, |i| x[i]);
    let bc = Col::from_fn(m, |i| b[i]);
    let res = a * &x - &bc;
    assert!(
        (res.norm_l2() - residual_norm).abs() <= 1e3 * cond * eps * (scale * x.norm_l2() + bc.norm_l2()),
        "{m}×{n}: ‖Ax − b‖ = {} but ‖(Qᵀb)[n..]‖ = {residual_norm}",
        res.norm_l2()
    );
    let grad = a.transpose() * &res;
    let bound = 1e2 * (m as f64) * eps * scale * (scale * x.norm_l2() + bc.norm_l2());
    assert!(grad.norm_max() <= bound, "{m}×{n}: ‖Aᵀ(Ax − b)‖∞ = {:e} > {bound:e}", grad.norm_max());
    let xf = faer_qr.solve_lstsq(&bc);
    let diff = (&x - &xf).norm_max();
    assert!(
        diff <= 1e2 * cond * cond * eps * xf.norm_max().max(bc.norm_max() / scale),
        "{m}×{n}: x differs from faer's by {diff:e}"
    );
    // (AᵀA)⁻¹v: AᵀA w = v.
    let v: Vec<f64> = (0..n).map(|i| (i as f64 * 0.7).sin()).collect();
    let mut w = v.clone();
    qr.solve_normal_in_place(&mut w);
    let wc = Col::from_fn(n, |i| w[i]);
    let ata_w = a.transpose() * (a * &wc);
    for i in 0..n {
        let err = (ata_w[i] - v[i]).abs();
        assert!(err <= 1e3 * cond * (n as f64) * eps, "{m}×{n}: (AᵀA w − v)[{i}] = {err:e}");
    }
}

/// A uniform random m × n matrix with its columns scaled by `10^(−decades·j/n)`
/// (condition number about `10^decades`).
fn graded(rng: &mut Rng, m: usize, n: usize, decades: f64) -> Mat<f64> {
    let g = rng.vec(m * n);
    Mat::from_fn(m, n, |i, j| g[i * n + j] * 10f64.powf(-decades * j as f64 / n.max(1) as f64))
}

#[test]
fn qr_matches_faer_and_its_identities() {
    let mut rng = Rng(0x0051_0001);
    for &(m, n) in &[(1, 1), (3, 2), (16, 8), (40, 33), (64, 64), (100, 70), (256, 128), (97, 96), (20, 45)] {
        let a = graded(&mut rng, m, n, 0.0);
        let b = rng.vec(m);
        check(&a, &b, 1e2);
    }
}

#[test]
fn qr_is_exact_under_power_of_two_scaling() {
    // Scaling by 2^±1000 (squares overflow / underflow) must scale R exactly:
    // the scaled norm recovery computes the same reflectors.
    let mut rng = Rng(0x0051_0002);
    for &(m, n) in &[(16, 8), (90, 70)] {
        let a = graded(&mut rng, m, n, 0.0);
        let mut qr = Qr::default();
        qr.factor(a.as_ref());
        let r = qr.r().to_owned();
        for p in [1000, -1000] {
            let s = 2f64.powi(p);
            let mut scaled = Qr::default();
            scaled.factor((&a * faer::Scale(s)).as_ref());
            let rs = scaled.r();
            for j in 0..n {
                for i in 0..=j {
                    let err = (rs[(i, j)] / s - r[(i, j)]).abs();
                    assert!(err <= 1e-13 * r[(0, 0)].abs(), "{m}×{n}, 2^{p}: R[{i},{j}] off by {err:e}");
                }
            }
            assert!(scaled.full_rank());
        }
    }
}

#[test]
fn qr_detects_rank_deficiency() {
    let mut rng = Rng(0x0051_0003);
    for &(m, n) in &[(5, 3), (60, 40), (200, 100)] {
        // Rank one, and a full-rank matrix with one column a combination of two others.
        let u = rng.vec(m);
        let w = rng.vec(n);
        let rank_one = Mat::from_fn(m, n, |i, j| u[i] * w[j]);
        let mut a = graded(&mut rng, m, n, 0.0);
        for i in 0..m {
            a[(i, n - 1)] = 2.0 * a[(i, 0)] - 0.5 * a[(i, 1)];
        }
        let zero_col = Mat::from_fn(m, n, |i, j| if j == n / 2 { 0.0 } else { a[(i, j)] });
        for (label, a) in [("rank one", rank_one), ("dependent column", a), ("zero column", zero_col)] {
            let mut qr = Qr::default();
            qr.factor(a.as_ref());
            assert!(!qr.full_rank(), "{m}×{n} {label}: rank deficiency not detected");
        }
    }
    let mut qr = Qr::default();
    qr.factor(Mat::<f64>::zeros(3, 0).as_ref());
    assert!(!qr.full_rank(), "no columns");
    qr.factor(Mat::from_fn(2, 1, |_, _| f64::NAN).as_ref());
    assert!(!qr.full_rank(), "NaN");
}

proptest! {
    #![proptest_config(Config { cases: 48, failure_persistence: None, ..Config::default() })]

    /// Random shapes and condition numbers up to 1e8, data from a seed.
    #[test]
    fn qr_random_and_ill_conditioned(seed in any::<u64>(), m in 1usize..140, extra in 0usize..60, decades in 0.0f64..8.0) {
        let mut rng = Rng(seed | 1);
        let n = m.min(1 + extra % m.max(1)).max(1);
        let a = graded(&mut rng, m.max(n), n, decades);
        let b = rng.vec(m.max(n));
        check(&a, &b, 10f64.powf(decades) * 1e2);
    }
}

#[test]
fn qr_of_row_major_data_is_the_same_factorisation() {
    let mut rng = Rng(0x0051_0004);
    for &(m, n) in &[(1, 1), (17, 5), (40, 33), (130, 70)] {
        let data = rng.vec(m * n);
        let a = Mat::from_fn(m, n, |i, j| data[i * n + j]);
        let (mut from_mat, mut from_rows) = (Qr::default(), Qr::default());
        from_mat.factor(a.as_ref());
        from_rows.factor_row_major(&data, m, n);
        assert!(from_mat.r() == from_rows.r(), "{m}×{n}: R differs");
        let mut b1 = rng.vec(m);
        let mut b2 = b1.clone();
        from_mat.apply_qt(&mut b1);
        from_rows.apply_qt(&mut b2);
        assert_eq!(b1, b2, "{m}×{n}: Qᵀb differs");
    }
}
