//! Expression lowering: resolves names, inlines `def`s, substitutes `let`s, checks
//! atom signatures and shapes (numpy broadcasting, matrix products, indexing).
//!
//! Returns `None` for an expression with an error already reported, and callers
//! propagate `None` silently, so one mistake gives one message.
//!
//! `let`s and `def`s are substituted, not shared: every use copies the whole
//! expression, and later stages walk the copies. So that thirty lines of
//! `let a2 = a1 + a1` cannot take 2³⁰ steps and nodes, the work is counted as
//! it is done ([`Expansion`]: one per expression lowered, a copy's size before
//! it is made) against [`Limits::expr_nodes`], and lowering stops with one
//! error once it is spent. Sizes are checked against [`Limits::elements`]: a
//! size literal, and every expression's literal sizes multiplied out.

use std::collections::HashMap;

use super::defs::{self, DefTable};
use crate::atoms::{self, ArgKind, AtomInfo, ShapeArgs};
use crate::diag::{Diagnostic, Span};
use crate::ir::{shape_str, Arith, Dim, DimId, DimInfo, Expr, ExprKind, ParamId, Sel, Shape, VarId};
use crate::limits::{count_words, Budget, Limits};
use crate::syntax::ast::{self, BinOp, IndexArg};

/// What a name in a node body stands for.
#[derive(Clone, Debug)]
pub enum Binding {
    /// A parameter, with its shape.
    Param(ParamId, Shape),
    /// A variable (output or `var`), with its shape.
    Var(VarId, Shape),
    /// A `let`: its checked expression, copied at each use.
    Let(Expr),
    /// A dimension name, used as a scalar: its run-time value.
    Dim(DimId),
    /// Declared, but its declaration had an error (already reported): uses are
    /// skipped silently.
    Poisoned,
}

/// Where names are looked up: the node's scope, or a `def`'s arguments.
enum Env<'e> {
    Node,
    Def(&'e HashMap<String, Expr>),
}

/// Lowers the expressions of one node from syntax to checked IR.
pub struct Lowerer<'a, 'd> {
    /// The `def`s in scope.
    pub defs: &'a DefTable<'d>,
    /// The node's dimension names, for shapes in messages.
    pub dims: &'a [DimInfo],
    /// What each name in the node's scope stands for.
    pub names: &'a HashMap<String, Binding>,
    /// Where errors go.
    pub diags: &'a mut Vec<Diagnostic>,
    /// The node's expression-node budget spent so far.
    pub expansion: &'a mut Expansion,
}

/// The expression nodes one node's lowering has built or copied so far, against
/// [`Limits::expr_nodes`]; once over, lowering fails (reported once).
#[derive(Debug, Default)]
pub struct Expansion {
    spent: u64,
    reported: bool,
}

/// The number of nodes of `e`, counting no further than `cap + 1` (enough to
/// know it is over `cap`): the walk costs no more than the copy it prices.
fn tree_size(e: &Expr, cap: u64) -> u64 {
    let mut count = 0u64;
    let mut stack = vec![e];
    while let Some(x) = stack.pop() {
        count += 1;
        if count > cap {
            break;
        }
        stack.extend(x.children());
    }
    count
}

/// The product of a shape's literal sizes (named ones count 1: they are bound
/// at run time and checked then); `None` when it overflows.
pub fn literal_elements(shape: &[Dim]) -> Option<u64> {
    shape.iter().try_fold(1u64, |n, d| match d {
        Dim::Fixed(v) => n.checked_mul(*v),
        Dim::Named(_) => Some(n),
    })
}

fn mk(kind: ExprKind, shape: Shape, span: Span) -> Expr {
    Expr { kind, shape, span }
}

/// The value of a constant expression of literals (`2`, `-1`, `1/2`).
pub fn fold(e: &Expr) -> Option<f64> {
    match &e.kind {
        ExprKind::Const(c) => Some(*c),
        ExprKind::Neg(a) => fold(a).map(|c| -c),
        ExprKind::Binary { op, lhs, rhs } => {
            let (a, b) = (fold(lhs)?, fold(rhs)?);
            Some(match op {
                Arith::Add => a + b,
                Arith::Sub => a - b,
                Arith::Mul => a * b,
                Arith::Div => a / b,
            })
            .filter(|v| v.is_finite())
        }
        ExprKind::Pow { base, p } => Some(fold(base)?.powf(*p)).filter(|v| v.is_finite()),
        _ => None,
    }
}

