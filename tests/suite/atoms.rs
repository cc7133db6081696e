//! The atom table, walked: every atom of the language has a sample node here,
//! and through it an evaluation, a VJP (the evaluator's reverse mode, against
//! central differences), a symbolic partial (`symbolic::grad`, evaluated, against
//! that VJP; the matrix atoms of [`NO_SYMBOLIC_PARTIAL`] have none, said and
//! checked) and a reduction to cones (the node solved by the interior point
//! method) — or, for an atom whose cone class is `Other`, an explicit refusal of
//! `solve using ipm` at check time. A new atom without a sample fails the walk,
//! so the checklist in `atoms/mod.rs` cannot be skipped.

use ddn::atoms::{self, lattice::ConeClass};
use ddn::eval::{eval, vjp, Env, Tensor};
use ddn::ir::{Expr, ExprKind, Family, Node, Shape, VarId};
use ddn::runtime::{bind, forward, named_tensors, Bound, Options, Status};
use ddn::symbolic::{grad, Wrt};
use serde_json::json;

use super::{analysed, rendered};

/// Per atom: the variable (`x: real[3]` or `X: sym[3, 3]`) and the node's
/// objective, a DCP use of the atom (or a smooth one) that has a minimiser.
const SAMPLES: &[(&str, &str, &str)] = &[
    ("sum", "x", "minimize sum(x) + sum_squares(x - a)"),
    ("mean", "x", "minimize mean(x) + sum_squares(x - a)"),
    ("trace", "X", "minimize trace(X) + sum_squares(X - B)"),
    ("diag", "X", "minimize sum(diag(X)) + sum_squares(X - B)"),
    ("ones", "x", "minimize sum_squares(x - a - ones(3))"),
    ("zeros", "x", "minimize sum_squares(x - a) + sum(zeros(3) * x)"),
    ("eye", "X", "minimize sum_squares(X - eye(3) - B)"),
    ("hstack", "X", "minimize sum_squares(hstack(X, X) - C)"),
    ("vstack", "X", "minimize sum_squares(vstack(X, X) - D)"),
    ("sum_squares", "x", "minimize sum_squares(x - a)"),
    ("square", "x", "minimize sum(square(x - a))"),
    ("abs", "x", "minimize sum(abs(x - a)) + sum_squares(x)"),
    ("norm", "x", "minimize norm(x - a) + sum_squares(x)"),
    ("norm1", "x", "minimize norm1(x - a) + sum_squares(x)"),
    ("norm_inf", "x", "minimize norm_inf(x - a) + sum_squares(x)"),
    ("lambda_max", "X", "minimize lambda_max(X) + sum_squares(X - B)"),
    ("nuclear_norm", "X", "minimize nuclear_norm(X) + sum_squares(X - B)"),
    ("matrix_frac", "x", "minimize matrix_frac(x, B) + sum_squares(x - a)"),
    ("quad_form", "x", "minimize quad_form(x, B) - sum(a * x)"),
    ("quad_over_lin", "x", "minimize quad_over_lin(x - a, s) + sum_squares(x)"),
    ("pos", "x", "minimize sum(pos(x - a)) + sum_squares(x)"),
    ("maximum", "x", "minimize sum(maximum(x, a)) + sum_squares(x)"),
    ("max", "x", "minimize max(x - a) + sum_squares(x)"),
    ("huber", "x", "minimize sum(huber(x - a)) + sum_squares(x)"),
    ("exp", "x", "minimize sum(exp(x)) - sum(a * x)"),
    ("log_sum_exp", "x", "minimize log_sum_exp(x) + sum_squares(x - a)"),
    ("inv_pos", "x", "minimize sum(inv_pos(x)) + sum_squares(x - a)"),
    ("xlogx", "x", "minimize sum(xlogx(x)) - sum(a * x)"),
    ("kl_div", "x", "minimize sum(kl_div(x, a)) + sum_squares(x)"),
    ("logistic", "x", "minimize sum(logistic(x)) + sum_squares(x - a)"),
    ("lambda_min", "X", "maximize lambda_min(X) - sum_squares(X - B)"),
    ("log_det", "X", "maximize log_det(X) - sum_squares(X - B)"),
    ("log", "x", "maximize sum(log(x)) - sum_squares(x - a)"),
    ("sqrt", "x", "maximize sum(sqrt(x)) - sum_squares(x - a)"),
    ("entr", "x", "maximize sum(entr(x)) - sum_squares(x - a)"),
    ("minimum", "x", "maximize sum(minimum(x, a)) - sum_squares(x)"),
    ("min", "x", "maximize min(x - a) - sum_squares(x)"),
    ("sin", "x", "minimize sum(sin(x)) + sum_squares(x - a)"),
    ("cos", "x", "minimize sum(cos(x)) + sum_squares(x - a)"),
    ("tanh", "x", "minimize sum(tanh(x)) + sum_squares(x - a)"),
    ("sigmoid", "x", "minimize sum(sigmoid(x)) + sum_squares(x - a)"),
];

