//! The layout pass: decides which newlines separate statements.
//!
//! Statements end at a newline, except (as in Python) inside `(...)` and `[...]`,
//! and after a line that ends in a binary operator, `=`, `->` or a comma. This pass
//! rewrites the source *without moving any byte*: comments become spaces and joined
//! newlines become spaces, so every span the grammar produces is a span of the
//! original text. It also checks bracket balance, which gives far better messages
//! ("unclosed `(`", pointing at the opener) than a parser failing lines later.

use crate::diag::{Diagnostic, FileId, Span};

/// Deepest bracket nesting accepted: parsing recurses per level, and no real
/// problem comes close.
pub const MAX_NESTING: usize = 128;

/// Characters after which a line continues on the next one.
const CONTINUES: &[u8] = b"+-*/@^,=<>(";

/// Returns the laid-out text (same length as `src`) and any bracket errors.
pub fn layout(src: &str, file: FileId) -> (String, Vec<Diagnostic>) {
    let bytes = src.as_bytes();
    let mut out = bytes.to_vec();
    let mut open: Vec<(u8, usize)> = Vec::new();
    let mut braces: Vec<usize> = Vec::new();
    let mut diags = Vec::new();
    // Prefix `-` runs and `^` chains nest the parse like brackets do.
    let mut minus_run = 0usize;
    let mut pow_chain = 0usize;
    let mut i = 0;
    let unclosed = |open: &mut Vec<(u8, usize)>, diags: &mut Vec<Diagnostic>, at: Option<usize>| {
        for (c, pos) in open.drain(..) {
            let closer = if c == b'(' { ")" } else { "]" };
            let mut d = Diagnostic::error(format!("unclosed `{}`", c as char))
                .at(Span::new(file, pos, pos + 1), "opened here and never closed")
                .help(format!("add the missing `{closer}`"));
            if let Some(at) = at {
                d = d.also(Span::new(file, at, at + 1), format!("expected `{closer}` before this"));
            }
            diags.push(d);
        }
    };
    while i < bytes.len() {
        if bytes[i] == b'#' {
            while i < bytes.len() && bytes[i] != b'\n' {
                out[i] = b' ';
                i += 1;
            }
            continue;
        }
        match bytes[i] {
            b'-' => minus_run += 1,
            b'^' => pow_chain += 1,
            b' ' | b'\t' | b'\r' | b'(' => {}
            b'\n' | b';' | b'{' | b'}' => {
                minus_run = 0;
                pow_chain = 0;
            }
            _ => minus_run = 0,
        }
        if minus_run > MAX_NESTING || pow_chain > MAX_NESTING {
            diags.push(
                Diagnostic::error(format!("operators nested more than {MAX_NESTING} deep"))
                    .at(Span::new(file, i, i + 1), "too deep")
                    .help("name intermediate results with `let`"),
            );
            return (src.to_string(), diags);
        }
        match bytes[i] {
            b'(' | b'[' => {
                open.push((bytes[i], i));
                if open.len() > MAX_NESTING {
                    diags.push(
                        Diagnostic::error(format!("brackets nested more than {MAX_NESTING} deep"))
                            .at(Span::new(file, i, i + 1), "too deep")
                            .help("name intermediate results with `let`"),
                    );
                    return (src.to_string(), diags);
                }
            }
            c @ (b')' | b']') => {
                let want = if c == b')' { b'(' } else { b'[' };
                match open.last() {
                    Some(&(o, _)) if o == want => {
                        open.pop();
                    }
                    Some(&(o, pos)) => {
                        let closer = if o == b'(' { ')' } else { ']' };
                        diags.push(
                            Diagnostic::error(format!("mismatched `{}`", c as char))
                                .at(Span::new(file, i, i + 1), format!("expected `{closer}`"))
                                .also(Span::new(file, pos, pos + 1), format!("to close this `{}`", o as char)),
                        );
                        open.pop();
                    }
                    None => diags.push(
                        Diagnostic::error(format!("unmatched `{}`", c as char))
                            .at(Span::new(file, i, i + 1), "no opening bracket for this")
                            .help("remove it, or add the opening bracket it closes"),
                    ),
                }
            }
            // Braces cannot occur inside brackets: an open bracket here is unclosed.
            b'{' => {
                unclosed(&mut open, &mut diags, Some(i));
                braces.push(i);
            }
            b'}' => {
                unclosed(&mut open, &mut diags, Some(i));
                if braces.pop().is_none() {
                    diags.push(
                        Diagnostic::error("unmatched `}`")
                            .at(Span::new(file, i, i + 1), "no `{` for this")
                            .help("remove it, or add the `{` it closes"),
                    );
                }
            }
            b'\n' if !open.is_empty() || line_continues(&out[..i]) => {
                out[i] = b' ';
                if i > 0 && out[i - 1] == b'\r' {
                    out[i - 1] = b' ';
                }
            }
            _ => {}
        }
        i += 1;
    }
    unclosed(&mut open, &mut diags, None);
    for pos in braces {
        diags.push(
            Diagnostic::error("unclosed `{`")
                .at(Span::new(file, pos, pos + 1), "opened here and never closed")
                .help("add the missing `}`"),
        );
    }
    // Only ASCII bytes were replaced by ASCII spaces, and only whole comments (which
    // run to a newline) lost non-ASCII bytes, so the result is valid UTF-8.
    let text = String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
    (text, diags)
}

/// Whether the (already comment-blanked) text before a newline ends in an operator.
fn line_continues(before: &[u8]) -> bool {
    before
        .iter()
        .rev()
        .take_while(|&&b| b != b'\n')
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|b| CONTINUES.contains(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_length_and_joins_brackets() {
        let src = "f(a,\n b) # c ‖ ---------------------------------------------------------------------------------------------------------------------------------------\nx +\ny\nz";
        let (out, d) = layout(src, FileId(0));
        assert!(d.is_empty());
        assert_eq!(out.len(), src.len());
        assert_eq!(out.matches('\n').count(), 2);
        assert!(!out.contains('#'));
    }

    #[test]
    fn reports_unclosed_at_opener() {
        let (_, d) = layout("{ minimize sum(x\n}", FileId(0));
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].message, "unclosed `(`");
        assert_eq!(d[0].primary_span().map(|s| s.start), Some(14));
    }
}
