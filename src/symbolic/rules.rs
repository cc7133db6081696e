//! The rewrite rules, named, directional (each makes a term smaller or more
//! canonical; no blanket commutativity or associativity) and grouped by theory.
//! Rules whose soundness depends on numpy broadcasting test shapes through the
//! e-class analysis ([`super::simplify::Shapes`]).

use egg::{rewrite as rw, EGraph, Id, Rewrite, Subst, Var};

use super::simplify::{Math, Shapes};

type Rule = Rewrite<Math, Shapes>;
type Graph = EGraph<Math, Shapes>;

fn v(name: &str) -> Var {
    name.parse().expect("a pattern variable")
}

/// `?a` is a scalar.
fn scalar(a: &str) -> impl Fn(&mut Graph, Id, &Subst) -> bool {
    let a = v(a);
    move |g, _, s| g[s[a]].data.shape.is_scalar()
}

/// `?a` is a known constant.
fn constant(a: &str) -> impl Fn(&mut Graph, Id, &Subst) -> bool {
    let a = v(a);
    move |g, _, s| g[s[a]].data.value.is_some()
}

/// `?a` and `?b` are known constants.
fn both_constant(a: &str, b: &str) -> impl Fn(&mut Graph, Id, &Subst) -> bool {
    let (a, b) = (v(a), v(b));
    move |g, _, s| g[s[a]].data.value.is_some() && g[s[b]].data.value.is_some()
}

/// `?k` is a constant and neither `?a` nor `?b` is.
fn constant_past(k: &str, a: &str, b: &str) -> impl Fn(&mut Graph, Id, &Subst) -> bool {
    let (k, a, b) = (v(k), v(a), v(b));
    move |g, _, s| g[s[k]].data.value.is_some() && g[s[a]].data.value.is_none() && g[s[b]].data.value.is_none()
}

/// The matched term is a scalar.
fn scalar_result() -> impl Fn(&mut Graph, Id, &Subst) -> bool {
    move |g, id, _| g[id].data.shape.is_scalar()
}

/// `?a` already has the shape of the matched term.
fn fills(a: &str) -> impl Fn(&mut Graph, Id, &Subst) -> bool {
    let a = v(a);
    move |g, id, s| g[s[a]].data.shape == g[id].data.shape
}

/// `?a` has rank below 2 (transposing it is the identity, as in numpy).
fn not_matrix(a: &str) -> impl Fn(&mut Graph, Id, &Subst) -> bool {
    let a = v(a);
    move |g, _, s| g[s[a]].data.shape.rank() < 2
}

/// `?a` is a matrix and `?x` a vector.
fn matrix_vector(a: &str, x: &str) -> impl Fn(&mut Graph, Id, &Subst) -> bool {
    let (a, x) = (v(a), v(x));
    move |g, _, s| g[s[a]].data.shape.rank() == 2 && g[s[x]].data.shape.rank() == 1
}

/// Both are matrices.
fn matrices(a: &str, b: &str) -> impl Fn(&mut Graph, Id, &Subst) -> bool {
    let (a, b) = (v(a), v(b));
    move |g, _, s| g[s[a]].data.shape.rank() == 2 && g[s[b]].data.shape.rank() == 2
}

/// `spread(?c) * ?x` needs no explicit spread: numpy broadcasting of `?c`
/// against `?x` already gives the product's shape (and `spread` was a plain
/// broadcast, not along rows).
fn broadcast_suffices(c: &str, x: &str) -> impl Fn(&mut Graph, Id, &Subst) -> bool {
    let (c, x) = (v(c), v(x));
    move |g, id, s| g[s[c]].data.shape.broadcast(&g[s[x]].data.shape).as_ref() == Some(&g[id].data.shape)
}

/// Identities of `+ - * /` and negation; constants are folded by the analysis.
fn arith() -> Vec<Rule> {
    vec![
        rw!("add-0"; "(+ ?a 0)" => "?a"),
        rw!("0-add"; "(+ 0 ?a)" => "?a"),
        rw!("sub-0"; "(- ?a 0)" => "?a"),
        rw!("0-sub"; "(- 0 ?a)" => "(neg ?a)"),
        rw!("mul-1"; "(* ?a 1)" => "?a"),
        rw!("1-mul"; "(* 1 ?a)" => "?a"),
        rw!("mul-0"; "(* ?a 0)" => "0" if scalar("?a")),
        rw!("0-mul"; "(* 0 ?a)" => "0" if scalar("?a")),
        rw!("div-1"; "(/ ?a 1)" => "?a"),
        rw!("mul-neg1"; "(* -1 ?a)" => "(neg ?a)"),
        rw!("neg-neg"; "(neg (neg ?a))" => "?a"),
        rw!("add-neg"; "(+ ?a (neg ?b))" => "(- ?a ?b)"),
        rw!("neg-add"; "(+ (neg ?a) ?b)" => "(- ?b ?a)"),
        rw!("sub-neg"; "(- ?a (neg ?b))" => "(+ ?a ?b)"),
        rw!("neg-sub"; "(neg (- ?a ?b))" => "(- ?b ?a)"),
        rw!("neg-mul-l"; "(* (neg ?a) ?b)" => "(neg (* ?a ?b))"),
        rw!("neg-mul-r"; "(* ?a (neg ?b))" => "(neg (* ?a ?b))"),
        rw!("neg-div"; "(/ (neg ?a) ?b)" => "(neg (/ ?a ?b))"),
        rw!("div-one-mul"; "(* ?a (/ 1 ?b))" => "(/ ?a ?b)"),
        rw!("mul-self"; "(* ?a ?a)" => "(pow ?a 2)"),
        rw!("add-self"; "(+ ?a ?a)" => "(* 2 ?a)"),
        rw!("one-div-mul"; "(* (/ 1 ?a) ?b)" => "(/ ?b ?a)"),
        rw!("pow-1"; "(pow ?a 1)" => "?a"),
        // constants to the left, then gathered: 2 * (3 * x) → 6 * x
        rw!("const-left"; "(* ?a ?c)" => "(* ?c ?a)" if constant("?c")),
        rw!("const-gather"; "(* ?c (* ?d ?a))" => "(* (* ?c ?d) ?a)" if both_constant("?c", "?d")),
        rw!("scalar-div-gather"; "(/ (* ?c ?a) ?d)" => "(* (/ ?c ?d) ?a)" if constant("?c")),
        rw!("const-div-gather"; "(* ?c (/ ?a ?d))" => "(* (/ ?c ?d) ?a)" if both_constant("?c", "?d")),
        // constants move out of products: (k a) b → k (a b), a (k b) → k (a b)
        // (only past non-constants, so each constant moves once per level)
        rw!("const-out-l"; "(* (* ?k ?a) ?b)" => "(* ?k (* ?a ?b))" if constant_past("?k", "?a", "?b")),
        rw!("const-out-r"; "(* ?a (* ?k ?b))" => "(* ?k (* ?a ?b))" if constant_past("?k", "?a", "?b")),
    ]
}