impl Lowerer<'_, '_> {
    /// `real[m, n]`-style spelling of a shape, with the node's dimension names.
    pub fn show(&self, s: &Shape) -> String {
        shape_str(self.dims, s)
    }

    fn err<T>(&mut self, d: Diagnostic) -> Option<T> {
        self.diags.push(d);
        None
    }

    /// Lowers an expression of the node body.
    pub fn lower(&mut self, e: &ast::Expr) -> Option<Expr> {
        self.go(e, &Env::Node)
    }

    /// Spends `n` of the expression-node budget; past it, reports once (at
    /// `span`) and fails.
    fn spend(&mut self, n: u64, span: Span) -> Option<()> {
        let limits = Limits::current();
        self.expansion.spent = self.expansion.spent.saturating_add(n);
        if self.expansion.spent <= limits.expr_nodes {
            return Some(());
        }
        if !self.expansion.reported {
            self.expansion.reported = true;
            self.diags.push(
                Diagnostic::error(format!(
                    "this node's expressions grow past {} nodes once `let`s and `def`s are substituted",
                    limits.expr_nodes
                ))
                .at(span, "the budget runs out here")
                .note("each use of a `let`, or of a `def` parameter, copies the whole expression it names, so the size can double with every line")
                .help(format!("use each `let` fewer times, or raise {}", limits.describe(Budget::ExprNodes))),
            );
        }
        None
    }

    /// A copy of a substituted expression, its size spent first.
    fn copy(&mut self, e: &Expr, span: Span) -> Option<Expr> {
        let left = Limits::current().expr_nodes.saturating_sub(self.expansion.spent);
        self.spend(tree_size(e, left), span)?;
        Some(e.clone())
    }

    fn go(&mut self, e: &ast::Expr, env: &Env) -> Option<Expr> {
        self.spend(1, e.span)?;
        let out = self.build(e, env)?;
        let elements = literal_elements(&out.shape.0);
        match Limits::current().check(Budget::Elements, elements, || {
            format!("`{}` has {} entries", self.show(&out.shape), count_words(elements))
        }) {
            Ok(()) => Some(out),
            Err(m) => self.err(Diagnostic::error(m.to_string()).at(out.span, "this value is too large")),
        }
    }

    fn build(&mut self, e: &ast::Expr, env: &Env) -> Option<Expr> {
        let span = e.span;
        match &e.kind {
            ast::ExprKind::Number { value, .. } => Some(mk(ExprKind::Const(*value), Shape::scalar(), span)),
            ast::ExprKind::Name(n) => self.name(n, span, env),
            ast::ExprKind::Neg(a) => {
                let a = self.go(a, env)?;
                let shape = a.shape.clone();
                Some(mk(ExprKind::Neg(Box::new(a)), shape, span))
            }
            ast::ExprKind::Binary { op, lhs, rhs } => {
                let (l, r) = (self.go(lhs, env), self.go(rhs, env));
                let (l, r) = (l?, r?);
                self.binary(*op, l, r, span)
            }
            ast::ExprKind::Transpose(a) => {
                let a = self.go(a, env)?;
                let shape = a.shape.transpose();
                Some(mk(ExprKind::Transpose(Box::new(a)), shape, span))
            }
            ast::ExprKind::Index { base, indices } => {
                let b = self.go(base, env)?;
                self.index(b, indices, span, env)
            }
            ast::ExprKind::Call { func, args, kwargs } => self.call(func, args, kwargs, span, env),
        }
    }

