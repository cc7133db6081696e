//! Every stdlib file checks cleanly; the per-node report (family, verdict,
//! shapes) is pinned by an insta snapshot per file.

use super::{compile_path, ddn_files, rendered, root};

#[test]
fn stdlib_files_check_cleanly_with_pinned_families() {
    let files = ddn_files(&root().join("stdlib"));
    assert!(files.len() >= 9, "stdlib has {} files", files.len());
    for path in files {
        let c = compile_path(&path);
        assert!(!c.has_errors(), "{} has errors:\n{}", path.display(), rendered(&c));
        assert!(c.diagnostics.is_empty(), "{} has warnings:\n{}", path.display(), rendered(&c));
        let name = path.file_stem().unwrap_or_default().to_string_lossy().into_owned();
        insta::assert_snapshot!(format!("stdlib__{name}"), ddn::report::check_text(&c));
    }
}

/// The families the issue asks for, spelled out (the snapshots pin the rest).
#[test]
fn stdlib_families() {
    use ddn::ir::Family::*;
    let expect = [
        ("least_squares", Qp),
        ("pool_quadratic", Qp),
        ("pool_pseudo_huber", SmoothUnconstrained),
        ("pool_huber", Qp),
        ("pool_welsch", SmoothUnconstrained),
        ("pool_truncated_quadratic", SmoothUnconstrained),
        ("optnet_qp", Qp),
        ("entropic_ot", SmoothEquality),
        ("max_eigvec", SmoothEquality),
        ("eigh_full", SmoothEquality),
        ("project_simplex", Qp),
        ("etf_project", SmoothEquality),
        ("weighted_pnp", SmoothEquality),
        ("lp_layer", Lp),
        ("ls_norm_ball", Socp),
        ("lasso", Qp),
        ("logistic_regression", SmoothUnconstrained),
        ("pool_welsch_ball", SmoothInequality),
        ("project_ellipsoid", Socp),
    ];
    let mut found = std::collections::HashMap::new();
    for path in ddn_files(&root().join("stdlib")) {
        for n in compile_path(&path).program.nodes {
            found.insert(n.name.clone(), n.class.family);
        }
    }
    for (name, family) in expect {
        assert_eq!(found.get(name), Some(&family), "node `{name}`");
    }
}

/// Convexity is known only from DCP, as written or after the rewrite stage: a
/// node outside both is "not DCP, convexity unknown", never "not convex"
/// (pseudo-Huber pooling, not DCP as written, is convex after rewriting).
#[test]
fn non_dcp_nodes_are_not_called_nonconvex() {
    let c = compile_path(&root().join("stdlib/robust_pooling.ddn"));
    let text = ddn::report::check_text(&c);
    let node = |name: &str| text.split("node ").find(|n| n.starts_with(&format!("{name}\n"))).expect(name).to_string();
    // convex after rewriting (an SOCP), solved as written by Newton
    let pseudo_huber = node("pool_pseudo_huber");
    assert!(pseudo_huber.contains("family      smooth unconstrained (convex)"), "{pseudo_huber}");
    assert!(pseudo_huber.contains(ddn::dcp::rewrite::VERDICT), "{pseudo_huber}");
    // not DCP and not rewritten (it is not convex): convexity unknown, the
    // smallest non-DCP subexpression named
    let welsch = node("pool_welsch");
    assert!(welsch.contains("(not DCP, convexity unknown: local solutions)"), "{welsch}");
    assert!(welsch.contains("  not DCP at  `"), "{welsch}");
    for path in ddn_files(&root().join("stdlib")) {
        let text = ddn::report::check_text(&compile_path(&path));
        assert!(!text.contains("(not convex"), "{}:\n{text}", path.display());
    }
}
