//! A checked node ([`crate::ir::Node`]) and its symbolic derivation
//! ([`crate::symbolic::Derived`]) as Rust constructors, so that a generated
//! module holds the node as data built at compile time: nothing is parsed,
//! checked or derived when it runs.
//!
//! Expressions are written bottom-up, one `let eN = expr(kind, shape, span);`
//! per expression node (children before parents, each moved into its one
//! parent), which keeps the emitted text flat however deep the tree.

use std::fmt::{self, Write};

use super::kernels::{float, sels, shape, span};
use crate::ir::{Arith, ConstraintOrigin, Expr, ExprKind, IterOptions, Node, Output, Shape, SolveMethod, Weight};
use crate::symbolic::{Derived, Simplified, SymRole};

/// Writes the `let`s of expressions into `out`, numbering them across one function.
struct Lets<'a> {
    out: &'a mut String,
    node: &'a Node,
    next: usize,
}

impl Lets<'_> {
    /// The `let`s of `e`'s tree; returns the name bound to `e`.
    fn expr(&mut self, e: &Expr) -> Result<String, fmt::Error> {
        let boxed = |name: String| format!("Box::new({name})");
        let kind = match &e.kind {
            ExprKind::Const(c) => format!("ExprKind::Const({})", float(*c)),
            ExprKind::Dim(d) => format!("ExprKind::Dim(DimId({}))", d.0),
            ExprKind::Param(p) => format!("ExprKind::Param(ParamId({}))", p.0),
            ExprKind::Var(v) => format!("ExprKind::Var(VarId({}))", v.0),
            ExprKind::Sym { id, name } => format!("ExprKind::Sym {{ id: SymId({}), name: {name:?}.into() }}", id.0),
            ExprKind::Neg(a) => format!("ExprKind::Neg({})", boxed(self.expr(a)?)),
            ExprKind::Binary { op, lhs, rhs } => {
                let (l, r) = (self.expr(lhs)?, self.expr(rhs)?);
                format!("ExprKind::Binary {{ op: Arith::{}, lhs: {}, rhs: {} }}", arith(*op), boxed(l), boxed(r))
            }
            ExprKind::Pow { base, p } => {
                format!("ExprKind::Pow {{ base: {}, p: {} }}", boxed(self.expr(base)?), float(*p))
            }
            ExprKind::MatMul(a, b) => {
                let (a, b) = (self.expr(a)?, self.expr(b)?);
                format!("ExprKind::MatMul({}, {})", boxed(a), boxed(b))
            }
            ExprKind::Transpose(a) => format!("ExprKind::Transpose({})", boxed(self.expr(a)?)),
            ExprKind::Index { base, sel } => {
                format!("ExprKind::Index {{ base: {}, sel: {} }}", boxed(self.expr(base)?), sels(sel))
            }
            ExprKind::Atom { atom, args, axis } => {
                let args = args.iter().map(|a| self.expr(a)).collect::<Result<Vec<_>, _>>()?;
                format!("ExprKind::Atom {{ atom: Atom::{atom:?}, args: {}, axis: {axis:?} }}", list(&args))
            }
        };
        let name = format!("e{}", self.next);
        self.next += 1;
        writeln!(self.out, "let {name} = expr({kind}, {}, {});", shape_of(&e.shape, self.node), span(e.span))?;
        Ok(name)
    }

    /// A `solve using` method's constructor, its recognised data expressions
    /// as `let`s.
    fn method(&mut self, m: &SolveMethod) -> Result<String, fmt::Error> {
        let options = |o: &IterOptions| {
            format!("IterOptions {{ tol: {}, max_iter: {:?} }}", option(&o.tol, |t| float(*t)), o.max_iter)
        };
        Ok(match m {
            SolveMethod::Ipm(o) => format!("SolveMethod::Ipm({})", options(o)),
            SolveMethod::Newton(o) => format!("SolveMethod::Newton({})", options(o)),
            SolveMethod::Sqp(o) => format!("SolveMethod::Sqp({})", options(o)),
            SolveMethod::Sinkhorn(o, t) => {
                let eps = match &t.eps {
                    Weight::Times(k) => format!("Weight::Times({})", self.expr(k)?),
                    Weight::Over(k) => format!("Weight::Over({})", self.expr(k)?),
                };
                let (cost, rows, cols) = (self.expr(&t.cost)?, self.expr(&t.rows)?, self.expr(&t.cols)?);
                format!(
                    "SolveMethod::Sinkhorn({}, Transport {{ cost: {cost}, eps: {eps}, rows: {rows}, cols: {cols} }})",
                    options(o)
                )
            }
            SolveMethod::Eigh(e) => {
                let x = self.expr(&e.x)?;
                format!("SolveMethod::Eigh(Eigen {{ x: {x}, full: {}, largest: {} }})", e.full, e.largest)
            }
        })
    }

    fn simplified(&mut self, s: &Simplified) -> Result<String, fmt::Error> {
        let e = self.expr(&s.expr)?;
        let stop = match &s.stop {
            egg::StopReason::Saturated => "StopReason::Saturated".to_string(),
            egg::StopReason::IterationLimit(n) => format!("StopReason::IterationLimit({n})"),
            egg::StopReason::NodeLimit(n) => format!("StopReason::NodeLimit({n})"),
            egg::StopReason::TimeLimit(t) => format!("StopReason::TimeLimit({})", float(*t)),
            egg::StopReason::Other(why) => format!("StopReason::Other({why:?}.into())"),
        };
        Ok(format!("Simplified {{ expr: {e}, stop: {stop}, iterations: {} }}", s.iterations))
    }

    fn all(&mut self, of: &[Simplified]) -> Result<String, fmt::Error> {
        let items = of.iter().map(|s| self.simplified(s)).collect::<Result<Vec<_>, _>>()?;
        Ok(list(&items))
    }
}

