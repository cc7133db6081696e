//! Lowering one node: declarations, dimension names, statements, then classification.

use std::collections::HashMap;

use super::classify;
use super::defs::DefTable;
use super::lower::{fold, literal_elements, Binding, Expansion, Lowerer};
use super::methods::{self, Kind};
use super::recognise;
use crate::diag::{Diagnostic, Span};
use crate::ir::{
    Constraint, ConstraintOrigin, Dim, DimId, DimInfo, Expr, ExprKind, Family, Init, IterOptions, Node, Objective,
    Output, Param, ParamId, Shape, SolveMethod, SolveSpec, Var, VarId,
};
use crate::syntax::ast::{self, BaseType, CmpOp, Stmt};

struct NodeBuilder<'a, 'd> {
    defs: &'a DefTable<'d>,
    diags: &'a mut Vec<Diagnostic>,
    dims: Vec<DimInfo>,
    names: HashMap<String, Binding>,
    /// Where each name was declared, for "defined twice" messages.
    declared: HashMap<String, Span>,
    params: Vec<Param>,
    vars: Vec<Var>,
    errors: bool,
    /// What substituting `let`s and `def`s has cost so far (one budget per node).
    expansion: Expansion,
}

/// Checks one node; `None` when it has errors (all reported in `diags`).
pub fn check_node(n: &ast::Node, defs: &DefTable, diags: &mut Vec<Diagnostic>) -> Option<Node> {
    let before = diags.iter().filter(|d| d.is_error()).count();
    let mut b = NodeBuilder {
        defs,
        diags,
        dims: Vec::new(),
        names: HashMap::new(),
        declared: HashMap::new(),
        params: Vec::new(),
        vars: Vec::new(),
        errors: false,
        expansion: Expansion::default(),
    };
    for p in &n.params {
        b.param(p);
    }
    let mut outputs = Vec::new();
    let mut duals = Vec::new();
    for o in &n.outputs {
        match o {
            ast::Output::Var { name, ty } => {
                if let Some(v) = b.var(name, ty, true) {
                    outputs.push(Some(Output::Var(v)));
                } else {
                    outputs.push(None);
                }
            }
            ast::Output::Dual { name, .. } => {
                duals.push((outputs.len(), name));
                outputs.push(None);
            }
        }
    }
    // `var`s may be used anywhere in the body, so declare them first.
    for s in &n.body {
        if let Stmt::Var { name, ty, .. } = s {
            b.var(name, ty, false);
        }
    }
    let mut objective: Option<Objective> = None;
    let mut objective_span: Option<Span> = None;
    let mut constraints: Vec<Constraint> = Vec::new();
    let mut solve: Option<Named> = None;
    let mut inits: Vec<Init> = Vec::new();
    for s in &n.body {
        match s {
            Stmt::Var { .. } => {}
            Stmt::Let { name, value, .. } => {
                let v = b.lowerer().lower(value);
                if b.declare(name) {
                    let binding = match v {
                        Some(v) => Binding::Let(v),
                        None => {
                            b.errors = true;
                            Binding::Poisoned
                        }
                    };
                    b.names.insert(name.name.clone(), binding);
                }
            }
            Stmt::Objective { sense, expr, span } => {
                if let Some(first) = objective_span {
                    b.error(
                        Diagnostic::error(format!("node `{}` has more than one objective", n.name.name))
                            .at(Span { end: span.start + sense.keyword().len() as u32, ..*span }, "second objective")
                            .also(Span { end: first.start + 8, ..first }, "first objective")
                            .help("combine them into one expression, e.g. `minimize f + g`"),
                    );
                    continue;
                }
                objective_span = Some(*span);
                if let Some(e) = b.lowerer().lower(expr) {
                    if !e.shape.is_scalar() && !e.shape.is_unit() {
                        let s = b.show(&e.shape);
                        b.error(
                            Diagnostic::error(format!("the objective must be a scalar, found `{s}`"))
                                .at(e.span, "not a scalar")
                                .help("reduce it, e.g. with `sum(...)` or `sum_squares(...)`"),
                        );
                    } else {
                        objective = Some(Objective { sense: *sense, expr: e, span: *span });
                    }
                } else {
                    b.errors = true;
                }
            }
            Stmt::SubjectTo { constraints: cs, .. } => {
                for c in cs {
                    if let Some(c) = b.constraint(c, &constraints) {
                        constraints.push(c);
                    }
                }
            }
            Stmt::Solve { method, options, span } => {
                if let Some(prev) = &solve {
                    b.error(
                        Diagnostic::error("more than one `solve using` clause")
                            .at(*span, "second one")
                            .also(prev.span, "first one"),
                    );
                } else if let Some(spec) = b.solve(method, options, *span) {
                    solve = Some(spec);
                }
            }
            Stmt::Init { .. } => {}
        }
    }
    // `init`s may refer to anything the body defines.
    for s in &n.body {
        if let Stmt::Init { name, value, .. } = s {
            if let Some(i) = b.init(name, value, &inits) {
                inits.push(i);
            }
        }
    }
    for (slot, name) in duals {
        match constraints.iter().position(|c| c.name.as_deref() == Some(name.name.as_str())) {
            Some(i) => outputs[slot] = Some(Output::Dual(i)),
            None => {
                let named: Vec<String> = constraints.iter().filter_map(|c| c.name.clone()).collect();
                let help = if named.is_empty() {
                    "name a constraint with `name: lhs <= rhs` inside `subject to { ... }`".to_string()
                } else {
                    format!("the named constraints are `{}`", named.join("`, `"))
                };
                b.error(
                    Diagnostic::error(format!("no constraint named `{}`", name.name))
                        .at(name.span, "`dual` needs a named constraint")
                        .help(help),
                );
            }
        }
    }
    let Some(objective) = objective else {
        if objective_span.is_none() {
            b.error(
                Diagnostic::error(format!("node `{}` has no objective", n.name.name))
                    .at(n.name.span, "this node")
                    .help("add `minimize EXPR` or `maximize EXPR` to its body"),
            );
        }
        return None;
    };
    b.type_constraints(&mut constraints);
    for (i, v) in b.vars.iter().enumerate() {
        let id = VarId(i as u32);
        let used = objective.expr.mentions(id) || constraints.iter().any(|c| c.lhs.mentions(id) || c.rhs.mentions(id));
        if !used && v.is_output {
            b.diags.push(
                Diagnostic::warning(format!("output `{}` does not occur in the problem", v.name))
                    .at(v.span, "its value is arbitrary")
                    .help("use it in the objective or a constraint, or remove it"),
            );
        }
    }
    let errors_now = b.diags.iter().filter(|d| d.is_error()).count();
    if b.errors || errors_now > before {
        return None;
    }
    let outputs: Vec<Output> = outputs.into_iter().flatten().collect();
    let dims = b.dims;
    let params = b.params;
    let vars = b.vars;
    let parts = classify::Parts {
        name: &n.name,
        params: &params,
        vars: &vars,
        outputs: &outputs,
        objective: &objective,
        constraints: &constraints,
        rewritten: false,
        cone_program: false,
    };
    let method_at = solve.as_ref().map(|named| named.name);
    let solve = solve.map(|named| named.resolve(&parts)).transpose();
    let class = classify::classify_rewriting(&parts, solve.as_ref().ok().and_then(Option::as_ref));
    let fits = match (&solve, &class, method_at) {
        (Ok(Some(spec)), Ok((c, _)), Some(at)) => method_fits(&spec.method, c.family, at),
        _ => Ok(()),
    };
    if let Err(d) = fits {
        b.diags.push(d);
        return None;
    }
    let (solve, class, objective, constraints) = match (solve, class) {
        (Ok(solve), Ok((c, Some(r)))) => (solve, c, r.objective, r.constraints),
        (Ok(solve), Ok((c, None))) => (solve, c, objective, constraints),
        (solve, class) => {
            b.diags.extend(solve.err().into_iter().chain(class.err()));
            return None;
        }
    };
    Some(Node {
        name: n.name.name.clone(),
        span: n.span,
        dims,
        params,
        vars,
        outputs,
        objective,
        constraints,
        solve,
        inits,
        class,
    })
}

