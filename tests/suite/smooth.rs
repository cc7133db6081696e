//! Smooth forward solvers (Newton, Newton–KKT, interior point) against closed-form
//! optima, and the implicit-function-theorem adjoint against central differences
//! of those solvers.

use ddn::diff::{adjoint, Adjoint, Cotangents, ACTIVITY_TOL};
use ddn::smooth::{solve, DomainError, Method, Settings, SmoothProblem, SmoothSolution, Status};
use faer::linalg::solvers::Solve;
use faer::Mat;

use super::Rng;

/// Forward solutions are compared to closed forms with this tolerance.
const TOL_Y: f64 = 1e-7;
/// Tight solves for finite differences, their step, and the agreement asked.
const FD_SETTINGS: Settings = Settings { tol: 1e-12, max_iter: 200 };
const FD_STEP: f64 = 1e-5;
const TOL_FD: f64 = 1e-5;

type Fun<T> = Box<dyn Fn(&[f64]) -> T>;

/// A scalar function with its gradient and Hessian.
struct Smooth {
    v: Fun<f64>,
    d: Fun<Vec<f64>>,
    dd: Fun<Vec<Vec<f64>>>,
}

/// A hand-coded problem: objective, equalities, inequalities, and a domain.
struct Problem {
    n: usize,
    f: Smooth,
    eq: Vec<Smooth>,
    ineq: Vec<Smooth>,
    domain: Fun<bool>,
}

fn mat(rows: Vec<Vec<f64>>, m: usize, n: usize) -> Mat<f64> {
    Mat::from_fn(m, n, |i, j| rows[i][j])
}

impl Problem {
    fn new(n: usize, f: Smooth) -> Problem {
        Problem { n, f, eq: vec![], ineq: vec![], domain: Box::new(|_| true) }
    }
    fn check(&self, y: &[f64]) -> Result<(), DomainError> {
        if (self.domain)(y) {
            Ok(())
        } else {
            Err(DomainError(format!("{y:?}")))
        }
    }
}

impl SmoothProblem for Problem {
    fn dim(&self) -> usize {
        self.n
    }
    fn n_eq(&self) -> usize {
        self.eq.len()
    }
    fn n_ineq(&self) -> usize {
        self.ineq.len()
    }
    fn objective(&self, y: &[f64]) -> Result<f64, DomainError> {
        self.check(y)?;
        Ok((self.f.v)(y))
    }
    fn gradient(&self, y: &[f64]) -> Result<Vec<f64>, DomainError> {
        self.check(y)?;
        Ok((self.f.d)(y))
    }
    fn eq(&self, y: &[f64]) -> Result<Vec<f64>, DomainError> {
        Ok(self.eq.iter().map(|c| (c.v)(y)).collect())
    }
    fn ineq(&self, y: &[f64]) -> Result<Vec<f64>, DomainError> {
        Ok(self.ineq.iter().map(|c| (c.v)(y)).collect())
    }
    fn eq_jacobian(&self, y: &[f64]) -> Result<Mat<f64>, DomainError> {
        Ok(mat(self.eq.iter().map(|c| (c.d)(y)).collect(), self.eq.len(), self.n))
    }
    fn ineq_jacobian(&self, y: &[f64]) -> Result<Mat<f64>, DomainError> {
        Ok(mat(self.ineq.iter().map(|c| (c.d)(y)).collect(), self.ineq.len(), self.n))
    }
    fn lagrangian_hessian(&self, y: &[f64], nu: &[f64], lambda: &[f64]) -> Result<Mat<f64>, DomainError> {
        self.check(y)?;
        let mut h = (self.f.dd)(y);
        for (c, m) in self.eq.iter().zip(nu).chain(self.ineq.iter().zip(lambda)) {
            let hc = (c.dd)(y);
            for i in 0..self.n {
                for j in 0..self.n {
                    h[i][j] += m * hc[i][j];
                }
            }
        }
        Ok(mat(h, self.n, self.n))
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(a, b)| a * b).sum()
}

fn norm(a: &[f64]) -> f64 {
    dot(a, a).sqrt()
}

/// `½yᵀQy + cᵀy`.
fn quadratic(q: Vec<Vec<f64>>, c: Vec<f64>) -> Smooth {
    let (q1, q2, c1) = (q.clone(), q.clone(), c.clone());
    let qy = move |q: &[Vec<f64>], y: &[f64]| -> Vec<f64> { q.iter().map(|row| dot(row, y)).collect() };
    Smooth {
        v: Box::new(move |y| 0.5 * dot(y, &qy(&q1, y)) + dot(&c1, y)),
        d: Box::new(move |y| qy(&q2, y).iter().zip(&c).map(|(a, b)| a + b).collect()),
        dd: Box::new(move |_| q.clone()),
    }
}

/// `aᵀy − b`.
fn affine(a: Vec<f64>, b: f64) -> Smooth {
    let (a1, n) = (a.clone(), a.len());
    Smooth {
        v: Box::new(move |y| dot(&a1, y) - b),
        d: Box::new(move |_| a.clone()),
        dd: Box::new(move |_| vec![vec![0.0; n]; n]),
    }
}

/// `‖y − x‖²`.
fn distance_sq(x: Vec<f64>) -> Smooth {
    let n = x.len();
    let eye: Vec<Vec<f64>> = (0..n).map(|i| (0..n).map(|j| if i == j { 2.0 } else { 0.0 }).collect()).collect();
    let c: Vec<f64> = x.iter().map(|x| -2.0 * x).collect();
    let r = dot(&x, &x);
    let q = quadratic(eye, c);
    Smooth { v: Box::new(move |y| (q.v)(y) + r), d: q.d, dd: q.dd }
}

