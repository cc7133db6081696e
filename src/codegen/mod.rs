//! `ddnc build`: a `.ddn` file as a Rust module, one submodule per node with a
//! typed API — `Params` (faer views named after the parameters), `Solution`
//! (the outputs, and what the backward pass needs), `Cotangents`, `Gradients` —
//! and `forward(&Params)`, `backward(&Params, &mut Solution, &Cotangents)`.
//!
//! A module holds everything the compiler derived, as Rust compiled with it,
//! so nothing is parsed, checked, derived or recorded when it runs:
//!
//! - the checked node (and a smooth node's symbolic derivation) as
//!   constructors (`ir`), behind `pub fn node()`;
//! - each node's kernels ([`crate::kernel`]: the objective, constraint and
//!   derivative programs, the data subexpressions, the initial values) as
//!   straight-line Rust (`kernels`);
//! - for a conic node prepared at build time ([`Prepare`]: inputs whose sizes
//!   it will be called at), its standard form recorded at those sizes, with the
//!   refill program and its adjoint as straight-line Rust (`refill`), from
//!   which the module builds its [`crate::runtime::Prepared`] node. At other
//!   sizes the node is recorded on first use at each size, as the runtime does.
//!
//! `forward` and `backward` hand these to the runtime's solvers and backward
//! passes ([`crate::loaded::LoadedNode`]), and agree with the runtime's own
//! evaluator, interpreter and JIT bit for bit.
//!
//! The emitted text is parsed by `syn` and printed by `prettyplease` before it is
//! returned, so it is always valid Rust in one canonical layout.

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::analysis::Analysed;
use crate::canon::Recorded;
use crate::eval::Tensor;
use crate::ir::{Node, Output};
use crate::kernel::KernelSet;
use crate::Compiled;

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

/// Where to prepare a conic node at build time: inputs at whose dimension
/// sizes (and on whose side of each data-dependent decision the reductions
/// take) its standard form is recorded and emitted.
#[derive(Clone, Debug)]
pub struct Prepare {
    /// The node's name.
    pub node: String,
    /// Sample parameter values, by name: their sizes are the ones prepared.
    pub inputs: BTreeMap<String, Tensor>,
}

impl Prepare {
    /// The inputs of `node` in the JSON of `ddnc run --inputs` (language.md).
    pub fn from_json(node: &str, json: &str) -> Result<Prepare, BuildError> {
        let inputs = |problems: Vec<String>| BuildError::Inputs { node: node.to_string(), problems };
        let value: serde_json::Value = serde_json::from_str(json).map_err(|e| inputs(vec![e.to_string()]))?;
        let inputs = crate::runtime::named_tensors(&value).map_err(|e| inputs(e.0))?;
        Ok(Prepare { node: node.to_string(), inputs })
    }
}

/// Why a module could not be generated: what [`emit`] and the build-script
/// entry points ([`compile_files`]) return, for a user's `build.rs` to fail
/// with.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// A `.ddn` file could not be read, or the module not written.
    #[error("cannot {action} `{path}`: {source}")]
    Io {
        /// `read` or `write`.
        action: &'static str,
        /// The file.
        path: String,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// A file does not check: its diagnostics, rendered with carets.
    #[error("{0}")]
    Diagnostics(String),
    /// Sample inputs (for a node prepared at build time) that are not
    /// well-formed or do not bind.
    #[error("inputs of `{node}`: {}", problems.join("; "))]
    Inputs {
        /// The node they are for.
        node: String,
        /// Every problem found.
        problems: Vec<String>,
    },
    /// Inputs to prepare a node the files do not have.
    #[error("no node `{node}` to prepare in {files}")]
    NoSuchNode {
        /// The node named.
        node: String,
        /// The files searched.
        files: String,
    },
    /// A node that cannot be prepared or lowered: a smooth node given inputs
    /// to prepare, a node without derivatives, a failed recording.
    #[error("node `{node}`: {message}")]
    Node {
        /// The node.
        node: String,
        /// Why.
        message: String,
    },
    /// A build script's environment without `OUT_DIR`.
    #[error("OUT_DIR is not set: call this from a build script")]
    NoOutDir,
    /// A bug: the emitted text is not Rust.
    #[error("internal error: the emitted module does not parse: {0}")]
    Internal(String),
}

