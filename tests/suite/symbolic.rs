//! Symbolic derivatives of smooth nodes, checked on numbers: every derived
//! expression against central differences of the evaluator, on seeded random
//! inputs, for every smooth stdlib node and least squares; the least-squares
//! implicit backward against its closed form; `explain` snapshots.

use std::collections::BTreeMap;

use ddn::eval::{Env, Tensor};
use ddn::ir::{Dim, Node};
use ddn::kernel::NodeProblem;
use ddn::runtime::inputs::{bind, Bound};
use ddn::smooth::{NewtonPass, SmoothProblem};
use ddn::symbolic::{derive, listing, Derived, SymRole};
use ddn::syntax::ast::BaseType;

use super::{compile_path, root, Rng};

/// Central-difference step: the truncation error (~h²) and the rounding error
/// (~ε/h) of the differences balance near 1e-5 … 1e-6.
const H: f64 = 1e-6;
/// Relative tolerance of a derivative against its central difference.
const TOL: f64 = 1e-6;

fn stdlib_node(file: &str, name: &str) -> Node {
    file_node(&format!("stdlib/{file}"), name)
}

/// Node `name` of the file at `path` (relative to the crate root).
fn file_node(path: &str, name: &str) -> Node {
    let c = compile_path(&root().join(path));
    let file = path;
    assert!(!c.has_errors(), "{file} does not compile");
    c.program.nodes.into_iter().find(|n| n.name == name).unwrap_or_else(|| panic!("no node {name} in {file}"))
}

/// Random parameter values of the right shapes and domains (`pos` in
/// (0.5, 1.5), `sym` symmetric), with the dimension names of `sizes`.
fn random_bound(node: &Node, sizes: &[(&str, usize)], rng: &mut Rng) -> Bound {
    let size = |d: &Dim| match d {
        Dim::Fixed(v) => *v as usize,
        Dim::Named(id) => {
            let name = &node.dims[id.0 as usize].name;
            sizes.iter().find(|(n, _)| n == name).unwrap_or_else(|| panic!("no size for `{name}`")).1
        }
    };
    let mut inputs = BTreeMap::new();
    for p in &node.params {
        let shape: Vec<usize> = p.shape.0.iter().map(size).collect();
        let mut t = Tensor::filled(shape.clone(), 0.0);
        t.data.iter_mut().for_each(|x| *x = rng.next());
        match p.base {
            BaseType::Pos => t.data.iter_mut().for_each(|x| *x = x.abs() + 0.5),
            BaseType::Nonneg => t.data.iter_mut().for_each(|x| *x = x.abs()),
            BaseType::Psd => {
                let n = shape[0];
                let l = t.data.clone();
                for i in 0..n {
                    for j in 0..n {
                        t.data[i * n + j] = (0..n).map(|k| l[i * n + k] * l[j * n + k]).sum::<f64>();
                    }
                }
            }
            BaseType::Sym => {
                let n = shape[0];
                for i in 0..n {
                    for j in 0..i {
                        t.data[i * n + j] = t.data[j * n + i];
                    }
                }
            }
            BaseType::Real => {}
        }
        inputs.insert(p.name.clone(), t);
    }
    bind(node, &inputs).unwrap_or_else(|e| panic!("bind: {e:?}"))
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn norm(a: &[f64]) -> f64 {
    dot(a, a).sqrt()
}

/// `‖got − want‖ ≤ TOL · max(1, ‖want‖)`.
fn assert_close(what: &str, got: &[f64], want: &[f64]) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    let diff: Vec<f64> = got.iter().zip(want).map(|(a, b)| a - b).collect();
    let err = norm(&diff) / norm(want).max(1.0);
    assert!(err <= TOL, "{what}: relative error {err:.2e}\n got  {got:?}\n want {want:?}");
}

/// The central difference of a vector function along `dir`.
fn central(f: impl Fn(&[f64]) -> Vec<f64>, x: &[f64], dir: &[f64]) -> Vec<f64> {
    let at = |s: f64| f(&x.iter().zip(dir).map(|(a, d)| a + s * d).collect::<Vec<_>>());
    at(H).iter().zip(at(-H)).map(|(p, m)| (p - m) / (2.0 * H)).collect()
}

