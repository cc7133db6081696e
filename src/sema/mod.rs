//! Semantic checking: AST → checked IR ([`crate::ir::Program`]).
//!
//! Collects every error rather than stopping at the first: each stage reports what
//! it finds and carries on with an "unknown" result so that one mistake causes one
//! message. Stages: the `def` table (`defs`), per-node lowering of declarations
//! and statements (`node`) with expressions lowered, `def`s inlined and `let`s
//! substituted (`lower`), the structure a `solve using sinkhorn | eigh` needs
//! (`recognise`), and finally classification (`classify`).

mod classify;
mod defs;
mod lower;
pub mod methods;
mod node;
mod recognise;

pub use methods::{Method, METHODS};

use crate::diag::Diagnostic;
use crate::ir::Program;
use crate::syntax::ast;

/// Checks a file, with `prelude`'s `def`s in scope (the file's own `def`s of the
/// same name take precedence). Returns the nodes that checked cleanly and every
/// diagnostic, errors and warnings, in source order.
pub fn check(file: &ast::File, prelude: &ast::File) -> (Program, Vec<Diagnostic>) {
    let mut diags = Vec::new();
    let defs = defs::DefTable::build(file, prelude, &mut diags);
    let mut program = Program::default();
    let mut seen_nodes: Vec<&ast::Ident> = Vec::new();
    for item in &file.items {
        if let ast::Item::Node(n) = item {
            if let Some(first) = seen_nodes.iter().find(|f| f.name == n.name.name) {
                diags.push(
                    Diagnostic::error(format!("node `{}` is defined twice", n.name.name))
                        .at(n.name.span, "defined again here")
                        .also(first.span, "first defined here"),
                );
                continue;
            }
            seen_nodes.push(&n.name);
            if let Some(node) = node::check_node(n, &defs, &mut diags) {
                program.nodes.push(node);
            }
        }
    }
    // One mistake inside a `def` inlined twice is one message.
    let mut seen = Vec::new();
    diags.retain(|d| {
        let key = (d.message.clone(), d.primary_span());
        if seen.contains(&key) {
            false
        } else {
            seen.push(key);
            true
        }
    });
    diags.sort_by_key(|d| d.primary_span().map(|s| (s.file, s.start)));
    (program, diags)
}
