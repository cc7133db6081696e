//! `ddnc` as a user runs it: exit codes, stdout/stderr, JSON.

use std::process::{Command, Output};

use super::root;

fn ddnc(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ddnc")).args(args).current_dir(root()).output().expect("run ddnc")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn check_reports_each_node_and_exits_zero() {
    let out = ddnc(&["check", "--color", "never", "stdlib/least_squares.ddn", "stdlib/optnet_qp.ddn"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("node least_squares") && stdout.contains("family      QP (convex)"), "{stdout}");
    assert!(stdout.contains("node optnet_qp"), "{stdout}");
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
}

#[test]
fn check_fails_with_a_caret_on_a_bad_file() {
    let out = ddnc(&["check", "--color", "never", "tests/ui/shape_matmul_inner.ddn"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("error: matrix product `@`: inner dimensions differ"), "{stderr}");
    assert!(stderr.contains("shape_matmul_inner.ddn:4:39") && stderr.contains('^'), "{stderr}");
}

#[test]
fn check_json_is_machine_readable() {
    let out = ddnc(&["check", "--format", "json", "stdlib/optimal_transport.ddn"]);
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("valid JSON");
    assert_eq!(v["ok"], true);
    assert_eq!(v["nodes"][0]["name"], "entropic_ot");
    assert_eq!(v["nodes"][0]["family"], "smooth equality");
    assert_eq!(v["nodes"][0]["parameters"][0]["type"], "real[m, n]");

    let bad = ddnc(&["check", "--format", "json", "tests/ui/name_unknown.ddn"]);
    assert_eq!(bad.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&bad.stdout).expect("valid JSON");
    assert_eq!(v["ok"], false);
    assert_eq!(v["diagnostics"][0]["severity"], "error");
    assert_eq!(v["diagnostics"][0]["line"], 3);
}

#[test]
fn missing_file_and_bad_usage_are_errors_not_panics() {
    let out = ddnc(&["check", "no/such/file.ddn"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("cannot read"));
    let out = ddnc(&["check"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn fmt_prints_the_canonical_layout() {
    let out = ddnc(&["fmt", "stdlib/least_squares.ddn"]);
    assert!(out.status.success());
    assert!(text(&out.stdout).contains(
        "node least_squares(A: real[m, n], b: real[m]) -> x: real[n] {\n    minimize sum_squares(A @ x - b)\n}"
    ));
}
