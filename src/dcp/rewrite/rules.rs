//! The rewrite rules, named, directional and grouped by theory, each with the side
//! condition that makes it an identity *on the left side's domain* (so a rewrite
//! neither changes a value nor widens the set where the problem is defined:
//! `(sqrt x)^2 → x` only where `x ≥ 0` is already known).
//!
//! Conditions read the e-class facts (the `facts` module); every rule also checks
//! that its right side has the matched term's shape (numpy broadcasting can make
//! `a + b/c → (a·c + b)/c` grow a shape otherwise).

use egg::{ConditionalApplier, EGraph, ENodeOrVar, Id, Pattern, RecExpr, Rewrite, Subst, Var};

use super::facts::Facts;
use crate::ir::Shape;
use crate::symbolic::Math;

/// A rewrite rule over ddn's egg language, its side conditions reading [`Facts`].
pub type Rule = Rewrite<Math, Facts>;
type Graph = EGraph<Math, Facts>;

/// What a rule needs of its pattern variables (all must hold).
#[derive(Clone, Copy, Debug, Default)]
pub struct Need {
    /// Strictly positive.
    pub pos: &'static [&'static str],
    /// Nonnegative.
    pub nonneg: &'static [&'static str],
    /// Data (no variable occurs).
    pub data: &'static [&'static str],
    /// Not data: the rule is for expressions of the variables only.
    pub var: &'static [&'static str],
    /// Scalars.
    pub scalar: &'static [&'static str],
    /// Vectors.
    pub vector: &'static [&'static str],
}

const ALWAYS: Need = Need { pos: &[], nonneg: &[], data: &[], var: &[], scalar: &[], vector: &[] };

const fn pos(v: &'static [&'static str]) -> Need {
    Need { pos: v, ..ALWAYS }
}

const fn nonneg(v: &'static [&'static str]) -> Need {
    Need { nonneg: v, ..ALWAYS }
}

