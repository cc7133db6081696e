//! The generated modules, called as a user would: least squares against its
//! closed form, the pooling node against central differences.

use ddn::faer::{Col, Mat};
use ddn::runtime::Status;
use ddn_build_example::{least_squares, pool_pseudo_huber};

/// x* = (AᵀA)⁻¹Aᵀb and, for v = dL/dx*, w = (AᵀA)⁻¹v and r = b − Ax*,
/// dL/dA = r wᵀ − (Aw) x*ᵀ and dL/db = Aw: the normal equations, by hand for n = 2.
#[test]
fn least_squares_matches_the_normal_equations() {
    let a = Mat::from_fn(4, 2, |i, j| [[1.0, 0.5], [0.3, -1.0], [2.0, 0.1], [-0.4, 0.7]][i][j]);
    let b = Col::from_fn(4, |i| [1.0, -0.5, 2.0, 0.3][i]);
    let v = [0.7, -1.2];
    // Prepared at build time at these sizes (m = 4, n = 2): the module's
    // straight-line refill runs, nothing is recorded now.
    assert!(least_squares::recorded(&[4, 2]).is_some_and(|r| r.compiled.is_some()));
    let p = least_squares::Params { A: a.as_ref(), b: b.as_ref() };
    let mut s = least_squares::forward(&p).expect("forward");
    assert_eq!(s.status, Status::Optimal);
    let vc = Col::from_fn(2, |i| v[i]);
    let g = least_squares::backward(&p, &mut s, &least_squares::Cotangents { x: Some(vc.as_ref()) }).expect("backward");

    let ata = |i: usize, j: usize| (0..4).map(|k| a[(k, i)] * a[(k, j)]).sum::<f64>();
    let det = ata(0, 0) * ata(1, 1) - ata(0, 1) * ata(1, 0);
    let inv = |u: [f64; 2]| [(ata(1, 1) * u[0] - ata(0, 1) * u[1]) / det, (ata(0, 0) * u[1] - ata(1, 0) * u[0]) / det];
    let atb = [0, 1].map(|j| (0..4).map(|k| a[(k, j)] * b[k]).sum::<f64>());
    let x = inv(atb);
    let w = inv(v);
    let close = |got: f64, want: f64, what: &str| assert!((got - want).abs() < 1e-9, "{what}: {got} vs {want}");
    for (j, xj) in x.iter().enumerate() {
        close(s.x[j], *xj, "x");
    }
    for i in 0..4 {
        let aw = a[(i, 0)] * w[0] + a[(i, 1)] * w[1];
        let r = b[i] - (a[(i, 0)] * x[0] + a[(i, 1)] * x[1]);
        close(g.b[i], aw, "dL/db");
        for j in 0..2 {
            close(g.A[(i, j)], r * w[j] - aw * x[j], "dL/dA");
        }
    }
}

/// dL/dx and dL/dα of L = ⟨v, y*(x, α)⟩ against central differences of the forward.
#[test]
fn pooling_gradients_match_central_differences() {
    let x = Mat::from_fn(5, 2, |i, j| [[0.1, 2.0], [0.3, -0.2], [3.5, 0.4], [-0.4, 0.1], [0.2, -2.6]][i][j]);
    let (alpha, v) = (0.8, [0.6, -0.3]);
    let loss = |x: &Mat<f64>, alpha: f64| {
        let s = pool_pseudo_huber::forward(&pool_pseudo_huber::Params { x: x.as_ref(), alpha }).expect("forward");
        assert_eq!(s.status, Status::Optimal);
        v[0] * s.y[0] + v[1] * s.y[1]
    };
    let p = pool_pseudo_huber::Params { x: x.as_ref(), alpha };
    let mut s = pool_pseudo_huber::forward(&p).expect("forward");
    let vc = Col::from_fn(2, |i| v[i]);
    let c = pool_pseudo_huber::Cotangents { y: Some(vc.as_ref()) };
    let g = pool_pseudo_huber::backward(&p, &mut s, &c).expect("backward");

    let h = 1e-6;
    let close = |got: f64, want: f64, what: &str| {
        assert!((got - want).abs() < 1e-6 * (1.0 + want.abs()), "{what}: {got} vs {want}")
    };
    for i in 0..5 {
        for j in 0..2 {
            let moved = |d: f64| {
                let mut y = x.clone();
                y[(i, j)] += d;
                loss(&y, alpha)
            };
            close(g.x[(i, j)], (moved(h) - moved(-h)) / (2.0 * h), "dL/dx");
        }
    }
    close(g.alpha, (loss(&x, alpha + h) - loss(&x, alpha - h)) / (2.0 * h), "dL/dalpha");
}