fn unit(n: usize, k: usize) -> Vec<f64> {
    let mut e = vec![0.0; n];
    e[k] = 1.0;
    e
}

/// Values of the derived expressions' symbols: the multipliers from flat `nu`,
/// `lam` (in constraint order), zeros for the rest.
fn multiplier_values(d: &Derived, bound: &Bound, nu: &[f64], lam: &[f64]) -> Vec<Tensor> {
    let (mut at_nu, mut at_lam) = (0, 0);
    d.syms
        .iter()
        .map(|s| {
            let shape = ddn::eval::concrete(&s.shape, &bound.dims);
            let len: usize = shape.iter().product();
            let take = |flat: &[f64], at: &mut usize| {
                *at += len;
                Tensor { shape: shape.clone(), data: flat[*at - len..*at].to_vec() }
            };
            match s.role {
                SymRole::Nu(_) => take(nu, &mut at_nu),
                SymRole::Lambda(_) => take(lam, &mut at_lam),
                _ => Tensor::filled(shape.clone(), 0.0),
            }
        })
        .collect()
}

/// `L = f + νᵀh + λᵀg`.
fn lagrangian(p: &NodeProblem, y: &[f64], nu: &[f64], lam: &[f64]) -> f64 {
    p.objective(y).unwrap() + dot(nu, &p.eq(y).unwrap()) + dot(lam, &p.ineq(y).unwrap())
}

/// Checks every derived expression of `node` against central differences at a
/// random point with random multipliers, direction and backward seeds.
fn check_node(file: &str, name: &str, sizes: &[(&str, usize)], seed: u64) {
    check(&stdlib_node(file, name), sizes, seed);
}

/// The node's kernels evaluated by the tree walk: the reference.
fn evaluated(node: &Node, derived: &ddn::symbolic::Derived) -> ddn::kernel::Evaluated {
    ddn::kernel::Evaluated(std::sync::Arc::new(ddn::kernel::KernelSet::new(node, Some(derived))))
}