fn arith(a: Arith) -> &'static str {
    match a {
        Arith::Add => "Add",
        Arith::Sub => "Sub",
        Arith::Mul => "Mul",
        Arith::Div => "Div",
    }
}

/// A [`Shape`] constructor: `shape(&[dim::n, Fixed(2)])`.
fn shape_of(s: &Shape, node: &Node) -> String {
    format!("shape({})", shape(s, node))
}

/// A `Vec` of the items' constructors (`Vec::from([..])` rather than `vec![..]`,
/// which prettyplease lays out as a token stream).
pub(super) fn list(items: &[String]) -> String {
    if items.is_empty() {
        "Vec::new()".into()
    } else {
        format!("Vec::from([{}])", items.join(", "))
    }
}

fn string(s: &str) -> String {
    format!("{s:?}.into()")
}

fn strings(items: &[String]) -> String {
    list(&items.iter().map(|s| string(s)).collect::<Vec<_>>())
}

fn option<T>(v: &Option<T>, f: impl Fn(&T) -> String) -> String {
    v.as_ref().map_or_else(|| "None".to_string(), |v| format!("Some({})", f(v)))
}

/// `pub fn node()`: the checked node, built once from constructors, and
/// `pub fn analysed()`: the node with its analysis, holding the derivation
/// when it has one (a smooth node solved through its derived expressions), so
/// that the runtime never derives it again.
pub fn emit(out: &mut String, node: &Node, derived: Option<&Derived>) -> fmt::Result {
    writeln!(out, "/// The checked node, built from constructors on first use (nothing is parsed or checked).")?;
    writeln!(out, "pub fn node() -> &'static Node {{")?;
    writeln!(out, "analysed().node")?;
    writeln!(out, "}}")?;
    writeln!(out, "/// The checked node with its analysis (a smooth node's derivation, made at build time).")?;
    writeln!(out, "pub fn analysed() -> Analysed<'static> {{")?;
    writeln!(out, "static NODE: std::sync::OnceLock<(Node, Analysis)> = std::sync::OnceLock::new();")?;
    writeln!(out, "let (node, analysis) = NODE.get_or_init(checked);")?;
    writeln!(out, "Analysed::new(node, analysis)")?;
    writeln!(out, "}}")?;
    writeln!(out, "fn checked() -> (Node, Analysis) {{")?;
    let mut lets = Lets { out, node, next: 0 };
    let objective = lets.expr(&node.objective.expr)?;
    let mut constraints = Vec::new();
    for c in &node.constraints {
        let (l, r) = (lets.expr(&c.lhs)?, lets.expr(&c.rhs)?);
        let origin = match c.origin {
            ConstraintOrigin::User => "ConstraintOrigin::User".to_string(),
            ConstraintOrigin::VarType(v) => format!("ConstraintOrigin::VarType(VarId({}))", v.0),
        };
        constraints.push(format!(
            "Constraint {{ name: {}, lhs: {l}, op: CmpOp::{:?}, rhs: {r}, shape: {}, span: {}, origin: {origin} }}",
            option(&c.name, |n| string(n)),
            c.op,
            shape_of(&c.shape, node),
            span(c.span)
        ));
    }
    let mut inits = Vec::new();
    for i in &node.inits {
        inits.push(format!("Init {{ var: VarId({}), value: {} }}", i.var.0, lets.expr(&i.value)?));
    }
    let analysis = match derived {
        Some(d) => format!("Analysis::with_derivation({})", derivation(&mut lets, d)?),
        None => "Analysis::default()".to_string(),
    };
    let dims: Vec<String> = node
        .dims
        .iter()
        .map(|d| {
            let bound_by = option(&d.bound_by, |(p, axis)| format!("(ParamId({}), {axis})", p.0));
            format!("DimInfo {{ name: {}, span: {}, bound_by: {bound_by} }}", string(&d.name), span(d.span))
        })
        .collect();
    let params: Vec<String> = node
        .params
        .iter()
        .map(|p| {
            let (name, shape) = (string(&p.name), shape_of(&p.shape, node));
            format!("Param {{ name: {name}, base: BaseType::{:?}, shape: {shape}, span: {} }}", p.base, span(p.span))
        })
        .collect();
    let vars: Vec<String> = node
        .vars
        .iter()
        .map(|v| {
            let (name, shape) = (string(&v.name), shape_of(&v.shape, node));
            format!(
                "Var {{ name: {name}, base: BaseType::{:?}, shape: {shape}, span: {}, is_output: {} }}",
                v.base,
                span(v.span),
                v.is_output
            )
        })
        .collect();
    let outputs: Vec<String> = node
        .outputs
        .iter()
        .map(|o| match o {
            Output::Var(v) => format!("Output::Var(VarId({}))", v.0),
            Output::Dual(c) => format!("Output::Dual({c})"),
        })
        .collect();
    let solve = match &node.solve {
        Some(s) => format!("Some(SolveSpec {{ method: {}, span: {} }})", lets.method(&s.method)?, span(s.span)),
        None => "None".to_string(),
    };
    let class = &node.class;
    let class = format!(
        "Classification {{ family: Family::{:?}, convex: {}, reason: {}, notes: {}, culprit: {} }}",
        class.family,
        class.convex,
        string(&class.reason),
        strings(&class.notes),
        option(&class.culprit, |s| span(*s))
    );
    let out = lets.out;
    writeln!(out, "let node = Node {{")?;
    writeln!(out, "name: {},", string(&node.name))?;
    writeln!(out, "span: {},", span(node.span))?;
    writeln!(out, "dims: {},", list(&dims))?;
    writeln!(out, "params: {},", list(&params))?;
    writeln!(out, "vars: {},", list(&vars))?;
    writeln!(out, "outputs: {},", list(&outputs))?;
    writeln!(
        out,
        "objective: Objective {{ sense: Sense::{:?}, expr: {objective}, span: {} }},",
        node.objective.sense,
        span(node.objective.span)
    )?;
    writeln!(out, "constraints: {},", list(&constraints))?;
    writeln!(out, "solve: {solve},")?;
    writeln!(out, "inits: {},", list(&inits))?;
    writeln!(out, "class: {class},")?;
    writeln!(out, "}};")?;
    writeln!(out, "(node, {analysis})")?;
    writeln!(out, "}}")
}