/// `yᵀy − r²`.
fn sphere(n: usize, r: f64) -> Smooth {
    let q = quadratic((0..n).map(|i| (0..n).map(|j| if i == j { 2.0 } else { 0.0 }).collect()).collect(), vec![0.0; n]);
    Smooth { v: Box::new(move |y| (q.v)(y) - r * r), d: q.d, dd: q.dd }
}

fn run(p: &Problem, y0: &[f64], settings: &Settings) -> SmoothSolution {
    solve(p, y0, Method::Auto, settings).expect("valid input")
}

fn assert_close(got: &[f64], want: &[f64], tol: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}");
    for (g, w) in got.iter().zip(want) {
        assert!((g - w).abs() <= tol * (1.0 + w.abs()), "{what}: got {got:?}, want {want:?}");
    }
}

fn optimal(p: &Problem, y0: &[f64]) -> SmoothSolution {
    let s = run(p, y0, &Settings::default());
    assert_eq!(s.status, Status::Optimal, "{s:?}");
    assert!(s.residuals.within(1e-9), "{:?}", s.residuals);
    s
}

// ---------------------------------------------------------------- forwards

#[test]
fn smooth_newton_rosenbrock_from_the_classic_start() {
    let f = Smooth {
        v: Box::new(|y| 100.0 * (y[1] - y[0] * y[0]).powi(2) + (1.0 - y[0]).powi(2)),
        d: Box::new(|y| vec![-400.0 * y[0] * (y[1] - y[0] * y[0]) - 2.0 * (1.0 - y[0]), 200.0 * (y[1] - y[0] * y[0])]),
        dd: Box::new(|y| {
            vec![vec![1200.0 * y[0] * y[0] - 400.0 * y[1] + 2.0, -400.0 * y[0]], vec![-400.0 * y[0], 200.0]]
        }),
    };
    let s = optimal(&Problem::new(2, f), &[-1.2, 1.0]);
    assert_close(&s.y, &[1.0, 1.0], TOL_Y, "Rosenbrock");
    assert!(s.iterations < 50, "{}", s.iterations);
}

#[test]
fn smooth_newton_strictly_convex_quadratic() {
    let mut rng = Rng(11);
    let (q, c) = (rng.spd(6, 1.0), rng.vec(6));
    let qm = mat(q.clone(), 6, 6);
    let want = qm.llt(faer::Side::Lower).unwrap().solve(Mat::from_fn(6, 1, |i, _| -c[i]));
    let s = optimal(&Problem::new(6, quadratic(q, c)), &[0.0; 6]);
    assert_close(&s.y, &(0..6).map(|i| want[(i, 0)]).collect::<Vec<_>>(), TOL_Y, "−Q⁻¹c");
    assert!(s.iterations <= 2);
}

#[test]
fn smooth_newton_modifies_an_indefinite_hessian() {
    // f = y₁⁴/4 − y₁²/2 + y₂²/2: a local maximum along y₁ at 0, minima at y₁ = ±1.
    // At y₁ = 0.1 the Hessian is indefinite and the pure Newton step climbs to 0.
    let f = Smooth {
        v: Box::new(|y| y[0].powi(4) / 4.0 - y[0] * y[0] / 2.0 + y[1] * y[1] / 2.0),
        d: Box::new(|y| vec![y[0].powi(3) - y[0], y[1]]),
        dd: Box::new(|y| vec![vec![3.0 * y[0] * y[0] - 1.0, 0.0], vec![0.0, 1.0]]),
    };
    let s = optimal(&Problem::new(2, f), &[0.1, 0.5]);
    assert_close(&s.y, &[1.0, 0.0], TOL_Y, "minimum at (1, 0)");
}

#[test]
fn smooth_newton_backtracks_out_of_the_domain() {
    // f = Σ cᵢyᵢ − log yᵢ, minimised at yᵢ = 1/cᵢ; from y = 10 the full Newton
    // step lands at y < 0, outside the domain.
    let c = vec![1.0, 2.0];
    let (c1, c2) = (c.clone(), c.clone());
    let f = Smooth {
        v: Box::new(move |y| y.iter().zip(&c1).map(|(y, c)| c * y - y.ln()).sum()),
        d: Box::new(move |y| y.iter().zip(&c2).map(|(y, c)| c - 1.0 / y).collect()),
        dd: Box::new(|y| vec![vec![1.0 / (y[0] * y[0]), 0.0], vec![0.0, 1.0 / (y[1] * y[1])]]),
    };
    let mut p = Problem::new(2, f);
    p.domain = Box::new(|y| y.iter().all(|v| *v > 0.0));
    let s = optimal(&p, &[10.0, 10.0]);
    assert_close(&s.y, &[1.0, 0.5], TOL_Y, "1/c");
    let err = solve(&p, &[-1.0, 1.0], Method::Auto, &Settings::default()).unwrap_err();
    assert!(err.to_string().contains("outside the domain"), "{err}");
}