/// A rule as text: name, left side, right side, condition.
pub type Text = (&'static str, &'static str, &'static str, Need);

/// Powers and roots: one spelling of each power, and roots of squares and
/// quotients taken apart where the signs allow.
pub const POWERS: &[Text] = &[
    ("pow-half-sqrt", "(pow ?x 0.5)", "(sqrt ?x)", ALWAYS),
    ("square-pow", "(square ?x)", "(pow ?x 2)", ALWAYS),
    ("mul-self-square", "(* ?x ?x)", "(pow ?x 2)", ALWAYS),
    // √(x²) = |x| for every x
    ("sqrt-square-abs", "(sqrt (pow ?x 2))", "(abs ?x)", ALWAYS),
    ("abs-nonneg", "(abs ?x)", "?x", nonneg(&["?x"])),
    // (xᵖ)^q = x^(pq) for x ≥ 0 ((x²)^½ = |x| otherwise)
    ("pow-pow", "(pow (pow ?x ?p) ?q)", "(pow ?x (* ?p ?q))", nonneg(&["?x"])),
    // (√x)² = x where √x is defined
    ("sqrt-square", "(pow (sqrt ?x) 2)", "?x", nonneg(&["?x"])),
    // (a/b)² = a²/b²; both undefined at b = 0
    ("square-quot", "(pow (/ ?a ?b) 2)", "(/ (pow ?a 2) (pow ?b 2))", ALWAYS),
    // √(a/b) = √a/√b for b > 0 (then a/b ≥ 0 exactly where a ≥ 0)
    ("sqrt-quot", "(sqrt (/ ?a ?b))", "(/ (sqrt ?a) (sqrt ?b))", pos(&["?b"])),
    // √(ab) = √a·√b for a, b ≥ 0
    ("sqrt-prod", "(sqrt (* ?a ?b))", "(* (sqrt ?a) (sqrt ?b))", nonneg(&["?a", "?b"])),
];

/// Fractions: sums brought over a common data denominator, and the reciprocals
/// and quotients that are atoms.
pub const FRACTIONS: &[Text] = &[
    // a + b/c = (ac + b)/c, both undefined at c = 0; for data c, so that roots
    // of the quotient can split it
    ("add-quot", "(+ ?a (/ ?b ?c))", "(/ (+ (* ?a ?c) ?b) ?c)", Need { data: &["?c"], ..ALWAYS }),
    ("mul-one-l", "(* 1 ?a)", "?a", ALWAYS),
    ("mul-one-r", "(* ?a 1)", "?a", ALWAYS),
    ("div-one", "(/ ?a 1)", "?a", ALWAYS),
    // 1/x on x > 0
    ("recip-inv-pos", "(/ 1 ?x)", "(inv_pos ?x)", Need { pos: &["?x"], var: &["?x"], ..ALWAYS }),
    ("quot-inv-pos", "(/ ?c ?x)", "(* ?c (inv_pos ?x))", Need { pos: &["?x"], var: &["?x"], data: &["?c"], ..ALWAYS }),
    ("pow-neg-one-inv-pos", "(pow ?x -1)", "(inv_pos ?x)", Need { pos: &["?x"], var: &["?x"], ..ALWAYS }),
    // x²/y = quad_over_lin(x, y) for scalars, y > 0
    (
        "quad-over-lin",
        "(/ (pow ?x 2) ?y)",
        "(quad_over_lin ?x ?y)",
        Need { pos: &["?y"], scalar: &["?x", "?y"], var: &["?y"], ..ALWAYS },
    ),
    (
        "sum-squares-over-lin",
        "(/ (sum (pow ?x 2)) ?y)",
        "(quad_over_lin ?x ?y)",
        Need { pos: &["?y"], scalar: &["?y"], var: &["?y"], ..ALWAYS },
    ),
    (
        "sum-squares-atom-over-lin",
        "(/ (sum_squares ?x) ?y)",
        "(quad_over_lin ?x ?y)",
        Need { pos: &["?y"], scalar: &["?y"], var: &["?y"], ..ALWAYS },
    ),
];

/// Norms and second-order cones: √(a + ‖x‖²) with a ≥ 0 is ‖(√a, x)‖, per entry,
/// per row or column, or over a vector.
pub const CONES: &[Text] = &[
    ("hypot", "(sqrt (+ ?a (pow ?x 2)))", "(hypot (sqrt ?a) ?x)", nonneg(&["?a"])),
    ("hypot-cols", "(sqrt (+ ?a (sum@0 (pow ?x 2))))", "(hypot@0 (sqrt ?a) ?x)", nonneg(&["?a"])),
    ("hypot-rows", "(sqrt (+ ?a (sum@1 (pow ?x 2))))", "(hypot@1 (sqrt ?a) ?x)", nonneg(&["?a"])),
    (
        "hypot-vector",
        "(sqrt (+ ?a (sum (pow ?x 2))))",
        "(hypot@0 (sqrt ?a) ?x)",
        Need { nonneg: &["?a"], vector: &["?x"], ..ALWAYS },
    ),
    (
        "hypot-sum-squares",
        "(sqrt (+ ?a (sum_squares ?x)))",
        "(hypot@0 (sqrt ?a) ?x)",
        Need { nonneg: &["?a"], vector: &["?x"], ..ALWAYS },
    ),
    ("norm-sum-squares", "(sqrt (sum_squares ?x))", "(norm ?x)", ALWAYS),
    ("norm-sum-pow", "(sqrt (sum (pow ?x 2)))", "(norm ?x)", ALWAYS),
    ("hypot-zero", "(hypot 0 ?x)", "(abs ?x)", ALWAYS),
];

/// Exponentials and logarithms: log-sum-exp and the logistic function where
/// they are spelled out, products of exponentials, logarithms of products.
pub const EXP_LOG: &[Text] = &[
    ("log-exp", "(log (exp ?x))", "?x", ALWAYS),
    ("exp-log", "(exp (log ?x))", "?x", pos(&["?x"])),
    // log(eᵃ + eᵇ) = a + log(1 + e^(b−a))
    ("log-sum-exp-2", "(log (+ (exp ?a) (exp ?b)))", "(+ ?a (logistic (- ?b ?a)))", ALWAYS),
    ("log-sum-exp", "(log (sum (exp ?x)))", "(log_sum_exp ?x)", ALWAYS),
    ("log-sum-exp-cols", "(log (sum@0 (exp ?x)))", "(log_sum_exp@0 ?x)", ALWAYS),
    ("log-sum-exp-rows", "(log (sum@1 (exp ?x)))", "(log_sum_exp@1 ?x)", ALWAYS),
    ("logistic", "(log (+ 1 (exp ?x)))", "(logistic ?x)", ALWAYS),
    ("exp-mul", "(* (exp ?a) (exp ?b))", "(exp (+ ?a ?b))", ALWAYS),
    ("exp-quot", "(/ (exp ?a) (exp ?b))", "(exp (- ?a ?b))", ALWAYS),
    // for b > 0 both sides are defined exactly where a > 0
    ("log-mul", "(log (* ?a ?b))", "(+ (log ?a) (log ?b))", pos(&["?b"])),
    ("log-quot", "(log (/ ?a ?b))", "(- (log ?a) (log ?b))", pos(&["?b"])),
    ("log-pow", "(log (pow ?x ?p))", "(* ?p (log ?x))", pos(&["?x"])),
];

/// Sums and scaling: data first in sums and products (so the rules above meet
/// one order), signs moved out.
pub const SCALING: &[Text] = &[
    ("add-data-first", "(+ ?a ?b)", "(+ ?b ?a)", Need { data: &["?b"], var: &["?a"], ..ALWAYS }),
    ("mul-data-first", "(* ?a ?b)", "(* ?b ?a)", Need { data: &["?b"], var: &["?a"], ..ALWAYS }),
    ("neg-neg", "(neg (neg ?x))", "?x", ALWAYS),
    ("sub-neg", "(- ?a (neg ?b))", "(+ ?a ?b)", ALWAYS),
    ("sum-scale", "(sum (* ?c ?x))", "(* ?c (sum ?x))", Need { data: &["?c"], scalar: &["?c"], ..ALWAYS }),
];

/// Every group, by theory.
pub fn groups() -> [(&'static str, &'static [Text]); 5] {
    [
        ("powers and roots", POWERS),
        ("fractions", FRACTIONS),
        ("norms and cones", CONES),
        ("exp and log", EXP_LOG),
        ("sums and scaling", SCALING),
    ]
}

fn var(name: &str) -> Var {
    name.parse().expect("a pattern variable")
}

/// The shape the right side would have under `s` (the analysis's rules, without
/// adding anything to the graph).
fn shape_under(g: &Graph, ast: &RecExpr<ENodeOrVar<Math>>, s: &Subst) -> Shape {
    let mut shapes: Vec<Shape> = Vec::with_capacity(ast.len());
    for node in ast.as_ref() {
        let shape = match node {
            ENodeOrVar::Var(v) => g[s[*v]].data.shape.clone(),
            ENodeOrVar::ENode(n) => g.analysis.shapes.shape_of(n, |c| shapes[usize::from(c)].clone()),
        };
        shapes.push(shape);
    }
    shapes.pop().unwrap_or_default()
}

/// Whether `need` holds for the match `s` (shapes aside).
pub fn holds(g: &Graph, need: &Need, s: &Subst) -> bool {
    let f = |n: &&str| &g[s[var(n)]].data;
    need.pos.iter().all(|n| f(n).positive())
        && need.nonneg.iter().all(|n| f(n).nonneg())
        && need.data.iter().all(|n| f(n).data)
        && need.var.iter().all(|n| !f(n).data)
        && need.scalar.iter().all(|n| f(n).shape.is_scalar())
        && need.vector.iter().all(|n| f(n).shape.rank() == 1)
}

fn compile(t: &Text) -> Rule {
    let &(name, lhs, rhs, need) = t;
    let lhs: Pattern<Math> = lhs.parse().expect("a rule's left side parses");
    let rhs: Pattern<Math> = rhs.parse().expect("a rule's right side parses");
    let ast = rhs.ast.clone();
    let condition =
        move |g: &mut Graph, id: Id, s: &Subst| holds(g, &need, s) && shape_under(g, &ast, s) == g[id].data.shape;
    Rewrite::new(name, lhs, ConditionalApplier { condition, applier: rhs })
        .expect("a rule's right side binds only its left side's variables")
}

/// Every rule, compiled.
pub fn all() -> Vec<Rule> {
    groups().iter().flat_map(|(_, g)| g.iter().map(compile)).collect()
}

#[cfg(test)]
mod tests {
    //! Every rule: both sides evaluate equal at random points where its side
    //! condition holds; where a sign condition fails there is a point at which
    //! they differ (in value or in where they are defined); and in an e-graph it
    //! fires when its condition holds and not when any part of it fails.

    use egg::{RecExpr, Runner};

    use super::*;
    use crate::diag::Span;
    use crate::eval::{eval, Env, Tensor};
    use crate::ir::{Dim, Expr, ExprKind, ParamId, VarId};
    use crate::symbolic::{from_egg, to_egg, Shapes};
    use crate::syntax::ast::BaseType;

    /// A pattern variable's stand-in: its base type, whether it is a variable,
    /// and its shape.
    #[derive(Clone, Copy, Debug)]
    struct Leaf {
        base: BaseType,
        var: bool,
        dims: &'static [u64],
    }

    /// The pattern variables of a rule's left side, in order of appearance.
    fn pattern_vars(lhs: &str) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for w in lhs.split(|c: char| c == '(' || c == ')' || c.is_whitespace()) {
            if w.starts_with('?') && !out.iter().any(|o| o == w) {
                out.push(w.to_string());
            }
        }
        out
    }

    /// Exponents are constants in the IR: pattern variables `?p`, `?q` become numbers.
    fn is_exponent(v: &str) -> bool {
        v == "?p" || v == "?q"
    }

    /// Leaves meeting `need` (or, with `break_one`, failing exactly that condition).
    fn leaves(t: &Text, flip: Option<(&str, &str)>) -> Vec<(String, Leaf)> {
        let (_, lhs, _, need) = *t;
        let reduces_rows = lhs.contains("@0") || lhs.contains("@1");
        let sums = lhs.contains("(sum ") || lhs.contains("sum_squares");
        pattern_vars(lhs)
            .into_iter()
            .filter(|v| !is_exponent(v))
            .map(|v| {
                let has = |l: &[&str]| l.contains(&v.as_str());
                let flipped = |what: &str| flip.is_some_and(|(w, n)| w == what && n == v);
                let mut base = if has(need.pos) {
                    BaseType::Pos
                } else if has(need.nonneg) {
                    BaseType::Nonneg
                } else {
                    BaseType::Real
                };
                if flipped("sign") {
                    base = BaseType::Real;
                }
                let var = if has(need.data) {
                    flipped("data")
                } else if has(need.var) {
                    !flipped("var")
                } else {
                    v == "?x"
                };
                let dims: &'static [u64] = if flipped("scalar") || (has(need.vector) && !flipped("vector")) {
                    &[3]
                } else if has(need.vector) || (v == "?x" && reduces_rows) {
                    &[2, 3]
                } else if v == "?x" && sums {
                    &[3]
                } else {
                    &[]
                };
                (v, Leaf { base, var, dims })
            })
            .collect()
    }

    /// The conditions a rule has, each as (kind, variable).
    fn conditions(need: &Need) -> Vec<(&'static str, &'static str)> {
        let mut out = Vec::new();
        for (kind, list) in [
            ("sign", need.pos),
            ("sign", need.nonneg),
            ("data", need.data),
            ("var", need.var),
            ("scalar", need.scalar),
            ("vector", need.vector),
        ] {
            out.extend(list.iter().map(|v| (kind, *v)));
        }
        out
    }

    struct Built {
        shapes: Shapes,
        params: Vec<BaseType>,
        vars: Vec<BaseType>,
        lhs: RecExpr<Math>,
        rhs: RecExpr<Math>,
    }

    /// Both sides as egg terms over leaves `$k`, exponents substituted.
    fn build(t: &Text, leaves: &[(String, Leaf)], exps: (f64, f64)) -> Built {
        let mut shapes = Shapes::default();
        let (mut params, mut vars) = (Vec::new(), Vec::new());
        let text = |side: &str| {
            // the one exponent computed on a right side, folded as the analysis would
            let product = format!("{:?}", exps.0 * exps.1);
            let side = side.replace("(* ?p ?q)", &product);
            let mut s = side.replace("?p", &format!("{:?}", exps.0)).replace("?q", &format!("{:?}", exps.1));
            for (k, (name, _)) in leaves.iter().enumerate() {
                s = s.replace(name.as_str(), &format!("${k}"));
            }
            s
        };
        let (lhs, rhs) = (text(t.1), text(t.2));
        for (_, l) in leaves {
            let shape = crate::ir::Shape(l.dims.iter().map(|&d| Dim::Fixed(d)).collect());
            let kind = if l.var {
                vars.push(l.base);
                ExprKind::Var(VarId(vars.len() as u32 - 1))
            } else {
                params.push(l.base);
                ExprKind::Param(ParamId(params.len() as u32 - 1))
            };
            to_egg(&Expr { kind, shape, span: Span::default() }, &mut shapes, &mut RecExpr::default());
        }
        Built { shapes, params, vars, lhs: lhs.parse().expect("lhs"), rhs: rhs.parse().expect("rhs") }
    }

    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> f64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 >> 11) as f64 / (1u64 << 53) as f64
        }
    }

    /// Values for the leaves: in (0.1, 3) for `pos`, [0, 3) for `nonneg` (0 now
    /// and then), (−3, 3) otherwise.
    fn sample(leaves: &[(String, Leaf)], rng: &mut Rng) -> Vec<Tensor> {
        leaves
            .iter()
            .map(|(_, l)| {
                let n: u64 = l.dims.iter().product();
                let data = (0..n)
                    .map(|_| {
                        let u = rng.next();
                        match l.base {
                            BaseType::Pos => 0.1 + 2.9 * u,
                            BaseType::Nonneg if u < 0.1 => 0.0,
                            BaseType::Nonneg => 3.0 * u,
                            _ => 6.0 * u - 3.0,
                        }
                    })
                    .collect();
                let shape = l.dims.iter().map(|&d| d as usize).collect();
                Tensor { shape, data }
            })
            .collect()
    }

    /// Both sides' values at `values` (`None` where a side is undefined).
    fn values(b: &Built, leaves: &[(String, Leaf)], values: &[Tensor]) -> (Option<Tensor>, Option<Tensor>) {
        let (mut ps, mut vs) = (Vec::new(), Vec::new());
        for ((_, l), v) in leaves.iter().zip(values) {
            if l.var {
                vs.push(v.clone())
            } else {
                ps.push(v.clone())
            }
        }
        let env = Env { params: &ps, vars: &vs, dims: &[], syms: &[] };
        let like = Expr { kind: ExprKind::Const(0.0), shape: crate::ir::Shape::scalar(), span: Span::default() };
        let at = |rec: &RecExpr<Math>| {
            eval(&from_egg(rec, &b.shapes, &like), &env).ok().filter(|t| t.data.iter().all(|x| x.is_finite()))
        };
        (at(&b.lhs), at(&b.rhs))
    }

    fn close(a: &Tensor, b: &Tensor) -> bool {
        a.shape == b.shape && a.data.iter().zip(&b.data).all(|(x, y)| (x - y).abs() <= 1e-12 * (1.0 + x.abs()))
    }

    const EXPONENTS: [(f64, f64); 4] = [(2.0, 0.5), (0.5, 2.0), (3.0, 2.0), (-1.0, 2.0)];

    fn every_rule() -> impl Iterator<Item = &'static Text> {
        groups().into_iter().flat_map(|(_, g)| g.iter())
    }

    #[test]
    fn there_are_forty_rules_with_unique_names() {
        let names: Vec<&str> = every_rule().map(|t| t.0).collect();
        let mut unique = names.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), names.len());
        assert!(names.len() >= 40, "{} rules", names.len());
    }

    #[test]
    fn both_sides_agree_inside_the_side_conditions() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for t in every_rule() {
            let ls = leaves(t, None);
            let mut agreed = 0;
            for exps in EXPONENTS {
                let b = build(t, &ls, exps);
                for _ in 0..25 {
                    let v = sample(&ls, &mut rng);
                    match values(&b, &ls, &v) {
                        (Some(l), Some(r)) => {
                            assert!(close(&l, &r), "{}: {l:?} vs {r:?} at {v:?}", t.0);
                            agreed += 1;
                        }
                        (None, None) => {}
                        (l, r) => panic!("{}: defined on one side only ({l:?}, {r:?}) at {v:?}", t.0),
                    }
                }
            }
            assert!(agreed >= 25, "{}: only {agreed} points where both sides are defined", t.0);
        }
    }

    #[test]
    fn a_failed_sign_condition_can_make_the_sides_differ() {
        let mut rng = Rng(0x2545_f491_4f6c_dd1d);
        for t in every_rule() {
            for (kind, v) in conditions(&t.3).into_iter().filter(|(k, _)| *k == "sign") {
                let ls = leaves(t, Some((kind, v)));
                let differ = EXPONENTS.iter().any(|&exps| {
                    let b = build(t, &ls, exps);
                    (0..50).any(|_| match values(&b, &ls, &sample(&ls, &mut rng)) {
                        (Some(l), Some(r)) => !close(&l, &r),
                        (None, None) => false,
                        _ => true,
                    })
                });
                assert!(differ, "{}: the condition on {v} is never needed", t.0);
            }
        }
    }

    fn fires(t: &Text, ls: &[(String, Leaf)]) -> bool {
        let b = build(t, ls, (2.0, 0.5));
        let facts = Facts { shapes: b.shapes, params: b.params, vars: b.vars };
        let runner = Runner::<Math, Facts>::new(facts).with_iter_limit(2).with_expr(&b.lhs).run(&[compile(t)]);
        let root = runner.egraph.find(runner.roots[0]);
        runner.egraph.lookup_expr(&b.rhs).is_some_and(|r| runner.egraph.find(r) == root)
    }

    #[test]
    fn each_rule_fires_when_its_condition_holds_and_only_then() {
        for t in every_rule() {
            assert!(fires(t, &leaves(t, None)), "{} does not fire", t.0);
            for (kind, v) in conditions(&t.3) {
                assert!(!fires(t, &leaves(t, Some((kind, v)))), "{} fires without its {kind} condition on {v}", t.0);
            }
        }
    }
}
