//! A conic node's recorded standard form ([`crate::canon::Recorded`]) for one
//! set of dimension sizes, emitted at build time: the recording as data
//! (leaf blocks, steps, guards, block products, where each value goes in
//! (P, q, A, b) or (M, d), the layout), and the refill program and its
//! adjoint as straight-line Rust over the [`Scratch`] buffers.
//!
//! `replay_N` performs [`Refill::replay`]'s operations on the same operands in
//! the same order — the leaves copied a block at a time (data checked finite),
//! one assignment per step, the block products through
//! [`Refill::replay_gram`], then every guard — so its values, and which miss it
//! reports, are the interpreted replay's bit for bit; `adjoint_N` is
//! [`Refill::adjoint`]'s reverse sweep written out the same way (a step whose
//! adjoint is zero is skipped, as there). A generated module builds its
//! [`crate::runtime::Prepared`] nodes from these: nothing is recorded at run
//! time for the sizes emitted, and a guard that fails falls back as a
//! recording made at run time does.
//!
//! [`Refill::replay`]: crate::canon::Refill::replay
//! [`Refill::adjoint`]: crate::canon::Refill::adjoint
//! [`Refill::replay_gram`]: crate::canon::Refill::replay_gram
//! [`Scratch`]: crate::canon::Scratch

use std::fmt::{self, Write};

use super::ir::list;
use super::kernels::float;
use crate::canon::{Recorded, RecordedForm, Source, Step, Test, Value};
use crate::solve::ConeBlock;

fn source(s: Source) -> String {
    match s {
        Source::Param { param, index } => format!("Source::Param {{ param: {param}, index: {index} }}"),
        Source::Data { output, index } => format!("Source::Data {{ output: {output}, index: {index} }}"),
    }
}

fn value(v: Value) -> String {
    match v {
        Value::Const(c) => format!("Value::Const({})", float(c)),
        Value::Step(s) => format!("Value::Step({s})"),
    }
}

fn step(s: &Step) -> String {
    let c = |x: f64| float(x);
    match *s {
        Step::Leaf(src) => format!("Step::Leaf({})", source(src)),
        Step::Add(a, b) => format!("Step::Add({a}, {b})"),
        Step::Sub(a, b) => format!("Step::Sub({a}, {b})"),
        Step::Mul(a, b) => format!("Step::Mul({a}, {b})"),
        Step::Div(a, b) => format!("Step::Div({a}, {b})"),
        Step::AddC(a, x) => format!("Step::AddC({a}, {})", c(x)),
        Step::SubC(a, x) => format!("Step::SubC({a}, {})", c(x)),
        Step::CSub(x, a) => format!("Step::CSub({}, {a})", c(x)),
        Step::MulC(a, x) => format!("Step::MulC({a}, {})", c(x)),
        Step::DivC(a, x) => format!("Step::DivC({a}, {})", c(x)),
        Step::CDiv(x, a) => format!("Step::CDiv({}, {a})", c(x)),
        Step::Gram(g) => format!("Step::Gram({g})"),
        Step::Root(r) => format!("Step::Root({r})"),
        Step::Part => "Step::Part".into(),
    }
}

fn test(t: Test) -> String {
    format!("Test::{t:?}")
}

/// `static NAME: &[T] = &[...];` for a table of the recording.
fn table<T>(out: &mut String, name: &str, ty: &str, items: &[T], f: impl Fn(&T) -> String) -> fmt::Result {
    let items: Vec<String> = items.iter().map(f).collect();
    writeln!(out, "static {name}: &[{ty}] = &[{}];", items.join(", "))
}

fn entry_values(e: &(usize, usize, Value)) -> String {
    format!("({}, {}, {})", e.0, e.1, value(e.2))
}