fn check(node: &Node, sizes: &[(&str, usize)], seed: u64) {
    let name = &node.name;
    let derived = derive(node).unwrap_or_else(|e| panic!("{name}: {e}"));
    let mut rng = Rng(seed);
    let bound = random_bound(node, sizes, &mut rng);
    let kernels = evaluated(node, &derived);
    let p = NodeProblem::new(node, &bound, &derived, &kernels);
    let (n, n_eq, n_ineq) = (p.dim(), p.n_eq(), p.n_ineq());
    // positive entries keep x log x, entr and log in their domains
    let y: Vec<f64> = (0..n).map(|_| 0.2 + 0.7 * rng.next().abs()).collect();
    let nu = rng.vec(n_eq);
    let lam: Vec<f64> = rng.vec(n_ineq).iter().map(|x| x.abs()).collect();
    let v = rng.vec(n);

    // f_y against the differences of f
    let grad = p.gradient(&y).unwrap();
    let fd: Vec<f64> = (0..n).map(|k| central(|z| vec![p.objective(z).unwrap()], &y, &unit(n, k))[0]).collect();
    assert_close(&format!("{name}: f_y"), &grad, &fd);

    // L_y against the differences of L
    let grad_l = p.lagrangian_gradient(&y, &nu, &lam).unwrap();
    let fd: Vec<f64> = (0..n).map(|k| central(|z| vec![lagrangian(&p, z, &nu, &lam)], &y, &unit(n, k))[0]).collect();
    assert_close(&format!("{name}: L_y"), &grad_l, &fd);

    // L_yy v against the differences of L_y along v, and the assembled Hessian
    let hv = p.lagrangian_hvp(&y, &nu, &lam, &v).unwrap();
    let fd = central(|z| p.lagrangian_gradient(z, &nu, &lam).unwrap(), &y, &v);
    assert_close(&format!("{name}: L_yy v"), &hv, &fd);
    let hess = p.lagrangian_hessian(&y, &nu, &lam).unwrap();
    let h_v: Vec<f64> = (0..n).map(|i| (0..n).map(|j| hess[(i, j)] * v[j]).sum()).collect();
    assert_close(&format!("{name}: (L_yy) v"), &h_v, &hv);
    // the structured Hessian kernel, where derived: column by column against the
    // HVP-built Hessian and the central differences of L_y
    if derived.hess_l.is_some() {
        let by_hvp = p.lagrangian_hessian_by_hvp(&y, &nu, &lam).unwrap();
        for k in 0..n {
            let col: Vec<f64> = (0..n).map(|i| hess[(i, k)]).collect();
            let hvp_col: Vec<f64> = (0..n).map(|i| by_hvp[(i, k)]).collect();
            assert_close(&format!("{name}: L_yy column {k} against HVPs"), &col, &hvp_col);
            let fd = central(|z| p.lagrangian_gradient(z, &nu, &lam).unwrap(), &y, &unit(n, k));
            assert_close(&format!("{name}: L_yy column {k} against differences"), &col, &fd);
        }
    }
    // Newton's one pass for all three (unconstrained nodes): f_y bit for bit
    // the Gradient kernel's, f the Objective kernel's, ∇²f the Hessian of a
    // problem that evaluated nothing yet
    if n_eq + n_ineq == 0 {
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        let fresh = NodeProblem::new(node, &bound, &derived, &kernels);
        let NewtonPass { gradient: g, hessian: h, objective } = fresh.gradient_and_hessian(&y).unwrap();
        assert_eq!(bits(&g), bits(&grad), "{name}: f_y beside the Hessian");
        assert_eq!(h.is_some(), derived.hess_l.is_some(), "{name}: a Hessian from the one pass");
        assert_eq!(objective.is_some(), h.is_some(), "{name}: f with the Hessian");
        if let Some(f) = objective {
            assert_eq!(f.to_bits(), p.objective(&y).unwrap().to_bits(), "{name}: f beside the Hessian");
        }
        if let Some(h) = h {
            let again = NodeProblem::new(node, &bound, &derived, &kernels).lagrangian_hessian(&y, &[], &[]).unwrap();
            let entries = |m: &faer::Mat<f64>| (0..n * n).map(|k| m[(k / n, k % n)].to_bits()).collect::<Vec<_>>();
            assert_eq!(entries(&h), entries(&again), "{name}: the Hessian beside f_y");
            // and kept once Newton hands the pass back: asked again at that
            // point, the problem gives it back
            let want = entries(&h);
            fresh.recycle(&y, NewtonPass { gradient: g, hessian: Some(h), objective });
            assert_eq!(fresh.hessian_at(&y, &[], &[]).map(|m| entries(&m)), Some(want), "{name}: kept");
        }
    }

    // the evaluator's numeric reverse mode through the derived L_y (internal atoms
    // included) gives the same L_yy v, since the Hessian is symmetric
    let syms = multiplier_values(&derived, &bound, &nu, &lam);
    let vars = p.unflatten(&y);
    let env = Env { params: &bound.params, vars: &vars, dims: &bound.dims, syms: &syms };
    let mut numeric = vec![0.0; n];
    for (g, cot) in derived.grad_l.iter().zip(p.unflatten(&v)) {
        let grads = ddn::eval::vjp(&g.expr, &env, &cot).unwrap();
        let flat: Vec<f64> =
            grads.vars.iter().zip(&vars).flat_map(|(d, x)| d.clone().map_or(vec![0.0; x.len()], |d| d.data)).collect();
        numeric.iter_mut().zip(flat).for_each(|(a, b)| *a += b);
    }
    assert_close(&format!("{name}: vjp of L_y"), &numeric, &hv);

    // Jacobians against the differences of h and g, column by column
    for (what, jac, values, rows) in [
        ("h_y", p.eq_jacobian(&y).unwrap(), (|p: &NodeProblem, z: &[f64]| p.eq(z).unwrap()) as fn(&_, &_) -> _, n_eq),
        ("g_y", p.ineq_jacobian(&y).unwrap(), |p: &NodeProblem, z: &[f64]| p.ineq(z).unwrap(), n_ineq),
    ] {
        assert_eq!((jac.nrows(), jac.ncols()), (rows, n), "{name}: {what} size");
        for k in 0..n {
            let col: Vec<f64> = (0..rows).map(|i| jac[(i, k)]).collect();
            assert_close(&format!("{name}: {what} column {k}"), &col, &central(|z| values(&p, z), &y, &unit(n, k)));
        }
    }

    // mixed partials against the differences in θ of wᵀL_y + aᵀh + bᵀg
    let (w, a, b) = (rng.vec(n), rng.vec(n_eq), rng.vec(n_ineq));
    let mixed = p.param_vjp(&y, &nu, &lam, &w, &a, &b).unwrap();
    let phi = |bound: &Bound| {
        let q = NodeProblem::new(node, bound, &derived, &kernels);
        dot(&w, &q.lagrangian_gradient(&y, &nu, &lam).unwrap())
            + dot(&a, &q.eq(&y).unwrap())
            + dot(&b, &q.ineq(&y).unwrap())
    };
    for (k, m) in mixed.iter().enumerate() {
        assert_eq!(m.shape, bound.params[k].shape, "{name}: mixed shape");
        let fd: Vec<f64> = (0..m.len())
            .map(|i| {
                let at = |s: f64| {
                    let mut b2 = bound.clone();
                    b2.params[k].data[i] += s;
                    phi(&b2)
                };
                (at(H) - at(-H)) / (2.0 * H)
            })
            .collect();
        assert_close(&format!("{name}: mixed_{}", node.params[k].name), &m.data, &fd);
    }
}