    fn name(&mut self, n: &str, span: Span, env: &Env) -> Option<Expr> {
        if let Env::Def(args) = env {
            // `DefTable` checked that a body names only its parameters.
            return args.get(n).and_then(|x| self.copy(x, span));
        }
        let names = self.names;
        match names.get(n) {
            Some(Binding::Param(p, s)) => Some(mk(ExprKind::Param(*p), s.clone(), span)),
            Some(Binding::Var(v, s)) => Some(mk(ExprKind::Var(*v), s.clone(), span)),
            Some(Binding::Let(x)) => self.copy(x, span),
            Some(Binding::Dim(d)) => Some(mk(ExprKind::Dim(*d), Shape::scalar(), span)),
            Some(Binding::Poisoned) => None,
            None => {
                let mut d = Diagnostic::error(format!("unknown name `{n}`")).at(span, "not defined");
                if let Some(best) = defs::closest(n, self.names.keys().map(String::as_str)) {
                    d = d.help(format!("did you mean `{best}`?"));
                } else {
                    d = d
                        .help("names are parameters, outputs, `var`s, `let`s (defined before use) and dimension names");
                }
                self.err(d)
            }
        }
    }

    fn binary(&mut self, op: BinOp, l: Expr, r: Expr, span: Span) -> Option<Expr> {
        let arith = match op {
            BinOp::Add => Arith::Add,
            BinOp::Sub => Arith::Sub,
            BinOp::Mul => Arith::Mul,
            BinOp::Div => Arith::Div,
            BinOp::MatMul => return self.matmul(l, r, span),
            BinOp::Pow => return self.pow(l, r, span),
        };
        if arith == Arith::Div && fold(&r) == Some(0.0) {
            return self.err(Diagnostic::error("division by zero").at(r.span, "this is 0"));
        }
        let Some(shape) = l.shape.broadcast(&r.shape) else {
            let (ls, rs) = (self.show(&l.shape), self.show(&r.shape));
            return self.err(
                Diagnostic::error(format!("cannot broadcast `{ls}` with `{rs}` in `{}`", arith.symbol()))
                    .at(span, "shapes do not match")
                    .also(l.span, format!("this is `{ls}`"))
                    .also(r.span, format!("this is `{rs}`"))
                    .help("elementwise operations need equal shapes, or 1 (or a missing axis) where one side stretches; distinct dimension names may differ"),
            );
        };
        Some(mk(ExprKind::Binary { op: arith, lhs: Box::new(l), rhs: Box::new(r) }, shape, span))
    }

    /// `A @ B`: (m,k)@(k,n) → (m,n); (m,k)@(k) → (m); (k)@(k,n) → (n); (k)@(k) → scalar.
    fn matmul(&mut self, l: Expr, r: Expr, span: Span) -> Option<Expr> {
        let (ls, rs) = (&l.shape.0, &r.shape.0);
        if ls.is_empty() || rs.is_empty() {
            return self.err(
                Diagnostic::error("`@` needs vectors or matrices on both sides")
                    .at(span, "a scalar operand")
                    .help("use `*` to scale by a scalar"),
            );
        }
        let inner_l = ls[ls.len() - 1];
        let inner_r = rs[0];
        if inner_l != inner_r {
            let (a, b) = (self.show(&l.shape), self.show(&r.shape));
            return self.err(
                Diagnostic::error(format!("matrix product `@`: inner dimensions differ, `{a}` @ `{b}`"))
                    .at(span, format!("{} vs {}", shape_str(self.dims, &Shape::vector(inner_l)), shape_str(self.dims, &Shape::vector(inner_r))))
                    .also(l.span, format!("this is `{a}`"))
                    .also(r.span, format!("this is `{b}`"))
                    .help("the last axis of the left operand must equal the first axis of the right; transpose with `.T` if needed"),
            );
        }
        let mut out: Vec<Dim> = ls[..ls.len() - 1].to_vec();
        out.extend_from_slice(&rs[1..]);
        Some(mk(ExprKind::MatMul(Box::new(l), Box::new(r)), Shape(out), span))
    }

    fn pow(&mut self, base: Expr, exp: Expr, span: Span) -> Option<Expr> {
        let Some(p) = fold(&exp) else {
            return self.err(
                Diagnostic::error("the exponent of `^` must be a constant number")
                    .at(exp.span, "this exponent is not a constant")
                    .help("write a literal such as `2` or `0.5`; for e^x use `exp(x)`"),
            );
        };
        let shape = base.shape.clone();
        Some(mk(ExprKind::Pow { base: Box::new(base), p }, shape, span))
    }