/// `min −Σ log yᵢ s.t. Σyᵢ = 1` (maximum entropy-like, y = 1/n): from a lopsided
/// start the Newton–KKT step leaves the domain and the merit line search
/// backtracks.
#[test]
fn smooth_equality_newton_kkt_backtracks_out_of_the_domain() {
    let f = Smooth {
        v: Box::new(|y| -y.iter().map(|v| v.ln()).sum::<f64>()),
        d: Box::new(|y| y.iter().map(|v| -1.0 / v).collect()),
        dd: Box::new(|y| {
            (0..3).map(|i| (0..3).map(|j| if i == j { 1.0 / (y[i] * y[i]) } else { 0.0 }).collect()).collect()
        }),
    };
    let mut p = Problem::new(3, f);
    p.domain = Box::new(|y| y.iter().all(|v| *v > 0.0));
    p.eq.push(affine(vec![1.0; 3], 1.0));
    let s = solve(&p, &[0.9, 0.05, 0.05], Method::Newton, &Settings::default()).unwrap();
    assert_eq!(s.status, Status::Optimal, "{s:?}");
    assert_close(&s.y, &[1.0 / 3.0; 3], TOL_Y, "1/n");
}

#[test]
fn smooth_newton_reports_unbounded_and_iteration_limits() {
    let p = Problem::new(
        1,
        Smooth {
            v: Box::new(|y| -y[0] * y[0]),
            d: Box::new(|y| vec![-2.0 * y[0]]),
            dd: Box::new(|_| vec![vec![-2.0]]),
        },
    );
    assert_eq!(run(&p, &[1.0], &Settings::default()).status, Status::Unbounded);
    let rosen = Problem::new(
        2,
        Smooth {
            v: Box::new(|y| 100.0 * (y[1] - y[0] * y[0]).powi(2) + (1.0 - y[0]).powi(2)),
            d: Box::new(|y| {
                vec![-400.0 * y[0] * (y[1] - y[0] * y[0]) - 2.0 * (1.0 - y[0]), 200.0 * (y[1] - y[0] * y[0])]
            }),
            dd: Box::new(|y| {
                vec![vec![1200.0 * y[0] * y[0] - 400.0 * y[1] + 2.0, -400.0 * y[0]], vec![-400.0 * y[0], 200.0]]
            }),
        },
    );
    let s = run(&rosen, &[-1.2, 1.0], &Settings { max_iter: 3, ..Settings::default() });
    assert_eq!(s.status, Status::MaxIterations);
    assert!(s.y.iter().all(|v| v.is_finite()));
}

/// A gradient that returns NaN is numerical trouble, never an optimum.
#[test]
fn smooth_nan_is_never_optimal() {
    let nan_grad = || Smooth {
        v: Box::new(|y| (y[0] - 1.0).powi(2)),
        d: Box::new(|_| vec![f64::NAN]),
        dd: Box::new(|_| vec![vec![2.0]]),
    };
    let s = run(&Problem::new(1, nan_grad()), &[0.0], &Settings::default());
    assert_eq!(s.status, Status::NumericalError);
    let mut p = Problem::new(1, nan_grad());
    p.ineq.push(affine(vec![1.0], 2.0));
    assert_eq!(run(&p, &[0.0], &Settings::default()).status, Status::NumericalError);
}

#[test]
fn smooth_settings_and_inputs_are_validated() {
    let p = Problem::new(1, distance_sq(vec![1.0]));
    assert!(solve(&p, &[0.0], Method::Auto, &Settings { tol: -1.0, ..Settings::default() }).is_err());
    assert!(solve(&p, &[0.0, 1.0], Method::Auto, &Settings::default()).is_err());
    assert!(solve(&p, &[f64::NAN], Method::Auto, &Settings::default()).is_err());
    let mut q = Problem::new(1, distance_sq(vec![1.0]));
    q.ineq.push(affine(vec![1.0], 0.0));
    assert!(solve(&q, &[0.0], Method::Newton, &Settings::default()).unwrap_err().to_string().contains("sqp"));
    assert_eq!(solve(&q, &[0.0], Method::Sqp, &Settings::default()).unwrap().status, Status::Optimal);
}

/// `min ‖y − x‖² s.t. yᵀy = 1` (or `≤ 1`), the projection onto the sphere / ball.
fn projection(x: &[f64], inequality: bool) -> Problem {
    let mut p = Problem::new(x.len(), distance_sq(x.to_vec()));
    if inequality {
        p.ineq.push(sphere(x.len(), 1.0));
    } else {
        p.eq.push(sphere(x.len(), 1.0));
    }
    p
}

#[test]
fn smooth_sphere_projection_from_an_infeasible_start() {
    let x = [0.3, -1.2, 0.5];
    let s = optimal(&projection(&x, false), &[0.2, 0.2, 0.2]);
    let want: Vec<f64> = x.iter().map(|v| v / norm(&x)).collect();
    assert_close(&s.y, &want, TOL_Y, "x/‖x‖");
    // 2(y − x) + 2νy = 0 with y = x/‖x‖: ν = ‖x‖ − 1.
    assert_close(&s.nu, &[norm(&x) - 1.0], TOL_Y, "ν");
}

