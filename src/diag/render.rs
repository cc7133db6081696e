//! Rendering diagnostics as text with carets, via `codespan-reporting`.

use codespan_reporting::diagnostic as cs;
use codespan_reporting::files::SimpleFiles;
use codespan_reporting::term::{self, termcolor};

use super::{Diagnostic, Severity, SourceMap};

/// Whether to emit ANSI colours.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Color {
    /// Plain text.
    Never,
    /// ANSI colour codes (the CLI picks this for a terminal).
    Always,
}

fn to_codespan(d: &Diagnostic) -> cs::Diagnostic<usize> {
    let severity = match d.severity {
        Severity::Error => cs::Severity::Error,
        Severity::Warning => cs::Severity::Warning,
        Severity::Note => cs::Severity::Note,
    };
    let labels = d
        .labels
        .iter()
        .map(|l| {
            let style = if l.primary { cs::LabelStyle::Primary } else { cs::LabelStyle::Secondary };
            cs::Label::new(style, l.span.file.0 as usize, l.span.range()).with_message(&l.message)
        })
        .collect();
    let mut notes: Vec<String> = d.notes.iter().map(|n| format!("note: {n}")).collect();
    if let Some(h) = &d.help {
        notes.push(format!("help: {h}"));
    }
    cs::Diagnostic::new(severity).with_message(&d.message).with_labels(labels).with_notes(notes)
}

/// Renders one diagnostic: `error: message`, `┌─ file:line:col`, the source line, a caret.
pub fn render(sources: &SourceMap, d: &Diagnostic, color: Color) -> String {
    render_all(sources, std::slice::from_ref(d), color)
}

/// Renders many diagnostics in order, separated by blank lines.
pub fn render_all(sources: &SourceMap, diags: &[Diagnostic], color: Color) -> String {
    let mut files = SimpleFiles::new();
    for (_, f) in sources.files() {
        files.add(f.name.clone(), f.text.clone());
    }
    let config = term::Config::default();
    let mut out = Vec::new();
    for d in diags {
        let cd = to_codespan(d);
        let res = match color {
            Color::Never => term::emit_to_io_write(&mut out, &config, &files, &cd),
            Color::Always => {
                let mut w = termcolor::Ansi::new(&mut out);
                term::emit_to_write_style(&mut w, &config, &files, &cd)
            }
        };
        if res.is_err() {
            // A span outside its file (a bug, but never a panic): fall back to the plain message.
            out.extend_from_slice(format!("{:?}: {}\n", d.severity, d.message).as_bytes());
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
