//! `ddnc build`: a `.ddn` file as a Rust module, one submodule per node with a
//! typed API — `Params` (faer views named after the parameters), `Solution`
//! (the outputs, and what the backward pass needs), `Cotangents`, `Gradients` —
//! and `forward(&Params)`, `backward(&Params, &mut Solution, &Cotangents)`.
//!
//! Each node's kernels ([`crate::kernel`]: the objective, constraint and
//! derivative programs, the data subexpressions, the initial values) are
//! emitted as straight-line Rust (`kernels`), and `forward` hands them to the
//! runtime's solvers ([`crate::runtime::forward_with_kernels`]); the backward
//! pass runs the same kernels. The node itself (its structure, for the solver
//! and the backward assembly) is compiled from the embedded source once, on
//! first use, and the emitted kernels agree with the runtime's own bit for bit.
//!
//! The emitted text is parsed by `syn` and printed by `prettyplease` before it is
//! returned, so it is always valid Rust in one canonical layout.

use std::fmt::Write;

use crate::ir::{Node, Output, Program};
use crate::kernel::KernelSet;

/// How a parameter, output or gradient looks in the typed API: by rank.
fn rank_of(shape: &crate::ir::Shape) -> usize {
    shape.rank()
}

/// The borrowed view type of a parameter or cotangent of this rank.
fn view(rank: usize) -> &'static str {
    match rank {
        0 => "f64",
        1 => "ddn::faer::ColRef<'a, f64>",
        _ => "ddn::faer::MatRef<'a, f64>",
    }
}

/// The owned type of an output or gradient of this rank.
fn owned(rank: usize) -> &'static str {
    match rank {
        0 => "f64",
        1 => "ddn::faer::Col<f64>",
        _ => "ddn::faer::Mat<f64>",
    }
}

/// A Rust identifier for a ddn name: ddn names are identifiers already, but a
/// Rust keyword gets the raw prefix.
fn ident(name: &str) -> String {
    match syn::parse_str::<syn::Ident>(name) {
        Ok(_) => name.to_string(),
        Err(_) => format!("r#{name}"),
    }
}

/// The names and ranks of a node's outputs, in declaration order.
fn outputs(node: &Node) -> Vec<(String, usize)> {
    node.outputs
        .iter()
        .map(|o| match o {
            Output::Var(v) => (node.var(*v).name.clone(), rank_of(&node.var(*v).shape)),
            Output::Dual(c) => {
                let con = &node.constraints[*c];
                (con.name.clone().unwrap_or_default(), rank_of(&con.shape))
            }
        })
        .collect()
}

fn emit_node(out: &mut String, node: &Node, kernels: &KernelSet, index: usize) -> std::fmt::Result {
    let params: Vec<(String, usize)> = node.params.iter().map(|p| (p.name.clone(), rank_of(&p.shape))).collect();
    let outs = outputs(node);
    writeln!(out, "/// Node `{}` ({}).", node.name, node.class.family.name())?;
    // Parameter names are the paper's symbols (`A`, `Q`), not snake case.
    writeln!(out, "#[allow(non_snake_case)]")?;
    writeln!(out, "pub mod {} {{", ident(&node.name))?;
    writeln!(out, "use ddn::codegen::runtime::prelude::*;")?;
    writeln!(out, "use ddn::runtime::{{RunError, Status}};")?;
    writeln!(out, "/// The parameters, as faer views.")?;
    writeln!(out, "#[derive(Clone, Copy)]")?;
    let lifetime = |fields: &[(String, usize)]| if fields.iter().any(|(_, r)| *r > 0) { "<'a>" } else { "" };
    writeln!(out, "pub struct Params{} {{", lifetime(&params))?;
    for (name, rank) in &params {
        writeln!(out, "pub {}: {},", ident(name), view(*rank))?;
    }
    writeln!(out, "}}")?;
    writeln!(out, "/// The forward solve's outputs, and what the backward pass needs.")?;
    writeln!(out, "pub struct Solution {{")?;
    writeln!(out, "pub status: Status,")?;
    for (name, rank) in &outs {
        writeln!(out, "pub {}: {},", ident(name), owned(*rank))?;
    }
    writeln!(out, "solved: ddn::runtime::Solved,")?;
    writeln!(out, "bound: ddn::runtime::Bound,")?;
    writeln!(out, "}}")?;
    writeln!(out, "/// dL/doutputs; `None` is zero.")?;
    writeln!(out, "#[derive(Clone, Copy, Default)]")?;
    writeln!(out, "pub struct Cotangents{} {{", lifetime(&outs))?;
    for (name, rank) in &outs {
        writeln!(out, "pub {}: Option<{}>,", ident(name), view(*rank))?;
    }
    writeln!(out, "}}")?;
    writeln!(out, "/// dL/dparameters.")?;
    writeln!(out, "pub struct Gradients {{")?;
    for (name, rank) in &params {
        writeln!(out, "pub {}: {},", ident(name), owned(*rank))?;
    }
    writeln!(out, "}}")?;
    // The node, compiled once from the embedded source.
    writeln!(out, "fn node() -> &'static ddn::ir::Node {{")?;
    writeln!(out, "static NODE: std::sync::OnceLock<ddn::ir::Node> = std::sync::OnceLock::new();")?;
    writeln!(out, "NODE.get_or_init(|| super::compiled().program.nodes[{index}].clone())")?;
    writeln!(out, "}}")?;
    let list = |fields: &[(String, usize)], value: &dyn Fn(&str) -> String| -> String {
        fields.iter().map(|(name, _)| format!("({name:?}, {})", value(&ident(name)))).collect::<Vec<_>>().join(", ")
    };
    writeln!(out, "/// Solves the node at `p`.")?;
    writeln!(out, "pub fn forward(p: &Params) -> Result<Solution, RunError> {{")?;
    writeln!(
        out,
        "let (solved, bound) = ddn::codegen::runtime::solve(node(), [{}], std::sync::Arc::new(Kernels))?;",
        list(&params, &|f| format!("ddn::codegen::runtime::tensor(p.{f})"))
    )?;
    writeln!(out, "Ok(Solution {{")?;
    writeln!(out, "status: solved.status,")?;
    for (k, (name, _)) in outs.iter().enumerate() {
        writeln!(out, "{}: ddn::codegen::runtime::Output::from_tensor(&solved.outputs[{k}].1),", ident(name))?;
    }
    writeln!(out, "solved, bound }})")?;
    writeln!(out, "}}")?;
    writeln!(out, "/// dL/dparameters for the cotangents `c` at the solution `s` of `forward(p)`.")?;
    writeln!(out, "pub fn backward(_p: &Params, s: &mut Solution, c: &Cotangents) -> Result<Gradients, RunError> {{")?;
    writeln!(
        out,
        "let g = ddn::codegen::runtime::differentiate(node(), &s.bound, &mut s.solved, [{}])?;",
        list(&outs, &|f| format!("c.{f}.map(ddn::codegen::runtime::tensor)"))
    )?;
    writeln!(out, "Ok(Gradients {{")?;
    for (k, (name, _)) in params.iter().enumerate() {
        writeln!(out, "{}: ddn::codegen::runtime::Output::from_tensor(&g[{k}]),", ident(name))?;
    }
    writeln!(out, "}})")?;
    writeln!(out, "}}")?;
    kernels::emit(out, node, kernels)?;
    writeln!(out, "}}")
}