/// `min ½yᵀQy + cᵀy s.t. Ay = b`, and its solution by the KKT system.
fn equality_qp(rng: &mut Rng, n: usize, m: usize) -> (Problem, Vec<f64>, Vec<f64>) {
    let (q, c, a, b) = (rng.spd(n, 1.0), rng.vec(n), rng.mat(m, n), rng.vec(m));
    let k = Mat::from_fn(n + m, n + m, |i, j| match (i < n, j < n) {
        (true, true) => q[i][j],
        (true, false) => a[j - n][i],
        (false, true) => a[i - n][j],
        _ => 0.0,
    });
    let rhs = Mat::from_fn(n + m, 1, |i, _| if i < n { -c[i] } else { b[i - n] });
    let z = k.partial_piv_lu().solve(rhs);
    let mut p = Problem::new(n, quadratic(q, c));
    p.eq = a.into_iter().zip(b).map(|(a, b)| affine(a, b)).collect();
    (p, (0..n).map(|i| z[(i, 0)]).collect(), (n..n + m).map(|i| z[(i, 0)]).collect())
}

#[test]
fn smooth_equality_qp_matches_its_kkt_solution() {
    let (p, y, nu) = equality_qp(&mut Rng(5), 6, 2);
    let s = optimal(&p, &[0.0; 6]);
    assert_close(&s.y, &y, TOL_Y, "y");
    assert_close(&s.nu, &nu, TOL_Y, "ν");
}

#[test]
fn smooth_ball_projection_active_and_inactive() {
    let x = [1.5, -1.0, 0.5];
    let s = optimal(&projection(&x, true), &[0.0; 3]);
    assert_close(&s.y, &x.iter().map(|v| v / norm(&x)).collect::<Vec<_>>(), TOL_Y, "x/‖x‖");
    assert_close(&s.lambda, &[norm(&x) - 1.0], TOL_Y, "λ = ‖x‖ − 1");
    let x = [0.3, -0.2, 0.5];
    let s = optimal(&projection(&x, true), &[0.0; 3]);
    assert_close(&s.y, &x, TOL_Y, "x inside");
    assert!(s.lambda[0].abs() < 1e-8);
}

/// Euclidean projection onto the simplex `{y ≥ 0, Σy = 1}` (Held et al.; Duchi
/// et al. 2008): `y = max(x − t, 0)` with `t` from the sorted `x`.
fn simplex_projection(x: &[f64]) -> Vec<f64> {
    let mut u = x.to_vec();
    u.sort_by(|a, b| b.partial_cmp(a).unwrap());
    let (mut sum, mut t) = (0.0, 0.0);
    for (k, v) in u.iter().enumerate() {
        sum += v;
        let cand = (sum - 1.0) / (k as f64 + 1.0);
        if v - cand > 0.0 {
            t = cand;
        }
    }
    x.iter().map(|v| (v - t).max(0.0)).collect()
}

fn simplex(x: &[f64]) -> Problem {
    let n = x.len();
    let mut p = Problem::new(n, distance_sq(x.to_vec()));
    p.eq.push(affine(vec![1.0; n], 1.0));
    p.ineq = (0..n).map(|i| affine((0..n).map(|j| if i == j { -1.0 } else { 0.0 }).collect(), 0.0)).collect();
    p
}

#[test]
fn smooth_simplex_projection_with_both_kinds_of_constraint() {
    let x = [0.9, -0.3, 0.4, 0.05, 1.2];
    let s = optimal(&simplex(&x), &[1.0; 5]);
    assert_close(&s.y, &simplex_projection(&x), TOL_Y, "simplex projection");
}

/// The OptNet QP `min ½zᵀQz + pᵀz s.t. Gz ≤ h, Az = b` with a planted optimum
/// (strictly complementary), `p` and `h` taken from `theta = (p, h)`.
fn planted_qp(theta: &[f64], data: &serde_json::Value) -> Problem {
    let rows = |k: &str| -> Vec<Vec<f64>> { serde_json::from_value(data[k].clone()).unwrap() };
    let (q, g, a) = (rows("Q"), rows("G"), rows("A"));
    let b: Vec<f64> = serde_json::from_value(data["b"].clone()).unwrap();
    let n = q.len();
    let mut p = Problem::new(n, quadratic(q, theta[..n].to_vec()));
    p.eq = a.into_iter().zip(b).map(|(a, b)| affine(a, b)).collect();
    p.ineq = g.into_iter().zip(&theta[n..]).map(|(g, h)| affine(g, *h)).collect();
    p
}

#[test]
fn smooth_planted_qp_from_an_infeasible_start() {
    let (data, z) = Rng(7).planted_optnet(8, 6, 2);
    let theta: Vec<f64> = serde_json::from_value::<Vec<f64>>(data["p"].clone())
        .unwrap()
        .into_iter()
        .chain(serde_json::from_value::<Vec<f64>>(data["h"].clone()).unwrap())
        .collect();
    let s = optimal(&planted_qp(&theta, &data), &[3.0; 8]);
    assert_close(&s.y, &z, TOL_Y, "planted z*");
}

/// Twenty planted QPs of a few sizes from random (infeasible) starts.
#[test]
fn smooth_planted_qps_from_random_starts() {
    for seed in 0..20u64 {
        let mut rng = Rng(100 + seed);
        let (n, k, q) = (4 + (seed as usize % 4) * 4, 3 + seed as usize % 9, seed as usize % 3);
        let (data, z) = rng.planted_optnet(n, k, q);
        let theta: Vec<f64> =
            ["p", "h"].iter().flat_map(|key| serde_json::from_value::<Vec<f64>>(data[*key].clone()).unwrap()).collect();
        let y0: Vec<f64> = rng.vec(n).iter().map(|v| 5.0 * v).collect();
        let s = optimal(&planted_qp(&theta, &data), &y0);
        assert_close(&s.y, &z, TOL_Y, &format!("seed {seed}"));
    }
}

