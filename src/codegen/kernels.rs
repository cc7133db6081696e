//! A node's kernels ([`crate::kernel`]) as straight-line Rust: one function
//! per kernel program, one `let tN = step(...)?;` per program step, and a unit
//! struct `Kernels` that dispatches on [`KernelId`].
//!
//! Each step is the interpreter's step: [`super::runtime::step`] calls
//! [`crate::eval::apply`] with the step's `Op`, shape and span written out as
//! Rust constructors, so the emitted kernels agree with [`Tape::run`] bit
//! for bit. A value is moved into its last reader and cloned before
//! ([`Tape::moves`], the interpreter's rule); outputs are moved into the
//! result at the end. A kernel that is an alias of another
//! ([`KernelSet::aliases`]) dispatches to the other's function.

use std::fmt::Write;

use crate::diag::Span;
use crate::eval::Op;
use crate::ir::{Arith, Dim, Node, Sel, Shape};
use crate::kernel::{KernelId, KernelSet, Slot, Tape};

/// The emitted function name of kernel `id`: `k_hvp`, `k_eq_jt_0`.
fn fn_name(id: KernelId) -> String {
    match id {
        KernelId::Objective => "k_objective".into(),
        KernelId::Gradient => "k_gradient".into(),
        KernelId::LagrangianGradient => "k_lagrangian_gradient".into(),
        KernelId::Hvp => "k_hvp".into(),
        KernelId::Hessian => "k_hessian".into(),
        KernelId::Eq => "k_eq".into(),
        KernelId::Ineq => "k_ineq".into(),
        KernelId::EqJt(k) => format!("k_eq_jt_{k}"),
        KernelId::IneqJt(k) => format!("k_ineq_jt_{k}"),
        KernelId::Mixed => "k_mixed".into(),
        KernelId::Init => "k_init".into(),
        KernelId::Data => "k_data".into(),
    }
}

/// `id` as a Rust pattern.
fn pattern(id: KernelId) -> String {
    match id {
        KernelId::EqJt(k) => format!("KernelId::EqJt({k})"),
        KernelId::IneqJt(k) => format!("KernelId::IneqJt({k})"),
        other => format!("KernelId::{other:?}"),
    }
}

/// An `f64` as a Rust expression that evaluates to the same bits.
pub(super) fn float(x: f64) -> String {
    if x.is_nan() {
        "f64::NAN".into()
    } else if x.is_infinite() {
        if x > 0.0 { "f64::INFINITY" } else { "f64::NEG_INFINITY" }.into()
    } else {
        // `Debug` prints the shortest text that reads back as the same `f64`.
        format!("{x:?}")
    }
}

/// `op` as a Rust constructor (the module imports `ddn::codegen::runtime::prelude`).
fn op(op: &Op) -> String {
    match op {
        Op::Const(c) => format!("Op::Const({})", float(*c)),
        Op::Dim(d) => format!("Op::Dim(DimId({}))", d.0),
        Op::Param(p) => format!("Op::Param(ParamId({}))", p.0),
        Op::Var(v) => format!("Op::Var(VarId({}))", v.0),
        Op::Sym { id, name } => format!("Op::Sym {{ id: SymId({}), name: {name:?}.into() }}", id.0),
        Op::Neg => "Op::Neg".into(),
        Op::Binary(a) => format!(
            "Op::Binary(Arith::{})",
            match a {
                Arith::Add => "Add",
                Arith::Sub => "Sub",
                Arith::Mul => "Mul",
                Arith::Div => "Div",
            }
        ),
        Op::Pow(p) => format!("Op::Pow({})", float(*p)),
        Op::MatMul => "Op::MatMul".into(),
        Op::Transpose => "Op::Transpose".into(),
        Op::Index(sel) => format!("Op::Index({})", sels(sel)),
        Op::Atom { atom, axis } => format!("Op::Atom {{ atom: Atom::{atom:?}, axis: {axis:?} }}"),
    }
}

/// An index's selections as a `Vec` constructor.
pub(super) fn sels(sel: &[Sel]) -> String {
    let sel: Vec<String> = sel
        .iter()
        .map(|s| match s {
            Sel::At(i) => format!("Sel::At({i})"),
            Sel::Range { start, end } => format!("Sel::Range {{ start: {start}, end: {end:?} }}"),
        })
        .collect();
    format!("vec![{}]", sel.join(", "))
}