fn emit_node(
    out: &mut String,
    analysed: &Analysed<'_>,
    kernels: &KernelSet,
    recorded: &[(Vec<usize>, Recorded)],
) -> std::fmt::Result {
    let node = analysed.node;
    let params: Vec<(String, usize)> = node.params.iter().map(|p| (p.name.clone(), rank_of(&p.shape))).collect();
    let outs = outputs(node);
    writeln!(out, "/// Node `{}` ({}).", node.name, node.class.family.name())?;
    // Parameter names are the paper's symbols (`A`, `Q`), not snake case; a
    // recorded step `x * c` with c = −1 is written as the interpreter computes
    // it, not as `-x`, so that the module agrees with it bit for bit.
    writeln!(out, "#[allow(non_snake_case, clippy::neg_multiply)]")?;
    writeln!(out, "pub mod {} {{", ident(&node.name))?;
    writeln!(out, "use ddn::codegen::runtime::prelude::*;")?;
    writeln!(out, "use ddn::loaded::LoadedNode;")?;
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
    let derived = analysed.analysis.derivation().and_then(|d| d.as_ref().ok());
    ir::emit(out, node, derived.map(|d| &**d))?;
    // The recordings made at build time, by their sizes.
    let list: Vec<String> =
        (recorded.iter().enumerate()).map(|(k, (dims, _))| format!("(&{dims:?}, recorded_{k})")).collect();
    writeln!(out, "/// The standard forms recorded at build time, by dimension sizes.")?;
    writeln!(out, "pub const RECORDED: &[RecordedAt] = &[{}];", list.join(", "))?;
    writeln!(out, "/// The standard form recorded at build time for the dimension sizes `dims`, if any.")?;
    writeln!(out, "pub fn recorded(dims: &[usize]) -> Option<Recorded> {{")?;
    writeln!(out, "RECORDED.iter().find(|(d, _)| *d == dims).map(|(_, r)| r())")?;
    writeln!(out, "}}")?;
    for (k, (dims, r)) in recorded.iter().enumerate() {
        refill::emit(out, k, dims, r)?;
    }
    writeln!(out, "/// The node with these kernels, prepared for the sizes recorded at build time.")?;
    writeln!(out, "pub fn loaded() -> Result<&'static LoadedNode<'static>, RunError> {{")?;
    writeln!(
        out,
        "static LOADED: std::sync::OnceLock<Result<LoadedNode<'static>, RunError>> = std::sync::OnceLock::new();"
    )?;
    writeln!(
        out,
        "LOADED.get_or_init(|| ddn::codegen::runtime::loaded(&analysed(), std::sync::Arc::new(Kernels), RECORDED)).as_ref().map_err(Clone::clone)"
    )?;
    writeln!(out, "}}")?;
    let list = |fields: &[(String, usize)], value: &dyn Fn(&str) -> String| -> String {
        fields.iter().map(|(name, _)| format!("({name:?}, {})", value(&ident(name)))).collect::<Vec<_>>().join(", ")
    };
    writeln!(out, "/// Solves the node at `p`.")?;
    writeln!(out, "pub fn forward(p: &Params) -> Result<Solution, RunError> {{")?;
    writeln!(
        out,
        "let (solved, bound) = ddn::codegen::runtime::solve(loaded()?, [{}])?;",
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

/// The standard forms of `node` recorded at the inputs of `prepare` that name
/// it, by dimension sizes (one per size: the first inputs given win).
fn recordings(analysed: &Analysed<'_>, prepare: &[Prepare]) -> Result<Vec<(Vec<usize>, Recorded)>, BuildError> {
    let node = analysed.node;
    let fail = |message: String| BuildError::Node { node: node.name.clone(), message };
    let mut out: Vec<(Vec<usize>, Recorded)> = Vec::new();
    for p in prepare.iter().filter(|p| p.node == node.name) {
        if !node.class.family.is_conic() {
            return Err(fail(format!(
                "it is {}: only conic nodes have a standard form to prepare",
                node.class.family.name()
            )));
        }
        let bound = crate::runtime::bind(node, &p.inputs)
            .map_err(|e| BuildError::Inputs { node: node.name.clone(), problems: e.0 })?;
        if out.iter().any(|(dims, _)| *dims == bound.dims) {
            continue;
        }
        let kernels = crate::runtime::interpreted(analysed).map_err(|e| fail(e.to_string()))?;
        let env = crate::eval::Env { params: &bound.params, vars: &[], dims: &bound.dims, syms: &[] };
        let data = kernels.run(crate::kernel::KernelId::Data, &env).map_err(|e| fail(e.message))?;
        let recorded = crate::canon::record(node, &bound, &data)
            .map_err(|e| fail(format!("cannot be prepared at build time: {e}")))?;
        out.push((bound.dims, recorded));
    }
    Ok(out)
}

/// The Rust module for the checked nodes of `compiled`, the file `file_name`,
/// its conic nodes prepared at the inputs of `prepare` (each must name a node
/// of the file); `Err` for a node the typed API cannot express yet.
pub fn emit(file_name: &str, compiled: &Compiled, prepare: &[Prepare]) -> Result<String, BuildError> {
    let program = &compiled.program;
    if let Some(p) = prepare.iter().find(|p| !program.nodes.iter().any(|n| n.name == p.node)) {
        return Err(BuildError::NoSuchNode { node: p.node.clone(), files: format!("`{file_name}`") });
    }
    let nodes: Vec<Analysed<'_>> = (0..program.nodes.len()).filter_map(|i| compiled.analysed(i)).collect();
    let sets = nodes
        .iter()
        .map(|n| {
            crate::runtime::kernel_set(n)
                .map_err(|e| BuildError::Node { node: n.node.name.clone(), message: e.to_string() })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let recorded = nodes.iter().map(|n| recordings(n, prepare)).collect::<Result<Vec<_>, _>>()?;
    let mut out = String::new();
    let text = (|| -> std::fmt::Result {
        for ((node, set), recorded) in nodes.iter().zip(&sets).zip(&recorded) {
            emit_node(&mut out, node, set, recorded)?;
        }
        Ok(())
    })();
    text.map_err(|e| BuildError::Internal(e.to_string()))?;
    let file = syn::parse_file(&out).map_err(|e| BuildError::Internal(e.to_string()))?;
    let body = prettyplease::unparse(&file);
    // prettyplease drops plain comments: put the header back first.
    Ok(format!("// @generated by `ddnc build` from {file_name}. Do not edit.\n{body}"))
}

mod ir;
mod kernels;
mod refill;
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
pub fn compile_files(files: &[&str]) -> Result<(), BuildError> {
    compile_files_with(files, &[])
}

/// [`compile_files`], the conic nodes named in `prepare` prepared at build
/// time at its inputs ([`Prepare::from_json`]).
pub fn compile_files_with(files: &[&str], prepare: &[Prepare]) -> Result<(), BuildError> {
    let out_dir = std::env::var("OUT_DIR").map_err(|_| BuildError::NoOutDir)?;
    compile_files_into(files, prepare, std::path::Path::new(&out_dir))
}

/// [`compile_files_with`] into an explicit directory.
pub fn compile_files_into(files: &[&str], prepare: &[Prepare], out_dir: &std::path::Path) -> Result<(), BuildError> {
    let mut used = vec![false; prepare.len()];
    for file in files {
        println!("cargo:rerun-if-changed={file}");
        let path = std::path::Path::new(file);
        let source = std::fs::read_to_string(path).map_err(|source| BuildError::Io {
            action: "read",
            path: file.to_string(),
            source,
        })?;
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let compiled = crate::compile(&name, &source);
        if compiled.has_errors() {
            return Err(BuildError::Diagnostics(compiled.diagnostics_text(crate::diag::Color::Never)));
        }
        let mine: Vec<Prepare> = (prepare.iter().zip(&mut used))
            .filter(|(p, _)| compiled.program.nodes.iter().any(|n| n.name == p.node))
            .map(|(p, used)| {
                *used = true;
                p.clone()
            })
            .collect();
        let module = emit(&name, &compiled, &mine)?;
        let stem = path.file_stem().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let target = out_dir.join(format!("{stem}.rs"));
        std::fs::write(&target, module).map_err(|source| BuildError::Io {
            action: "write",
            path: target.display().to_string(),
            source,
        })?;
    }
    match prepare.iter().zip(&used).find(|(_, used)| !**used) {
        Some((p, _)) => Err(BuildError::NoSuchNode { node: p.node.clone(), files: files.join(", ") }),
        None => Ok(()),
    }
}