/// Hock–Schittkowski 71 (IPOPT's tutorial problem): non-convex objective and
/// constraints, `min x₀x₃(x₀+x₁+x₂) + x₂ s.t. x₀x₁x₂x₃ ≥ 25, ‖x‖² = 40, 1 ≤ x ≤ 5`,
/// from (1, 5, 5, 1), which lies on three bounds.
#[test]
fn smooth_hock_schittkowski_71() {
    let f = Smooth {
        v: Box::new(|x| x[0] * x[3] * (x[0] + x[1] + x[2]) + x[2]),
        d: Box::new(|x| {
            vec![x[3] * (2.0 * x[0] + x[1] + x[2]), x[0] * x[3], x[0] * x[3] + 1.0, x[0] * (x[0] + x[1] + x[2])]
        }),
        dd: Box::new(|x| {
            let s = 2.0 * x[0] + x[1] + x[2];
            vec![
                vec![2.0 * x[3], x[3], x[3], s],
                vec![x[3], 0.0, 0.0, x[0]],
                vec![x[3], 0.0, 0.0, x[0]],
                vec![s, x[0], x[0], 0.0],
            ]
        }),
    };
    let product = Smooth {
        v: Box::new(|x| 25.0 - x[0] * x[1] * x[2] * x[3]),
        d: Box::new(|x| vec![-x[1] * x[2] * x[3], -x[0] * x[2] * x[3], -x[0] * x[1] * x[3], -x[0] * x[1] * x[2]]),
        dd: Box::new(|x| {
            (0..4)
                .map(|i| {
                    (0..4)
                        .map(|j| {
                            if i == j {
                                0.0
                            } else {
                                -(0..4).filter(|k| *k != i && *k != j).map(|k| x[k]).product::<f64>()
                            }
                        })
                        .collect()
                })
                .collect()
        }),
    };
    let mut p = Problem::new(4, f);
    p.eq.push(sphere(4, 40f64.sqrt()));
    p.ineq.push(product);
    for i in 0..4 {
        let e: Vec<f64> = (0..4).map(|j| if i == j { 1.0 } else { 0.0 }).collect();
        p.ineq.push(affine(e.iter().map(|v| -v).collect(), -1.0));
        p.ineq.push(affine(e, 5.0));
    }
    let s = optimal(&p, &[1.0, 5.0, 5.0, 1.0]);
    assert_close(&s.y, &[1.0, 4.74299963, 3.82114998, 1.37940829], 1e-7, "HS71");
    assert!((s.objective - 17.0140173).abs() < 1e-6, "{}", s.objective);
}

/// The ball projection started outside the ball (infeasible for g).
#[test]
fn smooth_inequality_from_an_infeasible_start() {
    let x = [1.5, -1.0, 0.5];
    let s = optimal(&projection(&x, true), &[2.0, 2.0, 2.0]);
    assert_close(&s.y, &x.iter().map(|v| v / norm(&x)).collect::<Vec<_>>(), TOL_Y, "x/‖x‖");
}

#[test]
fn smooth_infeasible_constraints_are_a_status() {
    // y₁ + y₂ = 1 and y₁ + y₂ ≤ 0.
    let mut p = Problem::new(2, distance_sq(vec![0.0, 0.0]));
    p.eq.push(affine(vec![1.0, 1.0], 1.0));
    p.ineq.push(affine(vec![1.0, 1.0], 0.0));
    let s = run(&p, &[0.3, 0.1], &Settings::default());
    assert_eq!(s.status, Status::Infeasible, "{s:?}");
    // yᵀy = −1: h has a stationary point at 0 with value 1.
    let mut p = Problem::new(2, distance_sq(vec![1.0, 0.0]));
    let q = sphere(2, 0.0);
    p.eq.push(Smooth { v: Box::new(move |y| (q.v)(y) + 1.0), d: q.d, dd: q.dd });
    let s = run(&p, &[0.3, 0.1], &Settings::default());
    assert_eq!(s.status, Status::Infeasible, "{s:?}");
}

// ---------------------------------------------------------------- adjoints

/// Central differences of `loss(θ) = v_yᵀy(θ) + v_νᵀν(θ) + v_λᵀλ(θ)` through
/// the forward solver, one coordinate of θ at a time.
fn fd_gradient(theta: &[f64], build: &dyn Fn(&[f64]) -> Problem, y0: &[f64], v: &Cotangents) -> Vec<f64> {
    let loss = |t: &[f64]| {
        let s = run(&build(t), y0, &FD_SETTINGS);
        assert_eq!(s.status, Status::Optimal, "{s:?}");
        dot(v.y, &s.y) + v.nu.map_or(0.0, |c| dot(c, &s.nu)) + v.lambda.map_or(0.0, |c| dot(c, &s.lambda))
    };
    (0..theta.len())
        .map(|i| {
            let (mut up, mut down) = (theta.to_vec(), theta.to_vec());
            up[i] += FD_STEP;
            down[i] -= FD_STEP;
            (loss(&up) - loss(&down)) / (2.0 * FD_STEP)
        })
        .collect()
}

fn adjoint_at(p: &Problem, s: &SmoothSolution, v: &Cotangents) -> Adjoint {
    let adj = adjoint(p, &s.y, &s.nu, &s.lambda, v, ACTIVITY_TOL).expect("adjoint");
    assert!(adj.w.iter().chain(&adj.a).chain(&adj.b).all(|v| v.is_finite()));
    adj
}