/// A shape as a slice of dimensions, named ones by their constants in the
/// module's `dim` (see [`dims`]): `&[dim::n, Fixed(1)]`.
pub(super) fn shape(s: &Shape, node: &Node) -> String {
    let dims: Vec<String> =
        s.0.iter()
            .map(|d| match d {
                Dim::Fixed(v) => format!("Fixed({v})"),
                Dim::Named(id) => format!("dim::{}", super::ident(&node.dims[id.0 as usize].name)),
            })
            .collect();
    format!("&[{}]", dims.join(", "))
}

/// `mod dim`: a constant per dimension name of the node, so that a shape
/// reads as in the source (`&[dim::m, dim::n]`) in the kernels and the node.
fn dims(out: &mut String, node: &Node) -> std::fmt::Result {
    if node.dims.is_empty() {
        return Ok(());
    }
    writeln!(out, "/// The node's dimension names, as the kernels' and the node's shapes spell them.")?;
    writeln!(out, "#[allow(non_upper_case_globals, dead_code)]")?;
    writeln!(out, "mod dim {{")?;
    writeln!(out, "use ddn::ir::{{Dim, DimId}};")?;
    for (k, d) in node.dims.iter().enumerate() {
        writeln!(out, "pub const {}: Dim = Dim::Named(DimId({k}));", super::ident(&d.name))?;
    }
    writeln!(out, "}}")
}

pub(super) fn span(s: Span) -> String {
    format!("span({}, {}, {})", s.file.0, s.start, s.end)
}

/// A read of step `slot`'s value: moved when nothing reads it afterwards,
/// cloned otherwise.
fn read(slot: Slot, read_again: bool) -> String {
    if read_again {
        format!("t{}.clone()", slot.0)
    } else {
        format!("t{}", slot.0)
    }
}

/// The body of one kernel: a `let` per step, then the outputs (which are read
/// at the end, so a step never moves them).
fn body(out: &mut String, node: &Node, program: &Tape) -> std::fmt::Result {
    let (moves, output_moves) = program.moves();
    for (k, (s, moves)) in program.steps.iter().zip(&moves).enumerate() {
        let args: Vec<String> = s.args.iter().zip(moves).map(|(a, &m)| read(*a, !m)).collect();
        writeln!(
            out,
            "let t{k} = step({}, vec![{}], {}, {}, env)?;",
            op(&s.op),
            args.join(", "),
            shape(&s.shape, node),
            span(s.span)
        )?;
    }
    let outputs: Vec<String> = program.outputs.iter().zip(output_moves).map(|(o, m)| read(*o, !m)).collect();
    writeln!(out, "Ok(vec![{}])", outputs.join(", "))
}

/// The kernels `set` of `node`: a function per non-empty kernel program and
/// the `Kernels` struct (an empty kernel returns no outputs without a function).
pub fn emit(out: &mut String, node: &Node, set: &KernelSet) -> std::fmt::Result {
    dims(out, node)?;
    writeln!(out, "/// The node's kernels, compiled: the runtime's solvers and backward pass call these.")?;
    writeln!(out, "pub struct Kernels;")?;
    writeln!(out, "impl ddn::kernel::Kernels for Kernels {{")?;
    writeln!(out, "fn run(&self, id: KernelId, env: &Env) -> Result<Vec<Tensor>, EvalError> {{")?;
    writeln!(out, "match id {{")?;
    let arms =
        set.kernels.iter().map(|k| (k.id, k)).chain(set.aliases.iter().filter_map(|(a, _)| Some((*a, set.get(*a)?))));
    for (id, k) in arms {
        if k.program.steps.is_empty() {
            writeln!(out, "{} => Ok(Vec::new()),", pattern(id))?;
        } else {
            writeln!(out, "{} => {}(env),", pattern(id), fn_name(k.id))?;
        }
    }
    writeln!(out, "_ => Err(no_kernel(id)),")?;
    writeln!(out, "}}")?;
    writeln!(out, "}}")?;
    writeln!(out, "}}")?;
    for k in set.kernels.iter().filter(|k| !k.program.steps.is_empty()) {
        writeln!(out, "/// Kernel `{:?}`.", k.id)?;
        writeln!(out, "fn {}(env: &Env) -> Result<Vec<Tensor>, EvalError> {{", fn_name(k.id))?;
        body(out, node, &k.program)?;
        writeln!(out, "}}")?;
    }
    Ok(())
}