const POOL: &[(&str, usize)] = &[("n", 5), ("d", 3)];

#[test]
fn pooling_derivatives_match_differences() {
    for name in ["pool_quadratic", "pool_pseudo_huber", "pool_huber", "pool_welsch", "pool_truncated_quadratic"] {
        check_node("robust_pooling.ddn", name, POOL, 11);
    }
}

#[test]
fn entropic_ot_derivatives_match_differences() {
    check_node("optimal_transport.ddn", "entropic_ot", &[("m", 3), ("n", 4)], 12);
}

#[test]
fn eigen_derivatives_match_differences() {
    check_node("eigen.ddn", "max_eigvec", &[("m", 4)], 13);
    check_node("eigen.ddn", "eigh_full", &[("m", 3)], 14);
}

#[test]
fn etf_project_derivatives_match_differences() {
    check_node("neural_collapse.ddn", "etf_project", &[("d", 4), ("k", 3)], 15);
}

#[test]
fn pnp_derivatives_match_differences() {
    check_node("pnp.ddn", "weighted_pnp", &[("m", 4), ("n", 5)], 27);
}

#[test]
fn more_smooth_nodes_derivatives_match_differences() {
    check_node("more.ddn", "logistic_regression", &[("m", 6), ("n", 3)], 16);
    check_node("more.ddn", "softmax_layer", &[("n", 4)], 17);
    check_node("more.ddn", "pool_welsch_ball", POOL, 18);
}

#[test]
fn least_squares_derivatives_match_differences() {
    check_node("least_squares.ddn", "least_squares", &[("m", 6), ("n", 3)], 19);
}

/// The nodes whose Hessian is derived in one sweep (`Derived::hess_l`), and
/// those left to Hessian–vector products: a node must not fall back silently.
#[test]
fn structured_hessians_are_derived_where_the_structure_allows() {
    let structured = [
        ("stdlib/robust_pooling.ddn", "pool_pseudo_huber"),
        ("stdlib/robust_pooling.ddn", "pool_welsch"),
        ("stdlib/robust_pooling.ddn", "pool_truncated_quadratic"),
        ("stdlib/more.ddn", "pool_welsch_ball"),
        ("stdlib/more.ddn", "logistic_regression"),
        ("stdlib/least_squares.ddn", "least_squares"),
        ("stdlib/eigen.ddn", "max_eigvec"),
        ("tests/symbolic/structure.ddn", "pool_vec_pseudo_huber"),
        ("tests/symbolic/structure.ddn", "pool_vec_welsch"),
        ("tests/symbolic/structure.ddn", "mixed_forms"),
        ("tests/symbolic/structure.ddn", "two_vars"),
    ];
    for (file, name) in structured {
        let node = file_node(file, name);
        assert!(derive(&node).unwrap().hess_l.is_some(), "{name}: no structured Hessian");
    }
    // a matrix variable: Hessian–vector products
    let node = stdlib_node("optimal_transport.ddn", "entropic_ot");
    assert!(derive(&node).unwrap().hess_l.is_none());
}