impl<'d> NodeBuilder<'_, 'd> {
    fn lowerer(&mut self) -> Lowerer<'_, 'd> {
        Lowerer {
            defs: self.defs,
            dims: &self.dims,
            names: &self.names,
            diags: self.diags,
            expansion: &mut self.expansion,
        }
    }

    fn show(&self, s: &Shape) -> String {
        crate::ir::shape_str(&self.dims, s)
    }

    fn error(&mut self, d: Diagnostic) {
        self.errors = true;
        self.diags.push(d);
    }

    /// Claims `name` in the node scope; reports a clash.
    fn declare(&mut self, name: &ast::Ident) -> bool {
        if let Some(prev) = self.declared.get(&name.name) {
            let prev = *prev;
            self.error(
                Diagnostic::error(format!("`{}` is defined twice", name.name))
                    .at(name.span, "defined again here")
                    .also(prev, "first defined here"),
            );
            return false;
        }
        if let Some(Binding::Dim(_)) = self.names.get(&name.name) {
            let span = self.dims.iter().find(|d| d.name == name.name).map(|d| d.span);
            let mut d = Diagnostic::error(format!("`{}` is defined twice", name.name))
                .at(name.span, "defined again here")
                .help("dimension names share the node's scope with parameters and variables");
            if let Some(s) = span {
                d = d.also(s, "a dimension name");
            }
            self.error(d);
            return false;
        }
        self.declared.insert(name.name.clone(), name.span);
        true
    }

    /// Dimensions of a declared type. Parameters bind new names; outputs and
    /// `var`s may only use names some parameter binds.
    fn dims_of(&mut self, ty: &ast::Type, binder: Option<ParamId>) -> Option<Shape> {
        let mut shape = Vec::new();
        let mut ok = true;
        for (axis, d) in ty.dims.iter().enumerate() {
            match d {
                ast::DimExpr::Lit(v, _) => shape.push(Dim::Fixed(*v)),
                ast::DimExpr::Name(id) => {
                    if let Some(i) = self.dims.iter().position(|x| x.name == id.name) {
                        shape.push(Dim::Named(DimId(i as u32)));
                        continue;
                    }
                    if let Some(p) = binder {
                        if self.declared.contains_key(&id.name) {
                            self.error(
                                Diagnostic::error(format!("`{}` is defined twice", id.name))
                                    .at(id.span, "used as a dimension name here")
                                    .also(self.declared[&id.name], "already a parameter or variable"),
                            );
                            ok = false;
                            continue;
                        }
                        let dim = DimId(self.dims.len() as u32);
                        self.dims.push(DimInfo {
                            name: id.name.clone(),
                            span: id.span,
                            bound_by: Some((p, axis as u8)),
                        });
                        self.names.insert(id.name.clone(), Binding::Dim(dim));
                        shape.push(Dim::Named(dim));
                    } else {
                        self.error(
                            Diagnostic::error(format!("dimension `{}` is not bound by any parameter", id.name))
                                .at(id.span, "unknown size")
                                .help("sizes are taken from the parameters at run time: use a dimension name of some parameter, or a literal"),
                        );
                        ok = false;
                    }
                }
            }
        }
        let elements = literal_elements(&shape);
        let limits = crate::limits::Limits::current();
        let too_large = limits.check(crate::limits::Budget::Elements, elements, || {
            format!("`{}` has {} entries", self.show(&Shape(shape.clone())), crate::limits::count_words(elements))
        });
        if let Err(m) = too_large {
            self.error(Diagnostic::error(m.to_string()).at(ty.span, "too large"));
            ok = false;
        }
        if matches!(ty.base, BaseType::Sym | BaseType::Psd) && !(shape.len() == 2 && shape[0] == shape[1]) {
            self.error(
                Diagnostic::error(format!("`{}` needs a square matrix type", ty.base.name()))
                    .at(ty.span, "not square")
                    .help(format!("e.g. `{}[n, n]`", ty.base.name())),
            );
            ok = false;
        }
        ok.then_some(Shape(shape))
    }

    fn param(&mut self, p: &ast::Param) {
        let id = ParamId(self.params.len() as u32);
        let shape = self.dims_of(&p.ty, Some(id));
        if !self.declare(&p.name) {
            return;
        }
        let Some(shape) = shape else {
            self.names.insert(p.name.name.clone(), Binding::Poisoned);
            return;
        };
        self.names.insert(p.name.name.clone(), Binding::Param(id, shape.clone()));
        self.params.push(Param { name: p.name.name.clone(), base: p.ty.base, shape, span: p.name.span });
    }

    fn var(&mut self, name: &ast::Ident, ty: &ast::Type, is_output: bool) -> Option<VarId> {
        let id = self.declare_var(name, ty, is_output);
        if id.is_none() && !self.names.contains_key(&name.name) {
            self.names.insert(name.name.clone(), Binding::Poisoned);
        }
        id
    }

    fn declare_var(&mut self, name: &ast::Ident, ty: &ast::Type, is_output: bool) -> Option<VarId> {
        let shape = self.dims_of(ty, None);
        if !self.declare(name) {
            return None;
        }
        let shape = shape?;
        let id = VarId(self.vars.len() as u32);
        self.names.insert(name.name.clone(), Binding::Var(id, shape.clone()));
        self.vars.push(Var { name: name.name.clone(), base: ty.base, shape, span: name.span, is_output });
        Some(id)
    }

    fn constraint(&mut self, c: &ast::Constraint, earlier: &[Constraint]) -> Option<Constraint> {
        let (l, r) = (self.lowerer().lower(&c.lhs), self.lowerer().lower(&c.rhs));
        if let Some(name) = &c.name {
            if let Some(prev) = earlier.iter().find(|p| p.name.as_deref() == Some(name.name.as_str())) {
                let prev_span = prev.span;
                self.error(
                    Diagnostic::error(format!("constraint `{}` is defined twice", name.name))
                        .at(name.span, "second constraint with this name")
                        .also(prev_span, "first one"),
                );
                return None;
            }
        }
        let (l, r) = (l?, r?);
        let square = |s: &Shape| s.0.len() == 2 && s.0[0] == s.0[1];
        if c.op.is_psd() && !l.shape.broadcast(&r.shape).is_some_and(|s| square(&s)) {
            let (ls, rs) = (self.show(&l.shape), self.show(&r.shape));
            self.error(
                Diagnostic::error(format!("`{}` needs square matrices, found `{ls}` and `{rs}`", c.op.symbol()))
                    .at(c.lhs.span.to(c.rhs.span), "not a square matrix")
                    .help("a semidefinite constraint compares `n × n` matrices (a scalar side such as `0` broadcasts)"),
            );
            return None;
        }
        let Some(shape) = l.shape.broadcast(&r.shape) else {
            let (ls, rs) = (self.show(&l.shape), self.show(&r.shape));
            self.error(
                Diagnostic::error(format!("cannot broadcast `{ls}` with `{rs}` in `{}`", c.op.symbol()))
                    .at(c.lhs.span.to(c.rhs.span), "the two sides do not match")
                    .also(l.span, format!("this is `{ls}`"))
                    .also(r.span, format!("this is `{rs}`")),
            );
            return None;
        };
        Some(Constraint {
            name: c.name.as_ref().map(|n| n.name.clone()),
            lhs: l,
            op: c.op,
            rhs: r,
            shape,
            span: c.span,
            origin: ConstraintOrigin::User,
        })
    }

    fn solve(&mut self, method: &ast::Ident, options: &[ast::KwArg], span: Span) -> Option<Named> {
        let Some(m) = methods::lookup(&method.name) else {
            let names: Vec<&str> = methods::METHODS.iter().map(|m| m.name).collect();
            self.error(
                Diagnostic::error(format!("unknown solve method `{}`", method.name))
                    .at(method.span, "not a method")
                    .help(format!("the methods are `{}`", names.join("`, `"))),
            );
            return None;
        };
        let mut out = IterOptions::default();
        for (i, o) in options.iter().enumerate() {
            if let Some(first) = options[..i].iter().find(|p| p.name.name == o.name.name) {
                self.error(
                    Diagnostic::error(format!("option `{}` is given twice", o.name.name))
                        .at(o.name.span, "again here")
                        .also(first.name.span, "first here")
                        .help("give each option once"),
                );
                continue;
            }
            let Some(&(key, _, integer)) = m.options.iter().find(|(k, _, _)| *k == o.name.name) else {
                let help = if m.options.is_empty() {
                    format!("`{}` takes no options", m.name)
                } else {
                    let ks: Vec<&str> = m.options.iter().map(|(k, _, _)| *k).collect();
                    format!("`{}` takes `{}`", m.name, ks.join("`, `"))
                };
                self.error(
                    Diagnostic::error(format!("`{}` has no option `{}`", m.name, o.name.name))
                        .at(o.name.span, "unknown option")
                        .help(help),
                );
                continue;
            };
            let v = self.lowerer().lower(&o.value).as_ref().and_then(fold);
            match (key, v) {
                ("tol", Some(v)) if v > 0.0 => out.tol = Some(v),
                // A saturating conversion: `max_iter = 1e30` is "no limit".
                ("max_iter", Some(v)) if v > 0.0 && v.fract() == 0.0 => out.max_iter = Some(v as u64),
                _ => {
                    let what = if integer { "a positive integer" } else { "a positive number" };
                    self.error(
                        Diagnostic::error(format!("option `{}` must be {what}", o.name.name)).at(o.value.span, "here"),
                    );
                }
            }
        }
        Some(Named { kind: m.kind, options: out, name: method.span, span })
    }

    fn init(&mut self, name: &ast::Ident, value: &ast::Expr, earlier: &[Init]) -> Option<Init> {
        let var = match self.names.get(&name.name) {
            Some(Binding::Var(v, _)) => *v,
            Some(_) => {
                self.error(
                    Diagnostic::error(format!("`{}` is not a variable", name.name))
                        .at(name.span, "only outputs and `var`s have starting points"),
                );
                return None;
            }
            None => {
                self.error(Diagnostic::error(format!("unknown name `{}`", name.name)).at(name.span, "not defined"));
                return None;
            }
        };
        if earlier.iter().any(|i| i.var == var) {
            self.error(Diagnostic::error(format!("`{}` has two `init`s", name.name)).at(name.span, "second one"));
            return None;
        }
        let v = self.lowerer().lower(value)?;
        if !v.is_data() {
            self.error(
                Diagnostic::error("a starting point must not depend on the variables")
                    .at(v.span, "depends on an optimisation variable")
                    .help("write it in terms of the parameters"),
            );
            return None;
        }
        let want = self.vars[var.0 as usize].shape.clone();
        if v.shape.broadcast(&want).as_ref() != Some(&want) {
            let (a, b) = (self.show(&v.shape), self.show(&want));
            self.error(
                Diagnostic::error(format!("`init {}` has shape `{a}`, but `{}` is `{b}`", name.name, name.name))
                    .at(v.span, format!("this is `{a}`")),
            );
            return None;
        }
        Some(Init { var, value: v })
    }

    /// `nonneg`/`pos` variables get `x >= 0`; `sym` variables `X == X.T`;
    /// `psd` variables `X == X.T` and `X >> 0`.
    fn type_constraints(&self, constraints: &mut Vec<Constraint>) {
        for (i, v) in self.vars.iter().enumerate() {
            let id = VarId(i as u32);
            let x = Expr { kind: ExprKind::Var(id), shape: v.shape.clone(), span: v.span };
            let symmetric =
                Expr { kind: ExprKind::Transpose(Box::new(x.clone())), shape: v.shape.transpose(), span: v.span };
            let zero = Expr { kind: ExprKind::Const(0.0), shape: Shape::scalar(), span: v.span };
            let ops = match v.base {
                BaseType::Nonneg | BaseType::Pos => vec![(CmpOp::Ge, zero)],
                BaseType::Sym => vec![(CmpOp::Eq, symmetric)],
                BaseType::Psd => vec![(CmpOp::Eq, symmetric), (CmpOp::PsdGe, zero)],
                BaseType::Real => continue,
            };
            for (op, rhs) in ops {
                constraints.push(Constraint {
                    name: None,
                    lhs: x.clone(),
                    op,
                    rhs,
                    shape: v.shape.clone(),
                    span: v.span,
                    origin: ConstraintOrigin::VarType(id),
                });
            }
        }
    }
}