    /// A non-negative integer from a constant expression (indices, axes, sizes).
    fn int_of(&mut self, e: &Expr, what: &str) -> Option<u64> {
        match fold(e) {
            Some(v) if v >= 0.0 && v.fract() == 0.0 && v < u32::MAX as f64 => Some(v as u64),
            _ => self.err(
                Diagnostic::error(format!("{what} must be a non-negative integer literal"))
                    .at(e.span, "not a non-negative integer"),
            ),
        }
    }

    fn index(&mut self, base: Expr, indices: &[IndexArg], span: Span, env: &Env) -> Option<Expr> {
        if indices.len() > base.shape.rank() {
            let s = self.show(&base.shape);
            return self.err(
                Diagnostic::error(format!(
                    "too many indices: `{s}` has {} axes, found {}",
                    base.shape.rank(),
                    indices.len()
                ))
                .at(span, "indexed here"),
            );
        }
        let mut sel = Vec::new();
        let mut shape = Vec::new();
        for (axis, ix) in indices.iter().enumerate() {
            let len = base.shape.0[axis];
            let check = |this: &mut Self, v: u64, span: Span, allow_end: bool| -> Option<u64> {
                if let Dim::Fixed(n) = len {
                    if v > n || (v == n && !allow_end) {
                        return this.err(
                            Diagnostic::error(format!("index {v} is out of range for axis {axis} of length {n}"))
                                .at(span, "out of range"),
                        );
                    }
                }
                Some(v)
            };
            match ix {
                IndexArg::At(x) => {
                    let x = self.go(x, env)?;
                    let v = self.int_of(&x, "an index")?;
                    sel.push(Sel::At(check(self, v, x.span, false)?));
                }
                IndexArg::Slice { start, end, span: sspan } => {
                    let s = match start {
                        Some(x) => {
                            let x = self.go(x, env)?;
                            {
                                let v = self.int_of(&x, "a slice bound")?;
                                check(self, v, x.span, true)?
                            }
                        }
                        None => 0,
                    };
                    let e = match end {
                        Some(x) => {
                            let x = self.go(x, env)?;
                            Some({
                                let v = self.int_of(&x, "a slice bound")?;
                                check(self, v, x.span, true)?
                            })
                        }
                        None => None,
                    };
                    let out_len =
                        match (e, len) {
                            (Some(e), _) if e < s => {
                                return self.err(
                                    Diagnostic::error("slice end is before its start").at(*sspan, "empty or reversed"),
                                )
                            }
                            (Some(e), _) => Dim::Fixed(e - s),
                            (None, d) if s == 0 => d,
                            (None, Dim::Fixed(n)) => Dim::Fixed(n - s),
                            (None, Dim::Named(_)) => return self.err(
                                Diagnostic::error(
                                    "a slice from a nonzero start to the end of a named dimension is not supported yet",
                                )
                                .at(*sspan, "its length would be symbolic")
                                .help("give the end explicitly"),
                            ),
                        };
                    sel.push(Sel::Range { start: s, end: e });
                    shape.push(out_len);
                }
            }
        }
        shape.extend_from_slice(&base.shape.0[indices.len()..]);
        Some(mk(ExprKind::Index { base: Box::new(base), sel }, Shape(shape), span))
    }

    fn call(
        &mut self,
        func: &ast::Ident,
        args: &[ast::Expr],
        kwargs: &[ast::KwArg],
        span: Span,
        env: &Env,
    ) -> Option<Expr> {
        let name = func.name.as_str();
        if let Some(d) = self.defs.get(name) {
            return self.inline(d, func, args, kwargs, span, env);
        }
        if name == "dot" {
            let a = self.bind(name, func.span, &["x", "y"], 2, false, args, kwargs)?;
            let (x, y) = (self.go(a[0]?, env), self.go(a[1]?, env));
            let (x, y) = (x?, y?);
            if x.shape.rank() != 1 || y.shape.rank() != 1 {
                let (a, b) = (self.show(&x.shape), self.show(&y.shape));
                return self.err(
                    Diagnostic::error(format!("`dot` needs two vectors, found `{a}` and `{b}`")).at(span, "here"),
                );
            }
            return self.matmul(x, y, span);
        }
        let Some(info) = atoms::lookup(name) else {
            return self.err(defs::unknown_function(name, func.span));
        };
        self.atom(info, func, args, kwargs, span, env)
    }

