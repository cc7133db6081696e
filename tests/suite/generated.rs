//! `ddnc build`: the emitted modules of three stdlib files are committed in
//! `tests/generated/` and compiled into this test binary; the tests check that
//! they are what `ddnc build` emits today, and that their typed forward and
//! backward give exactly the runtime's numbers (they call it: the node-specific
//! kernels are the next step of compiled nodes).

use ddn::eval::Tensor;
use ddn::faer::{Col, Mat};
use ddn::runtime::{bind, forward, Status};

// Nodes of the file this test does not call would be dead code here (in a
// user's library they are public API).
#[allow(dead_code)]
mod least_squares_ddn {
    include!("../generated/least_squares.rs");
}
#[allow(dead_code)]
mod simplex_projection_ddn {
    include!("../generated/simplex_projection.rs");
}
#[allow(dead_code)]
mod robust_pooling_ddn {
    include!("../generated/robust_pooling.rs");
}

/// Each committed module is today's `ddnc build` output (regenerate with
/// `ddnc build stdlib/F.ddn -o tests/generated/F.rs`).
#[test]
fn committed_modules_are_current() {
    for f in ["least_squares", "simplex_projection", "robust_pooling"] {
        let path = super::root().join(format!("stdlib/{f}.ddn"));
        let source = std::fs::read_to_string(&path).expect("stdlib file");
        let c = ddn::compile(&format!("{f}.ddn"), &source);
        let emitted = ddn::codegen::emit(&format!("{f}.ddn"), &source, &c.program).expect("emit");
        let committed =
            std::fs::read_to_string(super::root().join(format!("tests/generated/{f}.rs"))).expect("committed");
        assert!(emitted == committed, "tests/generated/{f}.rs is stale: regenerate it with `ddnc build`");
    }
}

/// The emitted Rust of two small nodes, pinned.
#[test]
fn emitted_rust_snapshots() {
    for f in ["least_squares", "simplex_projection"] {
        let text = std::fs::read_to_string(super::root().join(format!("tests/generated/{f}.rs"))).expect("module");
        insta::assert_snapshot!(format!("generated_{f}"), text);
    }
}

#[test]
fn generated_least_squares_matches_the_runtime() {
    use least_squares_ddn::least_squares as ls;
    let a = Mat::from_fn(4, 2, |i, j| [[1.0, 0.5], [0.3, -1.0], [2.0, 0.1], [-0.4, 0.7]][i][j]);
    let b = Col::from_fn(4, |i| [1.0, -0.5, 2.0, 0.3][i]);
    let p = ls::Params { A: a.as_ref(), b: b.as_ref() };
    let mut s = ls::forward(&p).expect("forward");
    assert_eq!(s.status, Status::Optimal);
    let v = Col::from_fn(2, |i| [0.7, -1.2][i]);
    let g = ls::backward(&p, &mut s, &ls::Cotangents { x: Some(v.as_ref()) }).expect("backward");

    let node = super::compile_path(&super::root().join("stdlib/least_squares.ddn")).program.nodes.remove(0);
    let named = [
        ("A".to_string(), Tensor::matrix(4, 2, (0..8).map(|k| a[(k / 2, k % 2)]).collect())),
        ("b".to_string(), Tensor::vector(b.iter().copied().collect())),
    ]
    .into_iter()
    .collect();
    let bound = bind(&node, &named).expect("bind");
    let mut solved = forward(&node, &bound).expect("forward");
    let want = ddn::diff::backward(&node, &bound, &mut solved, &[("x".into(), Tensor::vector(vec![0.7, -1.2]))])
        .expect("backward");
    let x: Vec<f64> = s.x.iter().copied().collect();
    assert_eq!(x, solved.outputs[0].1.data, "x, bit for bit");
    let ga: Vec<f64> = (0..8).map(|k| g.A[(k / 2, k % 2)]).collect();
    assert_eq!(ga, want[0].data, "dL/dA, bit for bit");
    assert_eq!(g.b.iter().copied().collect::<Vec<_>>(), want[1].data, "dL/db, bit for bit");
}

#[test]
fn generated_smooth_and_dual_nodes_run() {
    use robust_pooling_ddn::pool_welsch as pool;
    use simplex_projection_ddn::project_simplex_dual as proj;
    let x = Mat::from_fn(5, 2, |i, j| [[0.1, 2.0], [0.3, -0.2], [3.5, 0.4], [-0.4, 0.1], [0.2, -2.6]][i][j]);
    let p = pool::Params { x: x.as_ref(), alpha: 0.8 };
    let mut s = pool::forward(&p).expect("forward");
    assert_eq!(s.status, Status::Optimal);
    let v = Col::from_fn(2, |i| [0.6, -0.3][i]);
    let g = pool::backward(&p, &mut s, &pool::Cotangents { y: Some(v.as_ref()) }).expect("backward");
    assert!(g.alpha.is_finite() && g.x.nrows() == 5);

    let y = Col::from_fn(4, |i| [0.3, -0.2, 0.9, 0.1][i]);
    let p = proj::Params { y: y.as_ref() };
    let mut s = proj::forward(&p).expect("forward");
    assert!((s.x.iter().sum::<f64>() - 1.0).abs() < 1e-8, "on the simplex");
    let g = proj::backward(&p, &mut s, &proj::Cotangents { total: Some(1.0), ..Default::default() }).expect("backward");
    // dν/dy: the multiplier of Σx = 1 moves with the mean of the support.
    assert!(g.y.iter().all(|v| v.is_finite()));
}

/// The build-script API writes one module per file, and refuses a bad file
/// with its diagnostics.
#[test]
fn build_script_api_writes_modules_and_reports_errors() {
    let dir = std::env::temp_dir().join(format!("ddn-codegen-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let good = super::root().join("stdlib/least_squares.ddn");
    ddn::codegen::compile_files_into(&[good.to_str().expect("utf-8 path")], &dir).expect("compile");
    let written = std::fs::read_to_string(dir.join("least_squares.rs")).expect("written");
    let committed = std::fs::read_to_string(super::root().join("tests/generated/least_squares.rs")).expect("committed");
    assert_eq!(written, committed);
    let bad = dir.join("bad.ddn");
    std::fs::write(&bad, "node k(A: real[m, n]) -> x: real[n] { minimize sum_squares(A @ y) }").expect("write");
    let e = ddn::codegen::compile_files_into(&[bad.to_str().expect("utf-8 path")], &dir).expect_err("bad file");
    assert!(e.contains("error") && e.contains('y'), "{e}");
    std::fs::remove_dir_all(&dir).ok();
}
