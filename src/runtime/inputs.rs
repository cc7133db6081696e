//! Run-time inputs: JSON (or in-memory) values bound to a node's parameters,
//! with every check the contract names — unknown or missing names, shapes against
//! the declared types and the dimension names they bind, NaN and infinity, and the
//! `nonneg` / `pos` / `sym` / `psd` domains. All problems are collected. Once
//! the dimension names are bound, every shape of the node is checked against
//! the element budget and its dense matrices against the dense-matrix budget
//! ([`crate::limits`]), before anything is allocated for them.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::atoms::Atom;
use crate::eval::Tensor;
use crate::ir::{Dim, Expr, ExprKind, Node, Relation, Shape};
use crate::limits::{count_words, Budget, LimitError, Limits};
use crate::syntax::ast::BaseType;

use crate::linalg::all_finite;
pub use crate::linalg::SYM_TOL;

/// Inputs bound by [`bind`]: defined with the evaluator, below the layers that
/// read bound parameters (`canon`, `symbolic`).
pub use crate::eval::Bound;

/// Every problem found with a set of inputs, each message naming the input
/// (what [`bind`] and [`named_tensors`] return: all of them at once, so a
/// user fixes them in one go, not one per run).
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{}", .0.join("; "))]
pub struct InputErrors(pub Vec<String>);

/// A JSON number (scalar), array of numbers (vector) or array of equal-length
/// row arrays (matrix, row-major) as a tensor.
pub fn tensor_from_json(v: &Value) -> Result<Tensor, InputErrors> {
    json_tensor(v).map_err(|e| InputErrors(vec![e]))
}

fn json_tensor(v: &Value) -> Result<Tensor, String> {
    let num = |x: &Value| x.as_f64().ok_or_else(|| format!("expected a number, found `{x}`"));
    match v {
        Value::Number(_) => Ok(Tensor::scalar(num(v)?)),
        Value::Array(items) if items.iter().all(|x| !x.is_array()) => {
            Ok(Tensor::vector(items.iter().map(num).collect::<Result<_, _>>()?))
        }
        Value::Array(rows) => {
            let mut data = Vec::new();
            let mut width = None;
            for (i, r) in rows.iter().enumerate() {
                let Value::Array(r) = r else { return Err(format!("row {i} is not an array")) };
                if *width.get_or_insert(r.len()) != r.len() {
                    return Err(format!("row {i} has {} entries, row 0 has {}", r.len(), width.unwrap_or(0)));
                }
                for x in r {
                    if x.is_array() {
                        return Err("arrays nested more than two deep (only scalars, vectors and matrices)".into());
                    }
                    data.push(num(x)?);
                }
            }
            Ok(Tensor::matrix(rows.len(), width.unwrap_or(0), data))
        }
        other => Err(format!("expected a number or an array, found `{other}`")),
    }
}

/// A tensor as JSON in the same layout [`tensor_from_json`] reads.
pub fn tensor_to_json(t: &Tensor) -> Value {
    match t.shape.as_slice() {
        [] => Value::from(t.data.first().copied().unwrap_or(0.0)),
        [_] => Value::from(t.data.clone()),
        [_, n] => Value::Array(t.data.chunks((*n).max(1)).map(|r| Value::from(r.to_vec())).collect()),
        _ => Value::Null,
    }
}