/// `min ‖y − x‖² + ¼Σyᵢ⁴`: ∇L = 2(y − x) + y³, so dLoss/dx = −∂ₓ[wᵀ∇L] = 2w.
#[test]
fn smooth_ift_unconstrained_matches_finite_differences() {
    let build = |x: &[f64]| {
        let d = distance_sq(x.to_vec());
        let dd = d.dd;
        let (v, g) = (d.v, d.d);
        Problem::new(
            x.len(),
            Smooth {
                v: Box::new(move |y| v(y) + y.iter().map(|t| t.powi(4) / 4.0).sum::<f64>()),
                d: Box::new(move |y| g(y).iter().zip(y).map(|(a, t)| a + t.powi(3)).collect()),
                dd: Box::new(move |y| {
                    let mut h = dd(y);
                    for i in 0..y.len() {
                        h[i][i] += 3.0 * y[i] * y[i];
                    }
                    h
                }),
            },
        )
    };
    let x = [0.7, -1.3, 2.0];
    let vy = [1.0, -0.5, 0.25];
    let v = Cotangents { y: &vy, nu: None, lambda: None };
    let p = build(&x);
    let s = optimal(&p, &[0.0; 3]);
    let adj = adjoint_at(&p, &s, &v);
    let grad: Vec<f64> = adj.w.iter().map(|w| 2.0 * w).collect();
    assert_close(&grad, &fd_gradient(&x, &build, &[0.0; 3], &v), TOL_FD, "dL/dx");
    assert_eq!(adj.degenerate, 0);
}

/// `min −xᵀy s.t. yᵀy = 1`: y = x/‖x‖, ∇L = −x + 2νy, dLoss/dx = w.
#[test]
fn smooth_ift_sphere_with_a_linear_objective() {
    let build = |x: &[f64]| {
        let mut p = Problem::new(x.len(), affine(x.iter().map(|v| -v).collect(), 0.0));
        p.eq.push(sphere(x.len(), 1.0));
        p
    };
    let x = [0.4, -1.1, 0.8];
    let y0 = [0.5, -0.5, 0.5];
    let vy = [0.3, 1.0, -0.7];
    let v = Cotangents { y: &vy, nu: None, lambda: None };
    let p = build(&x);
    let s = optimal(&p, &y0);
    assert_close(&s.y, &x.iter().map(|v| v / norm(&x)).collect::<Vec<_>>(), TOL_Y, "x/‖x‖");
    let adj = adjoint_at(&p, &s, &v);
    assert_close(&adj.w, &fd_gradient(&x, &build, &y0, &v), TOL_FD, "dL/dx");
}

/// The leading eigenvector: `min −yᵀAy s.t. yᵀy = 1`, where `H = 2(νI − A)` with
/// `ν = λ_max(A)` is singular along `y` itself. ∇L = −(A + Aᵀ)y + 2νy, so
/// dLoss/dA_ij = wᵢyⱼ + wⱼyᵢ.
#[test]
fn smooth_ift_eigenvector_with_a_singular_hessian() {
    let n = 3;
    let build = |a: &[f64]| {
        let s: Vec<Vec<f64>> = (0..n).map(|i| (0..n).map(|j| -(a[i * n + j] + a[j * n + i])).collect()).collect();
        let mut p = Problem::new(n, quadratic(s, vec![0.0; n]));
        p.eq.push(sphere(n, 1.0));
        p
    };
    let a = [2.0, 0.3, -0.2, 0.3, 1.0, 0.4, -0.2, 0.4, 0.5];
    let y0 = [1.0, 0.2, 0.0];
    let vy = [0.5, -1.0, 0.8];
    let v = Cotangents { y: &vy, nu: None, lambda: None };
    let p = build(&a);
    let s = optimal(&p, &y0);
    let hess = p.lagrangian_hessian(&s.y, &s.nu, &s.lambda).unwrap();
    let hy: Vec<f64> = (0..n).map(|i| (0..n).map(|j| hess[(i, j)] * s.y[j]).sum()).collect();
    assert!(norm(&hy) < 1e-7, "H y = {hy:?}: H is singular along y");
    let adj = adjoint_at(&p, &s, &v);
    let grad: Vec<f64> = (0..n * n).map(|k| adj.w[k / n] * s.y[k % n] + adj.w[k % n] * s.y[k / n]).collect();
    assert_close(&grad, &fd_gradient(&a, &build, &y0, &v), TOL_FD, "dL/dA");
}

/// The sphere projection with its equality written twice: K is singular, the
/// answer is the minimum-norm one and still the derivative. dLoss/dx = 2w.
#[test]
fn smooth_ift_redundant_constraints_give_the_minimum_norm_answer() {
    let build = |x: &[f64]| {
        let mut p = projection(x, false);
        p.eq.push(sphere(x.len(), 1.0));
        p
    };
    let x = [0.3, -1.2, 0.5];
    let y0 = [0.2, -0.5, 0.2];
    let vy = [1.0, 0.4, -0.3];
    let v = Cotangents { y: &vy, nu: None, lambda: None };
    let p = build(&x);
    let s = optimal(&p, &y0);
    let adj = adjoint_at(&p, &s, &v);
    assert_eq!(adj.degenerate, 1, "one duplicated equality: one degenerate direction");
    assert!((adj.a[0] - adj.a[1]).abs() < 1e-8, "minimum norm splits a evenly: {:?}", adj.a);
    let grad: Vec<f64> = adj.w.iter().map(|w| 2.0 * w).collect();
    assert_close(&grad, &fd_gradient(&x, &build, &y0, &v), TOL_FD, "dL/dx");
}