/// The Rust module for the checked `program` of the file `file_name` whose text
/// is `source`; `Err` for a node the typed API cannot express yet.
pub fn emit(file_name: &str, source: &str, program: &Program) -> Result<String, String> {
    let sets = program
        .nodes
        .iter()
        .map(|n| crate::runtime::kernel_set(n).map_err(|e| format!("node `{}`: {}", n.name, e.0)))
        .collect::<Result<Vec<_>, _>>()?;
    let mut out = String::new();
    let text = (|| -> std::fmt::Result {
        writeln!(out, "// @generated by `ddnc build` from {file_name}. Do not edit.")?;
        writeln!(out, "/// The file's source, compiled once on first use.")?;
        writeln!(out, "const SOURCE: &str = {source:?};")?;
        writeln!(out, "fn compiled() -> &'static ddn::Compiled {{")?;
        writeln!(out, "static COMPILED: std::sync::OnceLock<ddn::Compiled> = std::sync::OnceLock::new();")?;
        writeln!(out, "COMPILED.get_or_init(|| ddn::compile({file_name:?}, SOURCE))")?;
        writeln!(out, "}}")?;
        for (k, (node, set)) in program.nodes.iter().zip(&sets).enumerate() {
            emit_node(&mut out, node, set, k)?;
        }
        Ok(())
    })();
    text.map_err(|e| e.to_string())?;
    let file = syn::parse_file(&out).map_err(|e| format!("internal error: the emitted module does not parse: {e}"))?;
    let body = prettyplease::unparse(&file);
    // prettyplease drops plain comments: put the header back first.
    Ok(format!("// @generated by `ddnc build` from {file_name}. Do not edit.\n{body}"))
}

mod kernels;
pub mod runtime;

/// The build-script entry point, in the convention of prost-build and lalrpop:
/// in a user crate's `build.rs`,
///
/// ```no_run
/// ddn::codegen::compile_files(&["src/layers.ddn"]).expect("ddn");
/// ```
///
/// writes `$OUT_DIR/layers.rs` (one module per file, [`emit`]) and tells cargo
/// to rerun when a file changes; the crate then has
/// `include!(concat!(env!("OUT_DIR"), "/layers.rs"));`. A file with errors fails
/// the build with its rendered diagnostics.
pub fn compile_files(files: &[&str]) -> Result<(), String> {
    let out_dir =
        std::env::var("OUT_DIR").map_err(|_| "OUT_DIR is not set: call this from a build script".to_string())?;
    compile_files_into(files, std::path::Path::new(&out_dir))
}

/// [`compile_files`] into an explicit directory.
pub fn compile_files_into(files: &[&str], out_dir: &std::path::Path) -> Result<(), String> {
    for file in files {
        println!("cargo:rerun-if-changed={file}");
        let path = std::path::Path::new(file);
        let source = std::fs::read_to_string(path).map_err(|e| format!("cannot read `{file}`: {e}"))?;
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let compiled = crate::compile(&name, &source);
        if compiled.has_errors() {
            return Err(crate::report::diagnostics_text(&compiled, crate::diag::Color::Never));
        }
        let module = emit(&name, &source, &compiled.program)?;
        let stem = path.file_stem().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let target = out_dir.join(format!("{stem}.rs"));
        std::fs::write(&target, module).map_err(|e| format!("cannot write `{}`: {e}", target.display()))?;
    }
    Ok(())
}