/// The recording `r` for sizes number `k`: `fn recorded_k()`, its tables, and
/// the straight-line `replay_k` and `adjoint_k`.
pub fn emit(out: &mut String, k: usize, dims: &[usize], r: &Recorded) -> fmt::Result {
    let refill = &r.refill;
    let ops = &refill.steps[refill.leaves..];
    table(out, &format!("OPS_{k}"), "Step", ops, step)?;
    let form = match &r.form {
        RecordedForm::Cone { program, p, q, a, b, c0 } => {
            let triplet = |e: &(usize, usize, f64)| format!("({}, {}, {})", e.0, e.1, float(e.2));
            table(out, &format!("P_{k}"), "(usize, usize, f64)", &program.p.entries, triplet)?;
            table(out, &format!("A_{k}"), "(usize, usize, f64)", &program.a.entries, triplet)?;
            table(out, &format!("Q_{k}"), "f64", &program.q, |x| float(*x))?;
            table(out, &format!("B_{k}"), "f64", &program.b, |x| float(*x))?;
            for (name, values) in [("P", p), ("Q", q), ("A", a), ("B", b)] {
                table(out, &format!("{name}_VALUES_{k}"), "Value", values, |v| value(*v))?;
            }
            let cones: Vec<String> = program
                .cones
                .iter()
                .map(|c| match c {
                    ConeBlock::Zero(n) => format!("ConeBlock::Zero({n})"),
                    ConeBlock::Nonneg(n) => format!("ConeBlock::Nonneg({n})"),
                    ConeBlock::SecondOrder(n) => format!("ConeBlock::SecondOrder({n})"),
                    ConeBlock::Exponential => "ConeBlock::Exponential".to_string(),
                    ConeBlock::Psd(n) => format!("ConeBlock::Psd({n})"),
                })
                .collect();
            format!(
                "RecordedForm::Cone {{ program: ConeProgram {{ \
                 p: Triplets {{ nrows: {}, ncols: {}, entries: P_{k}.to_vec() }}, q: Q_{k}.to_vec(), \
                 a: Triplets {{ nrows: {}, ncols: {}, entries: A_{k}.to_vec() }}, b: B_{k}.to_vec(), \
                 cones: {}, c0: {} }}, \
                 p: P_VALUES_{k}.to_vec(), q: Q_VALUES_{k}.to_vec(), a: A_VALUES_{k}.to_vec(), \
                 b: B_VALUES_{k}.to_vec(), c0: {} }}",
                program.p.nrows,
                program.p.ncols,
                program.a.nrows,
                program.a.ncols,
                list(&cones),
                float(program.c0),
                value(*c0)
            )
        }
        RecordedForm::LeastSquares { rows, cols, m, d, dense } => {
            table(out, &format!("M_{k}"), "(usize, usize, Value)", m, entry_values)?;
            table(out, &format!("D_{k}"), "Value", d, |v| value(*v))?;
            format!(
                "RecordedForm::LeastSquares {{ rows: {rows}, cols: {cols}, m: M_{k}.to_vec(), d: D_{k}.to_vec(), \
                 dense: {dense:?} }}"
            )
        }
    };
    for (g, gram) in refill.grams.iter().enumerate() {
        table(out, &format!("GRAM_M_{k}_{g}"), "(usize, usize, Value)", &gram.m, entry_values)?;
        table(out, &format!("GRAM_W_{k}_{g}"), "(usize, usize, Value)", &gram.w, entry_values)?;
    }
    for (r, root) in refill.roots.iter().enumerate() {
        table(out, &format!("ROOT_Q_{k}_{r}"), "Value", &root.q, |v| value(*v))?;
    }
    let roots: Vec<String> = (0..refill.roots.len())
        .map(|r| format!("Root {{ n: {}, q: ROOT_Q_{k}_{r}.to_vec() }}", refill.roots[r].n))
        .collect();
    let blocks: Vec<String> = refill
        .blocks
        .iter()
        .map(|b| format!("Block {{ first: {}, len: {}, source: {} }}", b.first, b.len, source(b.source)))
        .collect();
    let guards: Vec<String> = refill
        .guards
        .iter()
        .map(|g| {
            let steps: Vec<String> = g.steps.iter().map(|s| s.to_string()).collect();
            format!(
                "Guard {{ any: {}, test: {}, steps: {}, outcome: {} }}",
                g.any,
                test(g.test),
                list(&steps),
                g.outcome
            )
        })
        .collect();
    let grams: Vec<String> = (refill.grams.iter().enumerate())
        .map(|(g, gram)| {
            format!(
                "Gram {{ rows: {}, k: {}, m: GRAM_M_{k}_{g}.to_vec(), w: GRAM_W_{k}_{g}.to_vec() }}",
                gram.rows, gram.k
            )
        })
        .collect();
    let var_cols: Vec<String> = r.layout.var_cols.iter().map(|(c, s)| format!("({c}, Vec::from({s:?}))")).collect();
    let rows: Vec<String> = (r.layout.constraint_rows.iter())
        .map(|(rr, s)| format!("(RowRange {{ start: {}, len: {} }}, Vec::from({s:?}))", rr.start, rr.len))
        .collect();
    let log: Vec<String> = r.log.iter().map(|l| format!("{l:?}.into()")).collect();
    writeln!(out, "/// The standard form recorded by `ddnc build` at dimension sizes {dims:?}.")?;
    writeln!(out, "fn recorded_{k}() -> Recorded {{")?;
    writeln!(out, "Recorded {{")?;
    writeln!(
        out,
        "refill: Refill::from_parts({}, OPS_{k}, {}, {}, {}),",
        list(&blocks),
        list(&guards),
        list(&grams),
        list(&roots)
    )?;
    writeln!(out, "form: {form},")?;
    writeln!(out, "layout: Layout {{ var_cols: {}, constraint_rows: {} }},", list(&var_cols), list(&rows))?;
    writeln!(out, "log: {},", list(&log))?;
    writeln!(out, "compiled: Some(CompiledRefill {{ replay: replay_{k}, adjoint: adjoint_{k} }}),")?;
    writeln!(out, "}}")?;
    writeln!(out, "}}")?;
    replay(out, k, r)?;
    adjoint(out, k, r)
}

