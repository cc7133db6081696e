//! Diagnostics: what went wrong, where, and how to fix it.
//!
//! Every stage reports problems as [`Diagnostic`]s carrying [`Span`]s into a
//! [`SourceMap`]. Rendering (carets, colours, `file:line:column`) is delegated to
//! `codespan-reporting`; nothing outside [`render`] knows about it.

mod render;
mod span;

pub use render::{render, render_all, Color};
pub use span::{FileId, SourceMap, Span};

/// How bad a [`Diagnostic`] is. Only errors make `ddnc check` fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Information only.
    Note,
    /// Something suspicious that does not stop compilation (an unused output).
    Warning,
    /// The input is rejected.
    Error,
}

/// A source range with a message: the primary label is the caret, secondary
/// labels point at related places ("first defined here").
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Label {
    /// The range pointed at.
    pub span: Span,
    /// What is said about it, beside the caret.
    pub message: String,
    /// The caret (`^^^`) rather than a secondary mark (`---`).
    pub primary: bool,
}

/// One problem found in the input. The first primary label is where the caret goes.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Diagnostic {
    /// How bad it is.
    pub severity: Severity,
    /// The headline: what is wrong.
    pub message: String,
    /// The places in the source, in the order added.
    pub labels: Vec<Label>,
    /// Further facts, printed after the source as `note: ...`.
    pub notes: Vec<String>,
    /// How to fix it, printed as `help: ...`.
    pub help: Option<String>,
}

impl Diagnostic {
    fn new(severity: Severity, message: impl Into<String>) -> Self {
        Diagnostic { severity, message: message.into(), labels: Vec::new(), notes: Vec::new(), help: None }
    }

    /// An error with the headline `message` and no labels yet.
    pub fn error(message: impl Into<String>) -> Self {
        Self::new(Severity::Error, message)
    }

    /// A warning with the headline `message` and no labels yet.
    pub fn warning(message: impl Into<String>) -> Self {
        Self::new(Severity::Warning, message)
    }

    /// The caret: where the problem is.
    pub fn at(mut self, span: Span, message: impl Into<String>) -> Self {
        self.labels.push(Label { span, message: message.into(), primary: true });
        self
    }

    /// A related place ("defined here", "the other operand").
    pub fn also(mut self, span: Span, message: impl Into<String>) -> Self {
        self.labels.push(Label { span, message: message.into(), primary: false });
        self
    }

    /// A further fact, appended to [`Self::notes`].
    pub fn note(mut self, note: impl Into<String>) -> Self {
        self.notes.push(note.into());
        self
    }

    /// How to fix it.
    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Whether it rejects the input.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// The span of the first primary label, if any.
    pub fn primary_span(&self) -> Option<Span> {
        self.labels.iter().find(|l| l.primary).map(|l| l.span)
    }
}

/// True when any diagnostic in `diags` is an error.
pub fn has_errors(diags: &[Diagnostic]) -> bool {
    diags.iter().any(Diagnostic::is_error)
}