/// `min ½yᵀQy + cᵀy s.t. Ay = b` with θ = (c, b): ∇L = Qy + c + Aᵀν and
/// h = Ay − b, so dLoss/dc = −w and dLoss/db = a. Cotangents on y and ν.
#[test]
fn smooth_ift_equality_qp_with_multiplier_cotangents() {
    let (n, m) = (5, 2);
    let (base, _, _) = equality_qp(&mut Rng(21), n, m);
    let y_any = vec![0.0; n];
    let c0: Vec<f64> = (base.f.d)(&y_any);
    let b0: Vec<f64> = base.eq.iter().map(|h| -(h.v)(&y_any)).collect();
    let q: Vec<Vec<f64>> = (base.f.dd)(&y_any);
    let a: Vec<Vec<f64>> = base.eq.iter().map(|h| (h.d)(&y_any)).collect();
    let build = |theta: &[f64]| {
        let mut p = Problem::new(n, quadratic(q.clone(), theta[..n].to_vec()));
        p.eq = (0..m).map(|r| affine(a[r].clone(), theta[n + r])).collect();
        p
    };
    let theta: Vec<f64> = c0.iter().chain(&b0).copied().collect();
    let mut rng = Rng(3);
    let (vy, vnu) = (rng.vec(n), rng.vec(m));
    let v = Cotangents { y: &vy, nu: Some(&vnu), lambda: None };
    let p = build(&theta);
    let s = optimal(&p, &vec![1.0; n]);
    let adj = adjoint_at(&p, &s, &v);
    let grad: Vec<f64> = adj.w.iter().map(|w| -w).chain(adj.a.iter().copied()).collect();
    assert_close(&grad, &fd_gradient(&theta, &build, &vec![1.0; n], &v), TOL_FD, "dL/d(c, b)");
}

/// The planted QP with θ = (p, h): ∇L = Qz + p + Aᵀν + Gᵀλ and g = Gz − h, so
/// dLoss/dp = −w and dLoss/dh = b (zero on the inactive rows).
#[test]
fn smooth_ift_planted_qp_matches_finite_differences() {
    let (data, _) = Rng(8).planted_optnet(6, 6, 2);
    let theta: Vec<f64> = serde_json::from_value::<Vec<f64>>(data["p"].clone())
        .unwrap()
        .into_iter()
        .chain(serde_json::from_value::<Vec<f64>>(data["h"].clone()).unwrap())
        .collect();
    let build = |t: &[f64]| planted_qp(t, &data);
    let mut rng = Rng(4);
    let (vy, vl) = (rng.vec(6), rng.vec(6));
    let v = Cotangents { y: &vy, nu: None, lambda: Some(&vl) };
    let p = build(&theta);
    let s = optimal(&p, &[0.0; 6]);
    let adj = adjoint_at(&p, &s, &v);
    assert!(adj.weakly_active.is_empty() && adj.degenerate == 0);
    let grad: Vec<f64> = adj.w.iter().map(|w| -w).chain(adj.b.iter().copied()).collect();
    assert_close(&grad, &fd_gradient(&theta, &build, &[0.0; 6], &v), TOL_FD, "dL/d(p, h)");
}

/// The ball projection with ‖x‖ > 1 (active): ∇L = 2(y − x) + 2λy, dLoss/dx = 2w.
/// A cotangent on λ too.
#[test]
fn smooth_ift_active_inequality() {
    let build = |x: &[f64]| projection(x, true);
    let x = [1.5, -1.0, 0.5];
    let (vy, vl) = ([0.2, 0.9, -0.4], [0.7]);
    let v = Cotangents { y: &vy, nu: None, lambda: Some(&vl) };
    let p = build(&x);
    let s = optimal(&p, &[0.0; 3]);
    let adj = adjoint_at(&p, &s, &v);
    assert!(adj.weakly_active.is_empty());
    let grad: Vec<f64> = adj.w.iter().map(|w| 2.0 * w).collect();
    assert_close(&grad, &fd_gradient(&x, &build, &[0.0; 3], &v), TOL_FD, "dL/dx");
}

/// The simplex projection: ∇L = 2(y − x) + ν1 − λ, dLoss/dx = 2w; some
/// inequalities strictly active, others inactive.
#[test]
fn smooth_ift_simplex_projection() {
    let x = [0.9, -0.3, 0.4, 0.05, 1.2];
    let vy = [0.3, -0.2, 1.0, 0.5, -0.8];
    let v = Cotangents { y: &vy, nu: None, lambda: None };
    let p = simplex(&x);
    let s = optimal(&p, &[1.0; 5]);
    let adj = adjoint_at(&p, &s, &v);
    assert!(adj.weakly_active.is_empty(), "{:?}", adj.weakly_active);
    let grad: Vec<f64> = adj.w.iter().map(|w| 2.0 * w).collect();
    assert_close(&grad, &fd_gradient(&x, &simplex, &[1.0; 5], &v), TOL_FD, "dL/dx");
}