/// The `let`s of a derivation's expressions and its constructor.
fn derivation(lets: &mut Lets, d: &Derived) -> Result<String, fmt::Error> {
    let node = lets.node;
    let syms: Vec<String> = d
        .syms
        .iter()
        .map(|s| {
            let role = match s.role {
                SymRole::Nu(k) => format!("SymRole::Nu({k})"),
                SymRole::Lambda(k) => format!("SymRole::Lambda({k})"),
                SymRole::Direction(v) => format!("SymRole::Direction(VarId({}))", v.0),
                SymRole::W(v) => format!("SymRole::W(VarId({}))", v.0),
                SymRole::A(k) => format!("SymRole::A({k})"),
                SymRole::B(k) => format!("SymRole::B({k})"),
            };
            format!("SymInfo {{ name: {}, shape: {}, role: {role} }}", string(&s.name), shape_of(&s.shape, node))
        })
        .collect();
    let f = lets.expr(&d.f)?;
    let grad_f = lets.all(&d.grad_f)?;
    let grad_l = lets.all(&d.grad_l)?;
    let hvp_l = lets.all(&d.hvp_l)?;
    let hess_l = match &d.hess_l {
        Some(h) => format!("Some({})", lets.all(h)?),
        None => "None".into(),
    };
    let mut normalised = |of: &[crate::symbolic::Normalised]| -> Result<String, fmt::Error> {
        let mut items = Vec::new();
        for c in of {
            let value = lets.simplified(&c.value)?;
            let jt = lets.all(&c.jt)?;
            items.push(format!(
                "Normalised {{ index: {}, label: {}, value: {value}, jt: {jt} }}",
                c.index,
                string(&c.label)
            ));
        }
        Ok(list(&items))
    };
    let eqs = normalised(&d.eqs)?;
    let ineqs = normalised(&d.ineqs)?;
    let mixed = lets.all(&d.mixed)?;
    Ok(format!(
        "Derived {{ syms: {}, f: {f}, grad_f: {grad_f}, grad_l: {grad_l}, hvp_l: {hvp_l}, hess_l: {hess_l}, \
         eqs: {eqs}, ineqs: {ineqs}, mixed: {mixed} }}",
        list(&syms)
    ))
}
