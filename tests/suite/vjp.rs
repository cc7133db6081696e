//! Reverse mode over the evaluator against central differences, for every
//! operation and atom (at points where each is differentiable).

use ddn::eval::{eval, vjp, Env, Tensor};

/// A deterministic pseudo-random stream in (lo, hi).
struct Rng(u64);
impl Rng {
    fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        lo + (hi - lo) * ((self.0 >> 11) as f64 / (1u64 << 53) as f64)
    }
}

/// Checks `vjp` of the node's objective against central differences in every
/// parameter and variable entry. Values are drawn in (lo, hi) (positive where an
/// atom needs it); sizes: every dimension name is 3.
fn check(src: &str, lo: f64, hi: f64) {
    let c = ddn::compile("t.ddn", src);
    assert!(!c.has_errors(), "{}", super::rendered(&c));
    let node = &c.program.nodes[0];
    let dims = vec![3usize; node.dims.len()];
    let mut rng = Rng(0x9e3779b97f4a7c15);
    let mut fill = |s: &ddn::ir::Shape| {
        let shape = ddn::eval::concrete(s, &dims);
        let len = shape.iter().product();
        Tensor { shape, data: (0..len).map(|_| rng.uniform(lo, hi)).collect() }
    };
    let mut params: Vec<Tensor> = node.params.iter().map(|p| fill(&p.shape)).collect();
    let mut vars: Vec<Tensor> = node.vars.iter().map(|v| fill(&v.shape)).collect();
    let f = |params: &[Tensor], vars: &[Tensor]| {
        let env = Env { params, vars, dims: &dims, syms: &[] };
        eval(&node.objective.expr, &env).expect("eval").data[0]
    };
    let env = Env { params: &params, vars: &vars, dims: &dims, syms: &[] };
    let g = vjp(&node.objective.expr, &env, &Tensor::scalar(1.0)).expect("vjp");
    let h = 1e-6;
    let check_entry =
        |which: &str, k: usize, i: usize, analytic: f64, params: &mut Vec<Tensor>, vars: &mut Vec<Tensor>| {
            let target = |p: &mut Vec<Tensor>, v: &mut Vec<Tensor>, d: f64| {
                if which == "param" {
                    p[k].data[i] += d;
                } else {
                    v[k].data[i] += d;
                }
            };
            target(params, vars, h);
            let up = f(params, vars);
            target(params, vars, -2.0 * h);
            let down = f(params, vars);
            target(params, vars, h);
            let numeric = (up - down) / (2.0 * h);
            assert!(
                (numeric - analytic).abs() <= 1e-5 * (1.0 + numeric.abs()),
                "{src}\n{which} {k} entry {i}: vjp {analytic}, central difference {numeric}"
            );
        };
    for k in 0..params.len() {
        assert_eq!(
            g.params[k].as_ref().map_or(params[k].len(), |t| t.len()),
            params[k].len(),
            "{src}: gradient of parameter {k} has the wrong size"
        );
        let grad = g.params[k].clone().unwrap_or_else(|| Tensor::filled(params[k].shape.clone(), 0.0));
        for i in 0..params[k].len() {
            check_entry("param", k, i, grad.data[i], &mut params, &mut vars);
        }
    }
    for k in 0..vars.len() {
        assert_eq!(
            g.vars[k].as_ref().map_or(vars[k].len(), |t| t.len()),
            vars[k].len(),
            "{src}: gradient of variable {k} has the wrong size"
        );
        let grad = g.vars[k].clone().unwrap_or_else(|| Tensor::filled(vars[k].shape.clone(), 0.0));
        for i in 0..vars[k].len() {
            check_entry("var", k, i, grad.data[i], &mut params, &mut vars);
        }
    }
}

#[test]
fn operators_and_affine_atoms() {
    check("node f(A: real[m, n], b: real[m], c: real) -> x: real[n] { minimize sum_squares(A @ x - b) + c * sum(x) / 2 + x @ A.T @ b }", -1.0, 1.0);
    check("node f(A: real[m, n], B: real[n, m]) -> X: real[m, m] { minimize trace(A @ B @ X) + sum(X, axis = 0) @ diag(X) + mean(X[0:2, :], axis = 1)[1] }", -1.0, 1.0);
    check("node f(a: real[3], b: real[3]) -> x: real[3] { minimize sum(hstack(a, x) * hstack(x, b)) + sum(vstack(a, x) @ b) - -x[1]^3 }", -1.0, 1.0);
    check("node f(A: real[2, 3], B: real[2, 2]) -> X: real[2, 3] { minimize sum(hstack(B, X) * hstack(X, B)) + sum(vstack(A, X) @ A.T) }", -1.0, 1.0);
}

#[test]
fn convex_and_concave_atoms() {
    check("node f(Q: psd[n, n], t: pos) -> x: real[n] { minimize quad_form(x, Q) + quad_over_lin(x, t) + norm(x) + sum(inv_pos(x)) }", 0.2, 1.5);
    check("node f(t: pos) -> x: real[3] { minimize log_sum_exp(x) + sum(exp(x)) + quad_over_lin(x, t) }", 0.2, 1.5);
    check("node f(a: pos[n]) -> x: pos[n] { minimize sum(xlogx(x)) - sum(entr(x)) + sum(kl_div(x, a)) + sum(log(x)) + sum(sqrt(x)) + sum(logistic(x)) }", 0.2, 1.5);
    check("node f(M: real[n, n]) -> X: real[n, n] { minimize log_sum_exp(X, axis = 1) @ ones(n) + sum(square(X)) + sum(huber(X - M, 0.3)) }", -1.0, 1.0);
    check("node f(M: real[n, n]) -> X: real[n, n] { minimize norm1(X) + sum(abs(X - M)) + sum(pos(X)) }", -1.0, 1.0);
    check("node f(M: real[n, n]) -> X: real[n, n] { minimize max(X) + norm_inf(M - X) + sum(maximum(X, M)) + sum(max(X, axis = 1)) }", -1.0, 1.0);
    check(
        "node f(M: real[n, n]) -> X: real[n, n] { maximize sum(minimum(X, M)) + min(X, axis = 0) @ ones(n) + min(X) }",
        -1.0,
        1.0,
    );
}

#[test]
fn smooth_atoms_and_the_prelude() {
    check("node f(a: real[n], alpha: pos) -> y: real[n] { minimize sum(sin(y) * cos(a)) + sum(tanh(y)) + sum(sigmoid(a * y)) + sum(pseudo_huber(a - y, alpha)) + sum(welsch(a - y, alpha)) }", 0.1, 1.0);
}