    /// Matches positional and keyword arguments to `params`; reports arity and
    /// unknown or repeated keywords. Extra positional arguments are kept when
    /// `variadic`.
    #[allow(clippy::too_many_arguments)]
    fn bind<'x>(
        &mut self,
        name: &str,
        at: Span,
        params: &[&str],
        required: usize,
        variadic: bool,
        args: &'x [ast::Expr],
        kwargs: &'x [ast::KwArg],
    ) -> Option<Vec<Option<&'x ast::Expr>>> {
        let plural = |n: usize| if n == 1 { "argument" } else { "arguments" };
        let given = args.len() + kwargs.len();
        if args.len() > params.len() && !variadic {
            let n = params.len();
            let takes = if required == n { format!("{n}") } else { format!("{required} to {n}") };
            return self.err(
                Diagnostic::error(format!("`{name}` takes {takes} {}, found {given}", plural(n)))
                    .at(at, "called here")
                    .help(format!("`{name}({})`", params.join(", "))),
            );
        }
        let mut slots: Vec<Option<&ast::Expr>> = args.iter().map(Some).collect();
        slots.resize(slots.len().max(params.len()), None);
        for k in kwargs {
            match params.iter().position(|p| *p == k.name.name) {
                Some(i) if slots[i].is_some() => {
                    return self.err(
                        Diagnostic::error(format!("argument `{}` of `{name}` is given twice", k.name.name))
                            .at(k.name.span, "again here"),
                    )
                }
                Some(i) => slots[i] = Some(&k.value),
                None => {
                    return self.err(
                        Diagnostic::error(format!("`{name}` has no keyword argument `{}`", k.name.name))
                            .at(k.name.span, "unknown keyword")
                            .help(format!("`{name}` takes `{}`", params.join("`, `"))),
                    )
                }
            }
        }
        let missing = slots.iter().take(required).any(Option::is_none);
        if missing {
            let at_least = if variadic { "at least " } else { "" };
            return self.err(
                Diagnostic::error(format!("`{name}` takes {at_least}{required} {}, found {given}", plural(required)))
                    .at(at, "called here")
                    .help(format!("`{name}({})`", params.join(", "))),
            );
        }
        Some(slots)
    }

    fn inline(
        &mut self,
        d: &ast::Def,
        func: &ast::Ident,
        args: &[ast::Expr],
        kwargs: &[ast::KwArg],
        span: Span,
        env: &Env,
    ) -> Option<Expr> {
        let params: Vec<&str> = d.params.iter().map(|p| p.name.as_str()).collect();
        let slots = self.bind(&d.name.name, func.span, &params, params.len(), false, args, kwargs)?;
        let mut bound = HashMap::new();
        let mut ok = true;
        for (p, a) in params.iter().zip(slots) {
            match a.and_then(|a| self.go(a, env)) {
                Some(x) => {
                    bound.insert(p.to_string(), x);
                }
                None => ok = false,
            }
        }
        if !ok || self.defs.is_broken(&d.name.name) {
            return None;
        }
        let before = self.diags.len();
        let out = self.go(&d.body, &Env::Def(&bound));
        for diag in &mut self.diags[before..] {
            diag.labels.push(crate::diag::Label {
                span,
                message: format!("in this call of `{}`", d.name.name),
                primary: false,
            });
        }
        // The result spans the call: diagnostics about the value point at the call.
        out.map(|mut x| {
            x.span = span;
            x
        })
    }

    fn atom(
        &mut self,
        info: &'static AtomInfo,
        func: &ast::Ident,
        args: &[ast::Expr],
        kwargs: &[ast::KwArg],
        span: Span,
        env: &Env,
    ) -> Option<Expr> {
        let sig = &info.sig;
        let (axis_kw, other_kw): (Vec<&ast::KwArg>, Vec<ast::KwArg>) = {
            let (a, o): (Vec<&ast::KwArg>, Vec<&ast::KwArg>) =
                kwargs.iter().partition(|k| k.name.name == "axis" && sig.axis);
            (a, o.into_iter().cloned().collect())
        };
        let slots = self.bind(info.name, func.span, sig.params, sig.required, sig.variadic, args, &other_kw)?;
        let axis = match axis_kw.first() {
            Some(k) => {
                let x = self.go(&k.value, env)?;
                match self.int_of(&x, "`axis`")? {
                    a @ (0 | 1) => Some(a as u8),
                    a => {
                        return self.err(
                            Diagnostic::error(format!("`axis` must be 0 or 1, found {a}")).at(k.value.span, "here"),
                        )
                    }
                }
            }
            None => None,
        };
        if sig.kind == ArgKind::Sizes {
            let mut sizes = Vec::new();
            for a in slots.iter().flatten() {
                sizes.push(self.size(a)?);
            }
            let show = |s: &Shape| shape_str(self.dims, s);
            let shape = (info.shape)(&ShapeArgs { shapes: &[], axis, sizes: &sizes, show: &show });
            return match shape {
                Ok(shape) => Some(mk(ExprKind::Atom { atom: info.atom, args: Vec::new(), axis }, shape, span)),
                Err(m) => self.err(Diagnostic::error(m).at(span, "here")),
            };
        }
        let mut lowered = Vec::new();
        let mut ok = true;
        for (i, a) in slots.iter().enumerate() {
            match a {
                Some(a) => match self.go(a, env) {
                    Some(x) => lowered.push(x),
                    None => ok = false,
                },
                None => {
                    let v = info.defaults.get(i - sig.required).copied().unwrap_or(0.0);
                    lowered.push(mk(ExprKind::Const(v), Shape::scalar(), span));
                }
            }
        }
        if !ok {
            return None;
        }
        for &(i, why) in sig.data_only {
            if let Some(x) = lowered.get(i) {
                if !x.is_data() {
                    return self.err(
                        Diagnostic::error(format!(
                            "argument `{}` of `{}` must not depend on variables",
                            sig.params[i], info.name
                        ))
                        .at(x.span, "depends on an optimisation variable")
                        .note(why),
                    );
                }
            }
        }
        let shapes: Vec<Shape> = lowered.iter().map(|x| x.shape.clone()).collect();
        let show = |s: &Shape| shape_str(self.dims, s);
        match (info.shape)(&ShapeArgs { shapes: &shapes, axis, sizes: &[], show: &show }) {
            Ok(shape) => Some(mk(ExprKind::Atom { atom: info.atom, args: lowered, axis }, shape, span)),
            Err(m) => self.err(Diagnostic::error(m).at(span, format!("in this call of `{}`", info.name))),
        }
    }

    /// A size argument: a dimension name or an integer literal.
    fn size(&mut self, a: &ast::Expr) -> Option<Dim> {
        if let ast::ExprKind::Name(n) = &a.kind {
            if let Some(Binding::Dim(d)) = self.names.get(n) {
                return Some(Dim::Named(*d));
            }
        }
        if let ast::ExprKind::Number { value, .. } = &a.kind {
            if *value >= 0.0 && value.fract() == 0.0 {
                let limits = Limits::current();
                if *value > limits.elements as f64 {
                    return self.err(
                        Diagnostic::error(format!("size {value} is more than {}", limits.describe(Budget::Elements)))
                            .at(a.span, "too large"),
                    );
                }
                return Some(Dim::Fixed(*value as u64));
            }
        }
        self.err(
            Diagnostic::error("a size must be a dimension name or a non-negative integer")
                .at(a.span, "not a size")
                .help("e.g. `ones(n)` with `n` a dimension of some parameter, or `eye(3)`"),
        )
    }
}
