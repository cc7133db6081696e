//! docs/language.md, the users' reference, cannot fall behind the compiler:
//! every `ddn` block in it checks without errors, every atom of the language has
//! a row in its atom table, and every `solve using` method a row in its methods
//! table.

use super::{rendered, root};

fn page() -> String {
    std::fs::read_to_string(root().join("docs/language.md")).expect("docs/language.md")
}

/// The fenced blocks of `text` whose info string is exactly `lang`.
fn blocks(text: &str, lang: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        match (&mut current, line.trim_start().strip_prefix("```")) {
            (None, Some(info)) if info.trim() == lang => current = Some(String::new()),
            (Some(_), Some(_)) => out.extend(current.take()),
            (Some(block), None) => {
                block.push_str(line);
                block.push('\n');
            }
            (None, _) => {}
        }
    }
    out
}

#[test]
fn every_ddn_block_of_the_language_reference_checks() {
    let page = page();
    let blocks = blocks(&page, "ddn");
    assert!(blocks.len() >= 6, "found only {} ddn blocks", blocks.len());
    for (k, src) in blocks.iter().enumerate() {
        let compiled = ddn::compile(&format!("docs/language.md block {k}"), src);
        assert!(!compiled.has_errors(), "block {k}:\n{src}\n{}", rendered(&compiled));
    }
}

#[test]
fn the_language_reference_lists_every_atom_and_method() {
    let page = page();
    for atom in ddn::atoms::all() {
        let row = format!("| `{}(", atom.name);
        assert!(page.contains(&row), "docs/language.md has no atom-table row starting `{row}`");
    }
    for method in ddn::sema::methods::METHODS {
        let row = format!("| `{}` |", method.name);
        assert!(page.contains(&row), "docs/language.md has no methods-table row `{row}`");
    }
}