/// Atoms with no rule in the symbolic reverse mode (the derived expressions of
/// the smooth path have no matrix inverse or eigenvector atom to write their
/// gradients with): a node using them is solved and differentiated as its
/// cone program (SDP: the walk checks they have one), and a smooth node that
/// uses them fails at derivation with "reverse mode has no rule". The list
/// can only shrink: an atom that gains a rule fails the walk until it is taken
/// off.
const NO_SYMBOLIC_PARTIAL: &[&str] = &["lambda_max", "nuclear_norm", "matrix_frac", "lambda_min", "log_det"];

/// The sample's source, with `solve using ipm` when `ipm`.
fn source(name: &str, var: &str, objective: &str, ipm: bool) -> String {
    let decl = if var == "x" { "x: real[3]" } else { "X: sym[3, 3]" };
    let method = if ipm { "\n    solve using ipm" } else { "" };
    format!(
        "node t_{name}(a: pos[3], B: psd[3, 3], C: real[3, 6], D: real[6, 3], s: pos) -> {decl} {{\n    \
         {objective}{method}\n}}\n"
    )
}

fn compiled(src: &str) -> ddn::Compiled {
    ddn::compile("atoms.ddn", src)
}

fn the_node(c: ddn::Compiled) -> Node {
    assert!(!c.has_errors(), "{}", rendered(&c));
    c.program.nodes.into_iter().next().expect("a node")
}

fn inputs(node: &Node) -> Bound {
    let b = [[2.0, 0.3, 0.1], [0.3, 1.5, 0.2], [0.1, 0.2, 1.8]];
    let c: Vec<Vec<f64>> = (0..3).map(|i| (0..6).map(|j| ((i * 6 + j) as f64 * 0.37).sin()).collect()).collect();
    let d: Vec<Vec<f64>> = (0..6).map(|i| (0..3).map(|j| ((i * 3 + j) as f64 * 0.53).cos()).collect()).collect();
    let values = json!({"a": [0.7, 1.3, 0.4], "B": b, "C": c, "D": d, "s": 2.0});
    bind(node, &named_tensors(&values).expect("inputs")).expect("bind")
}

/// The point the objective is evaluated at: inside every atom's domain (positive
/// entries, a positive definite symmetric matrix), away from every kink.
fn point(var: &str) -> Tensor {
    match var {
        "x" => Tensor::vector(vec![0.9, 0.6, 1.05]),
        _ => Tensor { shape: vec![3, 3], data: vec![1.6, 0.2, 0.1, 0.2, 1.2, 0.3, 0.1, 0.3, 1.4] },
    }
}

fn value(node: &Node, bound: &Bound, x: &Tensor) -> f64 {
    let vars = [x.clone()];
    let env = Env { params: &bound.params, vars: &vars, dims: &bound.dims, syms: &[] };
    let v = eval(&node.objective.expr, &env).unwrap_or_else(|e| panic!("`{}`: evaluation: {}", node.name, e.message));
    assert_eq!(v.data.len(), 1, "`{}`: a scalar objective", node.name);
    v.data[0]
}

