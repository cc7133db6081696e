//! UI tests: every file in `tests/ui/` is wrong in a known way, and says how in
//! lines `#~ error LINE:COL: MESSAGE`. Reported errors and expectations must match
//! one to one: same line and column of the caret, the message containing MESSAGE.

use super::{compile_path, ddn_files, rendered, root};

struct Expected {
    line: usize,
    col: usize,
    message: String,
}

fn expectations(text: &str) -> Vec<Expected> {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("#~ error "))
        .map(|rest| {
            let (pos, message) = rest.split_once(": ").expect("`#~ error L:C: message`");
            let (line, col) = pos.split_once(':').expect("L:C");
            Expected { line: line.parse().expect("line"), col: col.parse().expect("col"), message: message.to_string() }
        })
        .collect()
}

#[test]
fn every_bad_file_gets_its_diagnostic() {
    let files = ddn_files(&root().join("tests/ui"));
    assert!(files.len() >= 30, "expected the UI corpus, found {} files", files.len());
    let mut failures = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(&path).expect("read");
        let expected = expectations(&text);
        assert!(!expected.is_empty(), "{} has no `#~ error` line", path.display());
        let c = compile_path(&path);
        let errors: Vec<(usize, usize, String)> = c
            .diagnostics
            .iter()
            .filter(|d| d.is_error())
            .map(|d| {
                let s = d.primary_span().expect("every error has a caret");
                let (l, col) = c.sources.line_col(s.file, s.start as usize);
                (l, col, d.message.clone())
            })
            .collect();
        let mut unmatched: Vec<&(usize, usize, String)> = errors.iter().collect();
        let mut missing = Vec::new();
        for e in &expected {
            match unmatched.iter().position(|(l, c, m)| *l == e.line && *c == e.col && m.contains(&e.message)) {
                Some(i) => {
                    unmatched.remove(i);
                }
                None => missing.push(format!("{}:{}: {}", e.line, e.col, e.message)),
            }
        }
        if !missing.is_empty() || !unmatched.is_empty() {
            failures.push(format!(
                "{}\n  missing:    {:?}\n  unexpected: {:?}\n{}",
                path.file_name().unwrap_or_default().to_string_lossy(),
                missing,
                unmatched,
                rendered(&c)
            ));
        }
        // Every error renders with a caret under the source.
        assert!(rendered(&c).contains('^'), "{}: no caret in\n{}", path.display(), rendered(&c));
    }
    assert!(failures.is_empty(), "{} UI files failed:\n\n{}", failures.len(), failures.join("\n"));
}
