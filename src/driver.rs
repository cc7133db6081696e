//! `compile()`: parse → check. The only place the stages meet.

use crate::analysis::{Analysed, Analysis};
use crate::diag::{has_errors, render_all, Color, Diagnostic, FileId, SourceMap};
use crate::ir::Program;
use crate::sema;
use crate::syntax::{self, ast};

/// The standard prelude: `def`s in scope in every file (the robust penalties).
pub const PRELUDE: &str = include_str!("../stdlib/prelude.ddn");
/// The name the prelude's spans are reported under.
pub const PRELUDE_NAME: &str = "<stdlib>/prelude.ddn";

/// The result of compiling one file: the checked nodes and every diagnostic.
#[derive(Debug)]
pub struct Compiled {
    /// The file and the prelude, which the diagnostics' spans point into.
    pub sources: SourceMap,
    /// The compiled file's id in `sources`.
    pub file: FileId,
    /// Nodes that checked cleanly (a file with errors may still have some).
    pub program: Program,
    /// Every error and warning, the prelude's included, in the order found.
    pub diagnostics: Vec<Diagnostic>,
    /// One per node of `program`, in its order: each node's analyses, made on
    /// first use and kept (so a node compiled once derives and lowers once).
    analyses: Vec<Analysis>,
}

impl Compiled {
    /// Whether any diagnostic is an error (then `ddnc check` fails).
    pub fn has_errors(&self) -> bool {
        has_errors(&self.diagnostics)
    }

    /// The rendered diagnostics (what `ddnc` prints to stderr), with carets.
    pub fn diagnostics_text(&self, color: Color) -> String {
        render_all(&self.sources, &self.diagnostics, color)
    }

    /// Node `index` of `program` with its analysis (`None` past the last node).
    pub fn analysed(&self, index: usize) -> Option<Analysed<'_>> {
        Some(Analysed::new(self.program.nodes.get(index)?, self.analyses.get(index)?))
    }

    /// The node called `name` with its analysis.
    pub fn node(&self, name: &str) -> Option<Analysed<'_>> {
        self.analysed(self.program.nodes.iter().position(|n| n.name == name)?)
    }
}

/// Parses and checks `text` (named `name` in messages) with the prelude in scope.
pub fn compile(name: &str, text: &str) -> Compiled {
    let mut sources = SourceMap::new();
    let file = sources.add(name, text);
    let prelude_id = sources.add(PRELUDE_NAME, PRELUDE);
    let mut diagnostics = Vec::new();
    let prelude = syntax::parse(PRELUDE, prelude_id).unwrap_or_else(|d| {
        diagnostics.extend(d);
        ast::File::default()
    });
    // `add` may truncate an oversized text: parse what the map holds.
    let text = sources.get(file).map(|f| f.text.clone()).unwrap_or_default();
    let program = match syntax::parse(&text, file) {
        Ok(ast) => {
            let (program, diags) = sema::check(&ast, &prelude);
            diagnostics.extend(diags);
            program
        }
        Err(d) => {
            diagnostics.extend(d);
            Program::default()
        }
    };
    let analyses = program.nodes.iter().map(|_| Analysis::default()).collect();
    Compiled { sources, file, program, diagnostics, analyses }
}
