//! The language contract (`shared/design/language.md`): every complete example in
//! it checks cleanly, with its family pinned.

use super::{rendered, shared};

/// The ```ddn blocks of the contract.
pub(super) fn blocks() -> Vec<String> {
    let path = shared().join("design/language.md");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    text.split("```ddn\n").skip(1).filter_map(|b| b.split("```").next()).map(String::from).collect()
}

#[test]
fn every_contract_example_checks() {
    let blocks = blocks();
    assert!(blocks.len() >= 4, "found {} ddn blocks", blocks.len());
    let mut report = String::new();
    for (i, b) in blocks.iter().enumerate() {
        // The `subject to { ... }` fragment is not a file; it is checked below,
        // wrapped in a node.
        if !b.contains("node ") && !b.contains("def ") {
            continue;
        }
        let c = ddn::compile(&format!("language.md block {i}"), b);
        assert!(!c.has_errors(), "block {i}:\n{b}\n{}", rendered(&c));
        report.push_str(&ddn::report::check_text(&c));
    }
    insta::assert_snapshot!("contract_examples", report);
}

/// The contract's constraint fragment, inside a node that declares its names.
#[test]
fn constraint_fragment_checks_as_socp() {
    let fragment = blocks().into_iter().find(|b| b.trim_start().starts_with("subject to")).expect("fragment");
    let src = format!(
        "node fragment(G: real[k, n], h: real[k], A: real[q, n], b: real[q], c: real[n], r: pos) -> (z: real[n], dual budget) {{\n    minimize sum_squares(z)\n{fragment}}}\n"
    );
    let c = ddn::compile("fragment.ddn", &src);
    assert!(!c.has_errors(), "{}", rendered(&c));
    assert_eq!(c.program.nodes[0].class.family, ddn::ir::Family::Socp);
}