/// Robust pooling of whole vectors (a penalty of the distance `‖xᵢ − y‖`):
/// the Hessian is `diag(Σ aᵢ) + Zᵀ diag(b) Z`, a sum over rows of outer products.
#[test]
fn vector_pooling_derivatives_match_differences() {
    check(&file_node("tests/symbolic/structure.ddn", "pool_vec_pseudo_huber"), POOL, 23);
    check(&file_node("tests/symbolic/structure.ddn", "pool_vec_welsch"), POOL, 24);
}

/// Products with data on either side, means, and two coupled variables.
#[test]
fn structured_forms_match_differences() {
    let sizes = &[("m", 4), ("n", 3)];
    check(&file_node("tests/symbolic/structure.ddn", "mixed_forms"), sizes, 25);
    check(&file_node("tests/symbolic/structure.ddn", "two_vars"), sizes, 26);
}

/// Solves the dense system `a x = b` by Gaussian elimination with partial pivoting.
fn solve(mut a: Vec<Vec<f64>>, mut b: Vec<f64>) -> Vec<f64> {
    let n = b.len();
    for c in 0..n {
        let p = (c..n).max_by(|&i, &j| a[i][c].abs().total_cmp(&a[j][c].abs())).unwrap();
        a.swap(c, p);
        b.swap(c, p);
        for r in c + 1..n {
            let f = a[r][c] / a[c][c];
            for k in c..n {
                a[r][k] -= f * a[c][k];
            }
            b[r] -= f * b[c];
        }
    }
    let mut x = vec![0.0; n];
    for r in (0..n).rev() {
        x[r] = (b[r] - (r + 1..n).map(|k| a[r][k] * x[k]).sum::<f64>()) / a[r][r];
    }
    x
}

/// The implicit backward from the derived expressions (w = L_yy⁻¹ v, dθ = −mixed)
/// equals least squares' closed form dA = r w'ᵀ − (A w') xᵀ, db = A w' with
/// w' = (AᵀA)⁻¹ v and r = b − A x (the factor 2 of sum_squares cancels).
#[test]
fn least_squares_implicit_backward_matches_closed_form() {
    let node = stdlib_node("least_squares.ddn", "least_squares");
    let derived = derive(&node).unwrap();
    let (m, n) = (6, 3);
    let mut rng = Rng(21);
    let bound = random_bound(&node, &[("m", m), ("n", n)], &mut rng);
    let (a, b) = (&bound.params[0].data, &bound.params[1].data);
    let at = |i: usize, j: usize| a[i * n + j];
    let ata: Vec<Vec<f64>> =
        (0..n).map(|i| (0..n).map(|j| (0..m).map(|k| at(k, i) * at(k, j)).sum()).collect()).collect();
    let atb: Vec<f64> = (0..n).map(|i| (0..m).map(|k| at(k, i) * b[k]).sum()).collect();
    let x = solve(ata.clone(), atb);
    let v = rng.vec(n);

    let kernels = evaluated(&node, &derived);
    let p = NodeProblem::new(&node, &bound, &derived, &kernels);
    let hess = p.lagrangian_hessian(&x, &[], &[]).unwrap();
    let h: Vec<Vec<f64>> = (0..n).map(|i| (0..n).map(|j| hess[(i, j)]).collect()).collect();
    let w = solve(h, v.clone());
    let grads = p.param_vjp(&x, &[], &[], &w, &[], &[]).unwrap();
    let (da, db): (Vec<f64>, Vec<f64>) =
        (grads[0].data.iter().map(|g| -g).collect(), grads[1].data.iter().map(|g| -g).collect());

    let w1 = solve(ata, v);
    let r: Vec<f64> = (0..m).map(|i| b[i] - (0..n).map(|j| at(i, j) * x[j]).sum::<f64>()).collect();
    let aw: Vec<f64> = (0..m).map(|i| (0..n).map(|j| at(i, j) * w1[j]).sum()).collect();
    let da_closed: Vec<f64> = (0..m * n).map(|k| r[k / n] * w1[k % n] - aw[k / n] * x[k % n]).collect();
    assert_close("dL/dA", &da, &da_closed);
    assert_close("dL/db", &db, &aw);
}