/// Reads a JSON object of named values.
pub fn named_tensors(v: &Value) -> Result<BTreeMap<String, Tensor>, InputErrors> {
    let Value::Object(map) = v else {
        return Err(InputErrors(vec!["expected a JSON object from names to values".into()]));
    };
    let mut out = BTreeMap::new();
    let mut errors = Vec::new();
    for (k, v) in map {
        match json_tensor(v) {
            Ok(t) => {
                out.insert(k.clone(), t);
            }
            Err(e) => errors.push(format!("input `{k}`: {e}")),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(InputErrors(errors))
    }
}

/// A concrete shape in words, as messages about inputs and cotangents name it.
pub(crate) fn shape_words(shape: &[usize]) -> String {
    match shape {
        [] => "a scalar".into(),
        [n] => format!("a vector of length {n}"),
        [m, n] => format!("a {m}×{n} matrix"),
        _ => "an array of rank > 2".into(),
    }
}

/// Binds named values to `node`'s parameters: resolves dimension names and checks
/// everything. Returns every problem found, each naming the input.
pub fn bind(node: &Node, inputs: &BTreeMap<String, Tensor>) -> Result<Bound, InputErrors> {
    let mut errors = Vec::new();
    for k in inputs.keys() {
        if !node.params.iter().any(|p| p.name == *k) {
            let names: Vec<&str> = node.params.iter().map(|p| p.name.as_str()).collect();
            errors.push(format!("unknown input `{k}`: node `{}` takes `{}`", node.name, names.join("`, `")));
        }
    }
    // Dimension sizes, from the first parameter axis that carries each name
    // (`(size, parameter, axis)`).
    let mut dims: Vec<Option<(usize, &str, usize)>> = vec![None; node.dims.len()];
    let mut params = Vec::with_capacity(node.params.len());
    for p in &node.params {
        // Built only for a message: `bind` runs on every call.
        let declared = || node.shape_str(&p.shape).replacen("real", p.base.name(), 1);
        let Some(t) = inputs.get(&p.name) else {
            errors.push(format!("missing input `{}` ({})", p.name, declared()));
            continue;
        };
        if !check_shape(node, &p.name, &declared, &p.shape, t, &mut dims, &mut errors) {
            continue;
        }
        if !all_finite(&t.data) {
            let i = t.data.iter().position(|x| !x.is_finite()).unwrap_or_default();
            errors.push(format!("input `{}` has a non-finite entry ({}) at flat index {i}", p.name, t.data[i]));
            continue;
        }
        match check_domain(&p.name, p.base, t) {
            Ok(t) => params.push(t),
            Err(e) => errors.push(e),
        }
    }
    if !errors.is_empty() {
        return Err(InputErrors(errors));
    }
    let dims: Vec<usize> = dims.into_iter().map(|d| d.map_or(0, |(v, ..)| v)).collect();
    check_budgets(node, &dims, Limits::current()).map_err(|e| InputErrors(vec![e.to_string()]))?;
    Ok(Bound { params, dims })
}

/// The number of entries of `shape` at these dimension sizes; `None` on overflow.
fn elements(shape: &Shape, dims: &[usize]) -> Option<u64> {
    shape.0.iter().try_fold(1u64, |n, d| match d {
        Dim::Fixed(v) => n.checked_mul(*v),
        Dim::Named(id) => n.checked_mul(dims[id.0 as usize] as u64),
    })
}

/// The largest entry count of `e` and its subexpressions (`None` on overflow).
/// It runs on every bind, so it walks without allocating.
fn largest(e: &Expr, dims: &[usize]) -> Option<u64> {
    let own = elements(&e.shape, dims)?;
    let below = match &e.kind {
        ExprKind::Neg(a) | ExprKind::Pow { base: a, .. } | ExprKind::Transpose(a) | ExprKind::Index { base: a, .. } => {
            largest(a, dims)?
        }
        ExprKind::Binary { lhs, rhs, .. } | ExprKind::MatMul(lhs, rhs) => largest(lhs, dims)?.max(largest(rhs, dims)?),
        ExprKind::Atom { args, .. } => args.iter().try_fold(0, |m, a| Some(m.max(largest(a, dims)?)))?,
        ExprKind::Const(_) | ExprKind::Dim(_) | ExprKind::Param(_) | ExprKind::Var(_) | ExprKind::Sym { .. } => 0,
    };
    Some(own.max(below))
}

/// Checks, at the bound dimension sizes and before any of it is allocated:
/// every variable and every subexpression of the objective, constraints and inits
/// against the element budget, and the dense matrices the solvers build —
/// `(n + m)²` for a smooth node's Hessian / KKT matrix (`n` unknowns, `m`
/// constraint entries) or a conic node solved directly as an equality QP, and
/// `rows·n` for a least-squares node's QR — against the dense-matrix budget.
/// (The dense matrices are allocated in `smooth::interior`, `kernel::problem`,
/// `diff::ift` and `solve::direct`; this is the one entry they all pass.)
fn check_budgets(node: &Node, dims: &[usize], limits: &Limits) -> Result<(), LimitError> {
    let sizes = || {
        let named: Vec<String> = node.dims.iter().zip(dims).map(|(d, v)| format!("{} = {v}", d.name)).collect();
        if named.is_empty() {
            String::new()
        } else {
            format!(" at {}", named.join(", "))
        }
    };
    let mut n = Some(0u64);
    for v in &node.vars {
        let count = elements(&v.shape, dims);
        limits.check(Budget::Elements, count, || {
            format!("variable `{}` has {} entries{}", v.name, count_words(count), sizes())
        })?;
        n = n.zip(count).and_then(|(a, b)| a.checked_add(b));
    }
    let mut m = Some(0u64);
    // The QR path's M has one row per entry of `sum_squares`'s argument.
    let rows = match &node.objective.expr.kind {
        ExprKind::Atom { atom: Atom::SumSquares, args, .. } => args.first().and_then(|a| elements(&a.shape, dims)),
        _ => Some(0),
    };
    let mut exprs: Vec<&Expr> = vec![&node.objective.expr];
    for c in &node.constraints {
        exprs.extend([&c.lhs, &c.rhs]);
        m = m.zip(elements(&c.shape, dims)).and_then(|(a, b)| a.checked_add(b));
    }
    exprs.extend(node.inits.iter().map(|i| &i.value));
    for e in exprs {
        let count = largest(e, dims);
        limits.check(Budget::Elements, count, || {
            format!("an expression of node `{}` has {} entries{}", node.name, count_words(count), sizes())
        })?;
    }
    let specialised = node.solve.as_ref().is_some_and(|s| s.method.is_specialised());
    let direct = node.class.family.is_conic()
        && node.solve.is_none()
        && node.constraints.iter().all(|c| c.relation() == Relation::Eq);
    let dense = if !node.class.family.is_conic() && !specialised {
        n.zip(m).and_then(|(n, m)| n.checked_add(m)).and_then(|k| k.checked_mul(k))
    } else if direct {
        let kkt = n.zip(m).and_then(|(n, m)| n.checked_add(m)).and_then(|k| k.checked_mul(k));
        let qr = rows.zip(n).and_then(|(r, n)| r.checked_mul(n));
        kkt.zip(qr).map(|(a, b)| a.max(b))
    } else {
        return Ok(());
    };
    limits.check(Budget::DenseEntries, dense, || {
        format!(
            "node `{}` would build a dense matrix of {} entries ({} unknowns, {} constraint entries){}",
            node.name,
            count_words(dense),
            count_words(n),
            count_words(m),
            sizes()
        )
    })
}

/// Rank, literal sizes and named sizes of one input; records new dimension sizes.
fn check_shape<'a>(
    node: &Node,
    name: &'a str,
    declared: &dyn Fn() -> String,
    shape: &Shape,
    t: &Tensor,
    dims: &mut [Option<(usize, &'a str, usize)>],
    errors: &mut Vec<String>,
) -> bool {
    if t.rank() != shape.rank() {
        errors.push(format!("input `{name}` must be {}, found {}", declared(), shape_words(&t.shape)));
        return false;
    }
    let mut ok = true;
    for (axis, (d, &len)) in shape.0.iter().zip(&t.shape).enumerate() {
        match d {
            Dim::Fixed(v) if *v as usize != len => {
                errors.push(format!("input `{name}` must be {}, but axis {axis} has length {len}", declared()));
                ok = false;
            }
            Dim::Fixed(_) => {}
            Dim::Named(id) => {
                let dname = &node.dims[id.0 as usize].name;
                match &dims[id.0 as usize] {
                    Some((v, from, from_axis)) if *v != len => {
                        errors.push(format!(
                            "dimension `{dname}` is {v} (from `{from}` axis {from_axis}) but input `{name}` has {len} \
                             on axis {axis}"
                        ));
                        ok = false;
                    }
                    Some(_) => {}
                    None => dims[id.0 as usize] = Some((len, name, axis)),
                }
            }
        }
    }
    ok
}

/// The base type's domain; `sym`/`psd` inputs are replaced by their symmetric part
/// (the node depends on them only through it).
fn check_domain(name: &str, base: BaseType, t: &Tensor) -> Result<Tensor, String> {
    match base {
        BaseType::Real => Ok(t.clone()),
        BaseType::Nonneg | BaseType::Pos => {
            let strict = base == BaseType::Pos;
            match t.data.iter().position(|&x| if strict { x <= 0.0 } else { x < 0.0 }) {
                Some(i) => Err(format!(
                    "input `{name}` must be {} (`{}`), but entry {i} is {}",
                    if strict { "positive" } else { "nonnegative" },
                    base.name(),
                    t.data[i]
                )),
                None => Ok(t.clone()),
            }
        }
        BaseType::Sym | BaseType::Psd => {
            let (n, _) = t.rows_cols();
            let scale = t.data.iter().fold(1.0f64, |m, x| m.max(x.abs()));
            // The check and the symmetric part in one sweep over the lower
            // triangle (row-major: `[i, j]` at `i·n + j`), each pair read once
            // before either of its entries is written.
            let mut sym = t.clone();
            let d = &mut sym.data;
            for i in 0..n {
                for j in 0..=i {
                    let (a, b) = (d[i * n + j], d[j * n + i]);
                    if (a - b).abs() > SYM_TOL * scale {
                        return Err(format!(
                            "input `{name}` must be symmetric (`{}`), but [{i}, {j}] = {a} and [{j}, {i}] = {b}",
                            base.name()
                        ));
                    }
                    let v = 0.5 * (a + b);
                    d[i * n + j] = v;
                    d[j * n + i] = v;
                }
            }
            if base == BaseType::Psd && !shifted_cholesky_succeeds(&sym, n, scale) {
                let eig = sym
                    .view(n, n)
                    .self_adjoint_eigenvalues(faer::Side::Lower)
                    .map_err(|_| format!("input `{name}`: the eigenvalue solver did not converge"))?;
                let big = eig.iter().fold(1.0f64, |m, x| m.max(x.abs()));
                if let Some(&low) = eig.first().filter(|&&l| l < -SYM_TOL * big) {
                    return Err(format!(
                        "input `{name}` must be positive semidefinite (`psd`), but its smallest eigenvalue is {low:e}"
                    ));
                }
            }
            Ok(sym)
        }
    }
}

/// The `psd` test's fast path: a Cholesky factor of `X + tI`, `t = tol·max(1,
/// max|X|)`, for the symmetric `n × n` matrix `X` (`scale = max(1, max|X|)`).
/// It exists exactly when `λ_min(X) > −t`, and `max|X| ≤ max|λ|`, so success
/// proves `λ_min ≥ −tol·max(1, max|λ|)` (up to the factorisation's rounding,
/// `O(n ε ‖X‖₂)`, four orders below `t` for any `n` the budgets allow): the
/// matrix passes. Failure proves nothing near the threshold (the shift is
/// `max|X|`-relative, the contract's `max|λ|`-relative), and the eigenvalues
/// then decide, as they name the smallest in the message: `n³/3` flops instead
/// of a symmetric eigendecomposition's ~`9n³` on every call with a valid input.
fn shifted_cholesky_succeeds(x: &Tensor, n: usize, scale: f64) -> bool {
    // X is symmetric: its row-major entries are its column-major ones.
    let mut buf = x.data.clone();
    for i in 0..n {
        buf[i * n + i] += SYM_TOL * scale;
    }
    let l = faer::MatMut::from_column_major_slice_mut(&mut buf, n, n);
    let mut mem = faer::dyn_stack::MemBuffer::new(
        faer::linalg::cholesky::llt::factor::cholesky_in_place_scratch::<f64>(n, faer::Par::Seq, Default::default()),
    );
    faer::linalg::cholesky::llt::factor::cholesky_in_place(
        l,
        Default::default(),
        faer::Par::Seq,
        faer::dyn_stack::MemStack::new(&mut mem),
        Default::default(),
    )
    .is_ok()
}