/// Transposes: involution, the identity on vectors, and through products.
fn transpose() -> Vec<Rule> {
    vec![
        rw!("T-T"; "(T (T ?a))" => "?a"),
        rw!("T-vector"; "(T ?a)" => "?a" if not_matrix("?a")),
        rw!("T-neg"; "(T (neg ?a))" => "(neg (T ?a))"),
        rw!("T-matmul"; "(T (@ ?a ?b))" => "(@ (T ?b) (T ?a))" if matrices("?a", "?b")),
        // Aᵀx = x A and x Aᵀ = A x for a vector x (numpy's @)
        rw!("Tmat-vec"; "(@ (T ?a) ?x)" => "(@ ?x ?a)" if matrix_vector("?a", "?x")),
        rw!("vec-Tmat"; "(@ ?x (T ?a))" => "(@ ?a ?x)" if matrix_vector("?a", "?x")),
        rw!("matmul-neg-l"; "(@ (neg ?a) ?b)" => "(neg (@ ?a ?b))"),
        rw!("matmul-neg-r"; "(@ ?a (neg ?b))" => "(neg (@ ?a ?b))"),
        // one product instead of two (shapes agree: equal products of one factor)
        rw!("matmul-factor-l"; "(+ (@ ?a ?b) (@ ?a ?c))" => "(@ ?a (+ ?b ?c))"),
        rw!("matmul-factor-r"; "(+ (@ ?a ?c) (@ ?b ?c))" => "(@ (+ ?a ?b) ?c)"),
    ]
}

/// The internal shape operations: `sum_to` and `spread` to a shape the value
/// already has are the identity; scalars and negations pass through them; an
/// explicit spread next to a broadcasting product is redundant.
fn broadcast() -> Vec<Rule> {
    vec![
        rw!("sum_to-id"; "(sum_to ?x ?s)" => "?x" if fills("?x")),
        rw!("spread-id"; "(spread ?x ?s)" => "?x" if fills("?x")),
        rw!("sum_to-scale"; "(sum_to (* ?c ?x) ?s)" => "(* ?c (sum_to ?x ?s))" if scalar("?c")),
        rw!("sum_to-neg"; "(sum_to (neg ?x) ?s)" => "(neg (sum_to ?x ?s))"),
        rw!("sum_to-scalar"; "(sum_to ?x ?s)" => "(sum ?x)" if scalar_result()),
        rw!("spread-neg"; "(spread (neg ?x) ?s)" => "(neg (spread ?x ?s))"),
        // scalars move inside a spread, towards the product that absorbs it
        rw!("spread-lift-l"; "(* (spread ?c ?s) ?x)" => "(spread (* ?c ?x) ?s)" if scalar("?x")),
        rw!("spread-lift-r"; "(* ?x (spread ?c ?s))" => "(spread (* ?x ?c) ?s)" if scalar("?x")),
        rw!("outer-neg-l"; "(outer (neg ?a) ?b)" => "(neg (outer ?a ?b))"),
        rw!("outer-neg-r"; "(outer ?a (neg ?b))" => "(neg (outer ?a ?b))"),
        rw!("spread-mul-l"; "(* (spread ?c ?s) ?x)" => "(* ?c ?x)" if broadcast_suffices("?c", "?x")),
        rw!("spread-mul-r"; "(* ?x (spread ?c ?s))" => "(* ?x ?c)" if broadcast_suffices("?c", "?x")),
    ]
}

/// Every rule, theory by theory.
pub fn all() -> Vec<Rule> {
    arith().into_iter().chain(transpose()).chain(broadcast()).collect()
}

/// The rule groups by name, for listings.
pub fn groups() -> Vec<(&'static str, Vec<String>)> {
    let names = |rules: Vec<Rule>| rules.iter().map(|r| r.name.to_string()).collect();
    vec![("arith", names(arith())), ("transpose", names(transpose())), ("broadcast", names(broadcast()))]
}