/// The ball projection at ‖x‖ = 1: the constraint is active with λ = 0. Along
/// x, moving out leaves y = x/‖x‖ fixed (loss slope 0 for v = x), moving in
/// gives y = x (slope ‖x‖² = 1). The adjoint reports the constraint and returns
/// a finite slope between the two.
#[test]
fn smooth_ift_weakly_active_constraint_is_reported_and_bracketed() {
    let x = [0.6, 0.0, 0.8];
    let v = Cotangents { y: &x, nu: None, lambda: None };
    let p = projection(&x, true);
    let s = optimal(&p, &[0.0; 3]);
    let adj = adjoint_at(&p, &s, &v);
    assert_eq!(adj.weakly_active, vec![0]);
    let slope = dot(&adj.w.iter().map(|w| 2.0 * w).collect::<Vec<_>>(), &x);
    let loss = |t: f64| {
        let xt: Vec<f64> = x.iter().map(|v| v * t).collect();
        dot(&x, &run(&projection(&xt, true), &[0.0; 3], &FD_SETTINGS).y)
    };
    // The map is linear on either side, so a long step is exact, and keeps the
    // IPM's O(√tol) error at the kink out of the quotient.
    let step = 1e-3;
    let (right, left) = ((loss(1.0 + step) - loss(1.0)) / step, (loss(1.0) - loss(1.0 - step)) / step);
    assert!(right.abs() < 1e-3 && (left - 1.0).abs() < 1e-3, "one-sided: {right}, {left}");
    assert!(slope > right - 1e-6 && slope < left + 1e-6, "{slope} not in [{right}, {left}]");
}

/// ⟨v, J u⟩ = ⟨Jᵀv, u⟩ for the solution map θ ↦ y of the simplex projection: Jᵀv
/// from the adjoint, J u by a directional central difference of the forward.
#[test]
fn smooth_ift_adjoint_identity() {
    let x = [0.9, -0.3, 0.4, 0.05, 1.2];
    let p = simplex(&x);
    let s = optimal(&p, &[1.0; 5]);
    let mut rng = Rng(99);
    for _ in 0..3 {
        let (u, v) = (rng.vec(5), rng.vec(5));
        let adj = adjoint_at(&p, &s, &Cotangents { y: &v, nu: None, lambda: None });
        let jtv: Vec<f64> = adj.w.iter().map(|w| 2.0 * w).collect();
        let at = |t: f64| {
            let xt: Vec<f64> = x.iter().zip(&u).map(|(x, u)| x + t * u).collect();
            run(&simplex(&xt), &[1.0; 5], &FD_SETTINGS).y
        };
        let ju: Vec<f64> = at(FD_STEP).iter().zip(at(-FD_STEP)).map(|(a, b)| (a - b) / (2.0 * FD_STEP)).collect();
        let (lhs, rhs) = (dot(&v, &ju), dot(&jtv, &u));
        assert!((lhs - rhs).abs() < TOL_FD * (1.0 + lhs.abs()), "⟨v, Ju⟩ = {lhs}, ⟨Jᵀv, u⟩ = {rhs}");
    }
}

/// A weakly active constraint whose multiplier has underflowed: the smoothing
/// term is bounded, K keeps its scale, and the answer is the inactive one
/// (y = x locally, so dLoss/dx = 2w = v).
#[test]
fn smooth_ift_vanishing_multiplier_stays_finite() {
    let y = [0.6, 0.0, 0.8 * (1.0 - 1e-6)];
    let p = projection(&y, true);
    let vy = [1.0, -2.0, 0.5];
    let adj = adjoint(&p, &y, &[], &[1e-300], &Cotangents { y: &vy, nu: None, lambda: None }, ACTIVITY_TOL).unwrap();
    assert_eq!(adj.weakly_active, vec![0]);
    assert_eq!(adj.degenerate, 0);
    assert_close(&adj.w.iter().map(|w| 2.0 * w).collect::<Vec<_>>(), &vy, 1e-6, "inactive answer");
}

#[test]
fn smooth_ift_rejects_mismatched_lengths() {
    let p = projection(&[1.5, 0.0], true);
    let v = Cotangents { y: &[1.0], nu: None, lambda: None };
    assert!(adjoint(&p, &[1.0, 0.0], &[], &[0.5], &v, ACTIVITY_TOL)
        .unwrap_err()
        .to_string()
        .contains("cotangent of y"));
}

/// The leading eigenvector of fifty random symmetric matrices from random
/// starts: a non-convex equality problem whose other stationary points (the
/// other eigenvectors) are saddles, which the inertia correction and the
/// second-order correction must not stop at or crawl past. ν is the top
/// eigenvalue.
#[test]
fn smooth_eigenvectors_of_random_matrices() {
    let n = 6;
    for seed in 0..50u64 {
        let mut rng = Rng(500 + seed);
        let a = rng.mat(n, n);
        let sym: Vec<Vec<f64>> = (0..n).map(|i| (0..n).map(|j| -(a[i][j] + a[j][i])).collect()).collect();
        let mut p = Problem::new(n, quadratic(sym.clone(), vec![0.0; n]));
        p.eq.push(sphere(n, 1.0));
        let s = optimal(&p, &rng.vec(n));
        let m = mat(sym.iter().map(|r| r.iter().map(|v| -v / 2.0).collect()).collect(), n, n);
        let top = m.self_adjoint_eigenvalues(faer::Side::Lower).unwrap()[n - 1];
        assert!((s.nu[0] - top).abs() < 1e-7, "seed {seed}: ν = {}, λ_max = {top}", s.nu[0]);
    }
}