/// egg runs are bounded by iterations and nodes only, and deterministic.
#[test]
fn derivation_is_deterministic() {
    let node = stdlib_node("neural_collapse.ddn", "etf_project");
    let once = listing(&node, &derive(&node).unwrap());
    let twice = listing(&node, &derive(&node).unwrap());
    assert_eq!(once, twice);
}

#[test]
fn explain_snapshots() {
    for (file, name) in [
        ("least_squares.ddn", "least_squares"),
        ("robust_pooling.ddn", "pool_quadratic"),
        ("robust_pooling.ddn", "pool_pseudo_huber"),
        ("robust_pooling.ddn", "pool_huber"),
        ("robust_pooling.ddn", "pool_welsch"),
        ("robust_pooling.ddn", "pool_truncated_quadratic"),
        ("optimal_transport.ddn", "entropic_ot"),
        ("eigen.ddn", "max_eigvec"),
        ("neural_collapse.ddn", "etf_project"),
        ("more.ddn", "pool_welsch_ball"),
    ] {
        let node = stdlib_node(file, name);
        insta::assert_snapshot!(format!("symbolic__{name}"), listing(&node, &derive(&node).unwrap()));
    }
}

/// The atoms derivatives use (`sum_to`, `spread`, `sign`, …) cannot be called
/// from source text.
#[test]
fn internal_atoms_are_not_in_the_language() {
    for call in ["sum_to(x - y)", "spread(x - y)", "sign(x - y)", "step(x - y)", "ge(x, y)", "outer(x, y)"] {
        let src = format!("node t(x: real[n]) -> y: real[n] {{\n    minimize sum_squares(x - y) + sum({call})\n}}");
        let c = ddn::compile("t.ddn", &src);
        assert!(c.has_errors(), "`{call}` compiled");
    }
}

/// The starting point evaluates `init` expressions (the mean for pooling) and
/// uses zeros elsewhere.
#[test]
fn initial_point_evaluates_inits() {
    let mut rng = Rng(22);
    let node = stdlib_node("robust_pooling.ddn", "pool_welsch");
    let bound = random_bound(&node, POOL, &mut rng);
    let y = ddn::kernel::initial_point(&node, &bound, &evaluated(&node, &derive(&node).unwrap())).unwrap();
    let x = &bound.params[0].data;
    let mean: Vec<f64> = (0..3).map(|j| (0..5).map(|i| x[i * 3 + j]).sum::<f64>() / 5.0).collect();
    assert_close("init", &y, &mean);
    let node = stdlib_node("least_squares.ddn", "least_squares");
    let bound = random_bound(&node, &[("m", 4), ("n", 2)], &mut rng);
    assert_eq!(
        ddn::kernel::initial_point(&node, &bound, &evaluated(&node, &derive(&node).unwrap())).unwrap(),
        vec![0.0; 2]
    );
}

/// Every differentiable atom and operator (tests/symbolic/atoms.ddn), in both
/// modes and through the mixed partials.
#[test]
fn every_atom_matches_differences() {
    let sizes = &[("m", 4), ("n", 3)];
    for (k, name) in [
        "conic_atoms",
        "exp_cone_atoms",
        "matrix_atoms",
        "matrix_exp_atoms",
        "smooth_atoms",
        "index_atoms",
        "concat_atoms",
    ]
    .iter()
    .enumerate()
    {
        check(&file_node("tests/symbolic/atoms.ddn", name), sizes, 30 + k as u64);
    }
}

/// Every node of the standard library differentiates (conic ones too: it is
/// only differentiation).
#[test]
fn every_stdlib_node_derives() {
    for path in super::ddn_files(&root().join("stdlib")) {
        let c = compile_path(&path);
        for node in &c.program.nodes {
            derive(node).unwrap_or_else(|e| panic!("{}: {}: {e}", path.display(), node.name));
        }
    }
}

/// The checked nodes of the diagnostics tests (files with errors elsewhere)
/// derive or report a `DeriveError`, never panic.
#[test]
fn checked_nodes_of_bad_files_never_panic() {
    for path in super::ddn_files(&root().join("tests").join("ui")) {
        for node in &compile_path(&path).program.nodes {
            let _ = derive(node);
        }
    }
}