/// `replay_k`: the leaves, the steps, the guards.
fn replay(out: &mut String, k: usize, r: &Recorded) -> fmt::Result {
    let refill = &r.refill;
    let uses = |f: &dyn Fn(Source) -> bool| refill.blocks.iter().any(|b| f(b.source));
    let params = if uses(&|s| matches!(s, Source::Param { .. })) { "params" } else { "_params" };
    let data = if uses(&|s| matches!(s, Source::Data { .. })) { "data" } else { "_data" };
    let r_name = if refill.grams.is_empty() && refill.roots.is_empty() { "_r" } else { "r" };
    writeln!(out, "/// The refill at sizes number {k}, straight-line: `Refill::replay`'s operations in its order.")?;
    writeln!(
        out,
        "fn replay_{k}({r_name}: &Refill, {params}: &[&[f64]], {data}: &[&[f64]], s: &mut Scratch) -> Result<(), Miss> {{"
    )?;
    writeln!(out, "s.values.resize({}, 0.0);", refill.steps.len())?;
    for b in &refill.blocks {
        let (from, index) = match b.source {
            Source::Param { param, index } => (format!("params[{param}]"), index as usize),
            Source::Data { output, index } => (format!("data[{output}]"), index as usize),
        };
        let to = format!("s.values[{}..{}]", b.first, b.first + b.len);
        writeln!(out, "{to}.copy_from_slice(&{from}[{index}..{}]);", index + b.len)?;
        if matches!(b.source, Source::Data { .. }) {
            writeln!(out, "if !{to}.iter().all(|v| v.is_finite()) {{ return Err(Miss::NonFinite); }}")?;
        }
    }
    // Runs of scalar steps borrow the values; a block product takes the scratch.
    let mut open = false;
    for (k, s) in refill.steps.iter().enumerate().skip(refill.leaves) {
        let rhs = match *s {
            Step::Leaf(_) | Step::Part => continue,
            Step::Gram(_) | Step::Root(_) => {
                close(out, &mut open)?;
                writeln!(out, "{}", block_call(s, k, Sweep::Replay))?;
                continue;
            }
            Step::Add(a, b) => format!("v[{a}] + v[{b}]"),
            Step::Sub(a, b) => format!("v[{a}] - v[{b}]"),
            Step::Mul(a, b) => format!("v[{a}] * v[{b}]"),
            Step::Div(a, b) => format!("v[{a}] / v[{b}]"),
            Step::AddC(a, c) => format!("v[{a}] + {}", operand(c)),
            Step::SubC(a, c) => format!("v[{a}] - {}", operand(c)),
            Step::CSub(c, a) => format!("{} - v[{a}]", operand(c)),
            Step::MulC(a, c) => format!("v[{a}] * {}", operand(c)),
            Step::DivC(a, c) => format!("v[{a}] / {}", operand(c)),
            Step::CDiv(c, a) => format!("{} / v[{a}]", operand(c)),
        };
        if !open {
            writeln!(out, "{{ let v = &mut s.values;")?;
            open = true;
        }
        writeln!(out, "v[{k}] = {rhs};")?;
    }
    close(out, &mut open)?;
    if !refill.guards.is_empty() {
        writeln!(out, "let v = &s.values;")?;
    }
    for (g, guard) in refill.guards.iter().enumerate() {
        let operands: Vec<String> = guard.steps.iter().map(|s| format!("v[{s}]")).collect();
        let quantifier = if guard.any { "any" } else { "all" };
        let outcome = format!("[{}].iter().{quantifier}(|&x| {}.holds(x))", operands.join(", "), test(guard.test));
        let missed = if guard.outcome { format!("!{outcome}") } else { outcome };
        writeln!(out, "if {missed} {{ return Err(Miss::Guard({g})); }}")?;
    }
    writeln!(out, "Ok(())")?;
    writeln!(out, "}}")
}