#[test]
fn every_atom_evaluates_differentiates_and_reduces() {
    let missing: Vec<&str> = atoms::all().map(|i| i.name).filter(|n| !SAMPLES.iter().any(|(s, _, _)| s == n)).collect();
    assert!(missing.is_empty(), "atoms without a sample in tests/suite/atoms.rs: {missing:?}");
    for &(name, var, objective) in SAMPLES {
        let info = atoms::lookup(name).unwrap_or_else(|| panic!("`{name}` is not an atom"));
        let node = the_node(compiled(&source(name, var, objective, false)));
        let bound = inputs(&node);
        let x = point(var);

        // Evaluation and the evaluator's VJP, against central differences (a
        // symmetric variable moved in symmetric pairs, its gradient summed likewise).
        let vars = [x.clone()];
        let env = Env { params: &bound.params, vars: &vars, dims: &bound.dims, syms: &[] };
        let one = Tensor { shape: Vec::new(), data: vec![1.0] };
        let grads = vjp(&node.objective.expr, &env, &one).unwrap_or_else(|e| panic!("`{name}`: vjp: {}", e.message));
        let g = grads.vars[0].clone().unwrap_or_else(|| panic!("`{name}`: no gradient for the variable"));
        let n = x.len();
        let side = if var == "x" { 1 } else { 3 };
        let h = 1e-6;
        for k in 0..n {
            let (i, j) = (k / side, k % side);
            if var != "x" && j < i {
                continue;
            }
            let moved = |d: f64| {
                let mut y = x.clone();
                y.data[k] += d;
                if var != "x" && i != j {
                    y.data[j * side + i] += d;
                }
                value(&node, &bound, &y)
            };
            let fd = (moved(h) - moved(-h)) / (2.0 * h);
            let analytic = if var != "x" && i != j { g.data[k] + g.data[j * side + i] } else { g.data[k] };
            assert!(
                (fd - analytic).abs() <= 1e-6 * (1.0 + fd.abs()),
                "`{name}`: entry {k}: vjp {analytic}, differences {fd}"
            );
        }

        // The symbolic partial, evaluated, equals the VJP.
        let c = Expr { kind: ExprKind::Const(1.0), shape: Shape::scalar(), span: node.objective.expr.span };
        let cone = (info.cone)(&vec![false; info.sig.required.max(1)]);
        match grad(&node.objective.expr, Wrt::Var(VarId(0)), &c) {
            Ok(partial) => {
                let partial =
                    partial.unwrap_or_else(|| panic!("`{name}`: the objective does not depend on the variable"));
                let symbolic = eval(&partial, &env)
                    .unwrap_or_else(|e| panic!("`{name}`: the partial's evaluation: {}", e.message));
                for (s, v) in symbolic.data.iter().zip(&g.data) {
                    assert!((s - v).abs() <= 1e-12 * (1.0 + v.abs()), "`{name}`: symbolic {s} against vjp {v}");
                }
                assert!(
                    !NO_SYMBOLIC_PARTIAL.contains(&name),
                    "`{name}` has a symbolic partial now: take it off the list"
                );
            }
            Err(e) => {
                assert!(NO_SYMBOLIC_PARTIAL.contains(&name), "`{name}`: symbolic gradient: {e}");
                assert_eq!(cone, ConeClass::Semidefinite, "`{name}` has neither a symbolic partial nor a cone form");
            }
        }

        // A reduction to cones, solved; or the explicit refusal.
        if cone == ConeClass::Other {
            let refused = compiled(&source(name, var, objective, true));
            assert!(
                refused.has_errors() && rendered(&refused).contains("`solve using ipm` is not available"),
                "`{name}` has no cone form, so `solve using ipm` must be refused: {}",
                rendered(&refused)
            );
            continue;
        }
        let conic =
            if node.class.family.is_conic() { node } else { the_node(compiled(&source(name, var, objective, true))) };
        assert!(
            matches!(conic.class.family, Family::Lp | Family::Qp | Family::Socp | Family::Exp | Family::Sdp),
            "`{name}`: {:?}",
            conic.class.family
        );
        let solved = forward(&analysed(conic), &bound, &Options::default())
            .unwrap_or_else(|e| panic!("`{name}`: the cone program: {e}"));
        assert!(
            matches!(solved.status, Status::Optimal | Status::OptimalInaccurate),
            "`{name}`: the cone program ends {}",
            solved.status.name()
        );
    }
}