/// IR nodes of `e` (a power with its constant exponent is one).
fn ir_size(e: &ddn::ir::Expr) -> usize {
    1 + e.children().into_iter().map(ir_size).sum::<usize>()
}

/// The derived `f_y` of each smooth stdlib node with a hand-written reference
/// (what a person would write for ∇_y f) is no larger in IR nodes than the
/// reference and evaluates equal to it at a random point. The reference is
/// compiled as the value of an equality in a node of the same signature, so
/// parameters and variables have the same ids.
#[test]
fn derived_gradients_are_no_larger_than_hand_written_ones() {
    // (file, node, signature, reference f_y, sizes)
    type Case = (&'static str, &'static str, &'static str, &'static str, &'static [(&'static str, usize)]);
    let cases: &[Case] = &[
        (
            "robust_pooling.ddn",
            "pool_pseudo_huber",
            "x: real[n, d], alpha: pos) -> y: real[d]",
            "-sum((x - y) / sqrt(1 + ((x - y) / alpha)^2), axis = 0)",
            POOL,
        ),
        (
            "robust_pooling.ddn",
            "pool_welsch",
            "x: real[n, d], alpha: pos) -> y: real[d]",
            "-sum(exp(-(x - y)^2 / (2 * alpha^2)) * (x - y), axis = 0) / alpha^2",
            POOL,
        ),
        (
            "more.ddn",
            "pool_welsch_ball",
            "x: real[n, d], alpha: pos) -> y: real[d]",
            "-sum(exp(-(x - y)^2 / (2 * alpha^2)) * (x - y), axis = 0) / alpha^2",
            POOL,
        ),
        (
            "more.ddn",
            "logistic_regression",
            "X: real[m, n], y: real[m], lam: pos) -> w: real[n]",
            "2 * lam * w - (y / (1 + exp(y * (X @ w)))) @ X",
            &[("m", 6), ("n", 3)],
        ),
        ("more.ddn", "softmax_layer", "z: real[n]) -> p: nonneg[n]", "log(p) + 1 - z", &[("n", 4)]),
        (
            "optimal_transport.ddn",
            "entropic_ot",
            "M: real[m, n], r: pos[m], c: pos[n], gamma: pos) -> P: nonneg[m, n]",
            "M + (log(P) + 1) / gamma",
            &[("m", 3), ("n", 4)],
        ),
        ("eigen.ddn", "max_eigvec", "X: sym[m, m]) -> u: real[m]", "-(X @ u + u @ X)", &[("m", 4)]),
    ];
    for (k, &(file, name, signature, reference, sizes)) in cases.iter().enumerate() {
        let node = stdlib_node(file, name);
        let var = &node.vars[0].name;
        let src =
            format!("node r({signature} {{\n    minimize sum({var})\n    subject to {{ {reference} == 0 }}\n}}\n");
        let c = ddn::compile("reference.ddn", &src);
        assert!(!c.has_errors(), "{name}: the reference does not compile:\n{src}");
        let want = &c.program.nodes[0].constraints[0].lhs;
        let derived = derive(&node).unwrap();
        let got = &derived.grad_f[0].expr;
        let (n_got, n_want) = (ir_size(got), ir_size(want));
        assert!(
            n_got <= n_want,
            "{name}: f_y has {n_got} IR nodes, the reference {n_want}\n  f_y = {}\n  ref = {}",
            node.expr_str(got),
            node.expr_str(want)
        );

        let mut rng = Rng(40 + k as u64);
        let bound = random_bound(&node, sizes, &mut rng);
        let kernels = evaluated(&node, &derived);
        let p = NodeProblem::new(&node, &bound, &derived, &kernels);
        let y: Vec<f64> = (0..p.dim()).map(|_| 0.2 + 0.7 * rng.next().abs()).collect();
        let vars = p.unflatten(&y);
        let env = Env { params: &bound.params, vars: &vars, dims: &bound.dims, syms: &[] };
        let at = |e| ddn::eval::eval(e, &env).unwrap_or_else(|err| panic!("{name}: {err:?}")).data;
        assert_close(&format!("{name}: f_y against the reference"), &at(got), &at(want));
    }
}