/// Whether the node's family has a forward by `method` ([`SolveMethod::misfit`]),
/// else the diagnostic at the method's name.
fn method_fits(method: &SolveMethod, family: Family, at: Span) -> Result<(), Diagnostic> {
    match method.misfit(family) {
        None => Ok(()),
        Some(m) => {
            Err(Diagnostic::error(m.message()).at(at, format!("not a method for {} nodes", m.family)).help(m.help()))
        }
    }
}

/// `solve using NAME(options)` with its name resolved and options typed; the
/// structure a specialised method needs is recognised once the body is known.
struct Named {
    kind: Kind,
    options: IterOptions,
    /// The method's name in the source.
    name: Span,
    /// The whole clause.
    span: Span,
}

impl Named {
    fn resolve(self, parts: &classify::Parts) -> Result<SolveSpec, Diagnostic> {
        let method = match self.kind {
            Kind::Ipm => SolveMethod::Ipm(self.options),
            Kind::Newton => SolveMethod::Newton(self.options),
            Kind::Sqp => SolveMethod::Sqp(self.options),
            Kind::Sinkhorn => SolveMethod::Sinkhorn(self.options, recognise::transport(parts, self.name)?),
            Kind::Eigh => SolveMethod::Eigh(recognise::eigen(parts, self.name)?),
        };
        Ok(SolveSpec { method, span: self.span })
    }
}