/// `adjoint_k`: the reverse sweep, step by step from the last.
fn adjoint(out: &mut String, k: usize, r: &Recorded) -> fmt::Result {
    let refill = &r.refill;
    let r_name = if refill.grams.is_empty() && refill.roots.is_empty() { "_r" } else { "r" };
    writeln!(
        out,
        "/// The reverse sweep at sizes number {k}, straight-line: `Refill::adjoint`'s operations in its order."
    )?;
    // A run of additions reads no values.
    writeln!(out, "#[allow(unused_variables)]")?;
    writeln!(out, "fn adjoint_{k}({r_name}: &Refill, s: &mut Scratch) {{")?;
    let mut open = false;
    for (k, s) in refill.steps.iter().enumerate().skip(refill.leaves).rev() {
        let body = match *s {
            Step::Leaf(_) | Step::Part => continue,
            Step::Gram(_) | Step::Root(_) => {
                close(out, &mut open)?;
                writeln!(out, "{}", block_call(s, k, Sweep::Adjoint))?;
                continue;
            }
            Step::Add(x, y) => format!("adj[{x}] += a; adj[{y}] += a;"),
            Step::Sub(x, y) => format!("adj[{x}] += a; adj[{y}] -= a;"),
            Step::Mul(x, y) => format!("adj[{x}] += a * v[{y}]; adj[{y}] += a * v[{x}];"),
            Step::Div(x, y) => format!("adj[{x}] += a / v[{y}]; adj[{y}] -= a * v[{k}] / v[{y}];"),
            Step::AddC(x, _) | Step::SubC(x, _) => format!("adj[{x}] += a;"),
            Step::CSub(_, x) => format!("adj[{x}] -= a;"),
            Step::MulC(x, c) => format!("adj[{x}] += a * {};", operand(c)),
            Step::DivC(x, c) => format!("adj[{x}] += a / {};", operand(c)),
            Step::CDiv(_, x) => format!("adj[{x}] -= a * v[{k}] / v[{x}];"),
        };
        if !open {
            writeln!(out, "{{ let (v, adj) = (&s.values, &mut s.adj);")?;
            open = true;
        }
        writeln!(out, "let a = adj[{k}]; if a != 0.0 {{ {body} }}")?;
    }
    close(out, &mut open)?;
    writeln!(out, "}}")
}

#[derive(Clone, Copy)]
enum Sweep {
    Replay,
    Adjoint,
}

/// A block step (a product or a square root) at step `k`: a call of the
/// refill's own method for it, which the interpreted sweep calls too.
fn block_call(s: &Step, k: usize, sweep: Sweep) -> String {
    match (*s, sweep) {
        (Step::Gram(g), Sweep::Replay) => format!("r.replay_gram({g}, {k}, s);"),
        (Step::Gram(g), Sweep::Adjoint) => format!("r.adjoint_gram({g}, {k}, s);"),
        (Step::Root(r), Sweep::Replay) => format!("r.replay_root({r}, {k}, s)?;"),
        (Step::Root(r), Sweep::Adjoint) => format!("r.adjoint_root({r}, {k}, s);"),
        _ => String::new(),
    }
}

/// Ends a run of scalar steps (the block that borrows the values), if open.
fn close(out: &mut String, open: &mut bool) -> fmt::Result {
    if std::mem::take(open) {
        writeln!(out, "}}")?;
    }
    Ok(())
}

/// A constant operand: parenthesised when negative, so that it reads as one
/// operand whatever the operator (`v[3] * (-1.0)`).
fn operand(c: f64) -> String {
    let text = float(c);
    if text.starts_with('-') {
        format!("({text})")
    } else {
        text
    }
}
