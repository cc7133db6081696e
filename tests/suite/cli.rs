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

#[test]
fn run_solves_a_node_and_prints_the_contract_json() {
    let out =
        ddnc(&["run", "stdlib/least_squares.ddn", "least_squares", "--inputs", "examples/inputs/least_squares.json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("valid JSON");
    assert_eq!(v["node"], "least_squares");
    assert_eq!(v["status"], "optimal");
    assert_eq!(v["info"]["family"], "QP");
    // The line through (0, 1), (1, 2), (2, 4): intercept 5/6, slope 3/2.
    let x: Vec<f64> = v["outputs"]["x"].as_array().expect("x").iter().filter_map(|e| e.as_f64()).collect();
    assert!((x[0] - 5.0 / 6.0).abs() < 1e-6 && (x[1] - 1.5).abs() < 1e-6, "{x:?}");
    assert!(v.get("gradients").is_none());
}

#[test]
fn run_writes_out_and_reports_infeasible_with_exit_zero() {
    let dir = std::env::temp_dir().join(format!("ddnc-run-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let (src, inputs, result) = (dir.join("lp.ddn"), dir.join("in.json"), dir.join("out.json"));
    std::fs::write(&src, "node lp(c: real[n], G: real[k, n], h: real[k]) -> z: real[n] {\n    minimize c @ z\n    subject to { G @ z <= h }\n}\n").expect("write");
    std::fs::write(&inputs, r#"{"c": [1, 0], "G": [[1, 0], [-1, 0]], "h": [-1, 0]}"#).expect("write");
    let out = ddnc(&[
        "run",
        src.to_str().expect("utf-8"),
        "lp",
        "--inputs",
        inputs.to_str().expect("utf-8"),
        "--out",
        result.to_str().expect("utf-8"),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&result).expect("out.json")).expect("JSON");
    assert_eq!(v["status"], "infeasible");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn run_rejects_bad_inputs_with_a_message_and_nonzero_exit() {
    let dir = std::env::temp_dir().join(format!("ddnc-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let cases = [
        (r#"{"A": [[1, 0], [0, 1]], "b": [1, 2, 3]}"#, "dimension `m` is 2 (from `A` axis 0) but input `b` has 3"),
        (r#"{"A": [[1, 0], [0, 1]]}"#, "missing input `b`"),
        (r#"{"A": [[1, 0], [0, 1]], "b": [1, 2], "c": 1}"#, "unknown input `c`"),
        (r#"{"A": [[1, 0], [0, 1]], "b": [1, 1e999]}"#, "not valid JSON"),
        ("[1, 2]", "expected a JSON object"),
    ];
    for (i, (json, want)) in cases.iter().enumerate() {
        let path = dir.join(format!("in{i}.json"));
        std::fs::write(&path, json).expect("write");
        let out =
            ddnc(&["run", "stdlib/least_squares.ddn", "least_squares", "--inputs", path.to_str().expect("utf-8")]);
        assert_eq!(out.status.code(), Some(1), "{json}");
        assert!(text(&out.stderr).contains(want), "{json}: {}", text(&out.stderr));
    }
    let out = ddnc(&["run", "stdlib/least_squares.ddn", "nope", "--inputs", "examples/inputs/least_squares.json"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("no node `nope`"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn run_with_cotangents_returns_gradients_for_every_parameter() {
    let out = ddnc(&[
        "run",
        "stdlib/least_squares.ddn",
        "least_squares",
        "--inputs",
        "examples/inputs/least_squares.json",
        "--cotangents",
        "examples/inputs/least_squares_cotangents.json",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("valid JSON");
    // dL/db = A w with w = (AᵀA)⁻¹ e₀; for A = [1 0; 1 1; 1 2]: AᵀA = [3 3; 3 5],
    // w = (5/6, −1/2), A w = (5/6, 1/3, −1/6).
    let db: Vec<f64> = v["gradients"]["b"].as_array().expect("db").iter().filter_map(|e| e.as_f64()).collect();
    for (g, want) in db.iter().zip([5.0 / 6.0, 1.0 / 3.0, -1.0 / 6.0]) {
        assert!((g - want).abs() < 1e-6, "{db:?}");
    }
    assert_eq!(v["gradients"]["A"].as_array().map(Vec::len), Some(3));
}

#[test]
fn bench_reports_medians() {
    let out = ddnc(&[
        "bench",
        "stdlib/least_squares.ddn",
        "least_squares",
        "--inputs",
        "examples/inputs/least_squares.json",
        "--cotangents",
        "examples/inputs/least_squares_cotangents.json",
        "--repeat",
        "3",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    for line in ["status optimal", "compile", "forward ", "forward+backward"] {
        assert!(stdout.contains(line), "{stdout}");
    }
}

#[test]
fn run_differentiates_smooth_nodes_through_each_forward() {
    for (file, node, inputs, solver, params) in [
        ("stdlib/robust_pooling.ddn", "pool_welsch", "pooling", "newton", &["x", "alpha"][..]),
        ("stdlib/optimal_transport.ddn", "entropic_ot", "entropic_ot", "sinkhorn", &["M", "r", "c", "gamma"][..]),
        ("stdlib/eigen.ddn", "max_eigvec", "max_eigvec", "eigh", &["X"][..]),
    ] {
        let (i, c) = (format!("examples/inputs/{inputs}.json"), format!("examples/inputs/{inputs}_cotangents.json"));
        let out = ddnc(&["run", file, node, "--inputs", &i, "--cotangents", &c]);
        assert!(out.status.success(), "{node}: {}", text(&out.stderr));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("valid JSON");
        assert_eq!((v["status"].as_str(), v["info"]["solver"].as_str()), (Some("optimal"), Some(solver)), "{v}");
        for p in params {
            let g = &v["gradients"][*p];
            let finite = |x: &serde_json::Value| x.as_f64().is_some_and(f64::is_finite);
            let ok = finite(g)
                || g.as_array()
                    .is_some_and(|a| a.iter().all(|e| finite(e) || e.as_array().is_some_and(|r| r.iter().all(finite))));
            assert!(ok, "{node}: dL/d{p} = {g}");
        }
    }
}

/// A scratch folder with the given files, removed by the caller.
fn scratch(tag: &str, files: &[(&str, &str)]) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("ddnc-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    for (name, content) in files {
        std::fs::write(dir.join(name), content).expect("write");
    }
    dir
}

fn path(dir: &std::path::Path, name: &str) -> String {
    dir.join(name).to_str().expect("utf-8").to_string()
}

/// A cotangent must have its output's shape, not just its number of entries: a
/// transposed matrix used to be accepted and gave wrong gradients silently.
#[test]
fn run_rejects_a_transposed_cotangent_naming_both_shapes() {
    let dir = scratch(
        "cot",
        &[
            ("m.ddn", "node fit(A: real[m, n]) -> X: real[m, n] {\n    minimize sum_squares(X - 2 * A)\n}\n"),
            ("in.json", r#"{"A": [[1, 2, 3], [4, 5, 6]]}"#),
            ("good.json", r#"{"X": [[1, 0, 0], [0, 0, 1]]}"#),
            ("transposed.json", r#"{"X": [[1, 0], [0, 0], [0, 1]]}"#),
            ("flat.json", r#"{"X": [1, 0, 0, 0, 0, 1]}"#),
        ],
    );
    let run = |cot: &str| {
        ddnc(&[
            "run",
            &path(&dir, "m.ddn"),
            "fit",
            "--inputs",
            &path(&dir, "in.json"),
            "--cotangents",
            &path(&dir, cot),
        ])
    };
    // X = 2A, so dL/dA = 2·dL/dX.
    let out = run("good.json");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("valid JSON");
    let da: Vec<f64> = v["gradients"]["A"]
        .as_array()
        .expect("dA")
        .iter()
        .flat_map(|r| r.as_array().expect("row").iter().filter_map(|e| e.as_f64()).collect::<Vec<_>>())
        .collect();
    for (g, want) in da.iter().zip([2.0, 0.0, 0.0, 0.0, 0.0, 2.0]) {
        assert!((g - want).abs() < 1e-9, "{da:?}");
    }
    for (cot, found) in [("transposed.json", "a 3×2 matrix"), ("flat.json", "a vector of length 6")] {
        let out = run(cot);
        assert_eq!(out.status.code(), Some(1), "{cot}: {}", text(&out.stdout));
        let want = format!("cotangent `X` is {found}, but the output is a 2×3 matrix");
        assert!(text(&out.stderr).contains(&want), "{cot}: {}", text(&out.stderr));
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// `bench --repeat` with a huge count is a usage error, not a capacity-overflow panic.
#[test]
fn bench_rejects_a_huge_repeat() {
    for repeat in ["18446744073709551615", "0"] {
        let out = ddnc(&[
            "bench",
            "stdlib/least_squares.ddn",
            "least_squares",
            "--inputs",
            "examples/inputs/least_squares.json",
            "--repeat",
            repeat,
        ]);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{repeat}: {stderr}");
        assert!(stderr.contains("'--repeat <REPEAT>'") && stderr.contains("1..=1000000"), "{repeat}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

/// Outputs or gradients that are not finite are a `numerical_error` with a
/// message and a non-zero exit; JSON used to carry them as `null` with exit 0.
#[test]
fn run_reports_non_finite_results_as_numerical_error() {
    let dir = scratch(
        "nan",
        &[
            ("s.ddn", "node scale(a: real[n]) -> x: real[n] {\n    minimize sum_squares(x - 4 * a)\n}\n"),
            ("big.json", r#"{"a": [1e308, 1]}"#),
            ("one.json", r#"{"a": [1, 1]}"#),
            ("cot.json", r#"{"x": [1e308, 0]}"#),
        ],
    );
    let run = |inputs: &str, cot: Option<&str>| {
        let (s, i) = (path(&dir, "s.ddn"), path(&dir, inputs));
        let mut args = vec!["run".to_string(), s, "scale".into(), "--inputs".into(), i];
        if let Some(c) = cot {
            args.extend(["--cotangents".into(), path(&dir, c)]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        ddnc(&args)
    };
    // 4a overflows to infinity (and x with it); dL/da = 4·dL/dx does too.
    for (inputs, cot, what) in [("big.json", None, "output `x`"), ("one.json", Some("cot.json"), "gradient `a`")] {
        let out = run(inputs, cot);
        assert_eq!(out.status.code(), Some(1), "{what}: {}", text(&out.stdout));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("valid JSON");
        assert_eq!(v["status"], "numerical_error", "{v}");
        let message = v["message"].as_str().expect("a message");
        assert!(message.starts_with(&format!("{what} has a non-finite entry (")), "{message}");
        assert!(message.ends_with(") at flat index 0"), "{message}");
        assert!(v.get("outputs").is_none() && v.get("gradients").is_none(), "{v}");
        assert!(!text(&out.stdout).contains("null"), "{}", text(&out.stdout));
        assert!(text(&out.stderr).contains("error: numerical_error:"), "{}", text(&out.stderr));
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Shapes bound at run time are checked against the element and dense-matrix
/// budgets before anything is allocated, with an error naming the budget and
/// the variable that raises it; a malformed budget is a usage error.
#[test]
fn run_checks_bound_sizes_against_the_budgets() {
    let long: Vec<String> = (0..20_000).map(|i| (i % 7).to_string()).collect();
    let long = format!(r#"{{"a": [{}]}}"#, long.join(","));
    let dir = scratch(
        "budget",
        &[
            ("outer.ddn", "node outer(a: real[n]) -> X: real[n, n] {\n    minimize sum_squares(X - 1)\n}\n"),
            ("soft.ddn", "node soft(a: real[n]) -> x: real[n] {\n    minimize sum(exp(x - a)) + sum_squares(x)\n}\n"),
            ("wide.ddn", "node wide(a: real[n]) -> y: real[n] {\n    minimize sum_squares(y - a) + sum(ones(n, 1) * ones(1, n))\n}\n"),
            ("long.json", &long),
        ],
    );
    let run = |file: &str, node: &str, env: &[(&str, &str)]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ddnc"));
        cmd.args(["run", &path(&dir, file), node, "--inputs", &path(&dir, "long.json")]).current_dir(root());
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().expect("run ddnc")
    };
    let out = run("outer.ddn", "outer", &[]);
    assert_eq!(out.status.code(), Some(1));
    let want = "variable `X` has 400000000 entries at n = 20000, more than the element budget (100000000; set DDN_MAX_ELEMENTS to raise it)";
    assert!(text(&out.stderr).contains(want), "{}", text(&out.stderr));
    // An intermediate value: [n, 1] * [1, n] broadcasts to n².
    let out = run("wide.ddn", "wide", &[]);
    assert_eq!(out.status.code(), Some(1));
    let want = "an expression of node `wide` has 400000000 entries at n = 20000, more than the element budget";
    assert!(text(&out.stderr).contains(want), "{}", text(&out.stderr));
    // 20000 unknowns: a dense 20000² Hessian.
    let out = run("soft.ddn", "soft", &[]);
    assert_eq!(out.status.code(), Some(1));
    let want = "node `soft` would build a dense matrix of 400000000 entries (20000 unknowns, 0 constraint entries) at n = 20000, more than the dense-matrix budget (100000000; set DDN_MAX_DENSE_ENTRIES to raise it)";
    assert!(text(&out.stderr).contains(want), "{}", text(&out.stderr));
    let out = run("soft.ddn", "soft", &[("DDN_MAX_DENSE_ENTRIES", "1000")]);
    assert!(text(&out.stderr).contains("more than the dense-matrix budget (1000;"), "{}", text(&out.stderr));
    let out = run("soft.ddn", "soft", &[("DDN_MAX_DENSE_ENTRIES", "lots")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("DDN_MAX_DENSE_ENTRIES must be a positive integer"), "{}", text(&out.stderr));
    let _ = std::fs::remove_dir_all(&dir);
}

/// A literal size is checked at compile time, and raising the budget admits it
/// (checking builds nothing of that size).
#[test]
fn check_size_budget_is_raised_by_its_variable() {
    let dir = scratch(
        "size",
        &[(
            "w.ddn",
            "node f(a: real[n]) -> y: real[n] {\n    minimize sum_squares(y - a) + sum(ones(100000, 100000))\n}\n",
        )],
    );
    let check = |env: Option<&str>| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ddnc"));
        cmd.args(["check", "--color", "never", &path(&dir, "w.ddn")]).current_dir(root());
        if let Some(v) = env {
            cmd.env("DDN_MAX_ELEMENTS", v);
        }
        cmd.output().expect("run ddnc")
    };
    let out = check(None);
    assert_eq!(out.status.code(), Some(1));
    let want = "`real[100000, 100000]` has 10000000000 entries, more than the element budget (100000000; set DDN_MAX_ELEMENTS to raise it)";
    assert!(text(&out.stderr).contains(want), "{}", text(&out.stderr));
    let out = check(Some("10000000000"));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let _ = std::fs::remove_dir_all(&dir);
}

/// `ddnc solve` writes a test-set problem's solution in the file's terms: HS21
/// (`min 0.01x₁² + x₂² − 100`, `10x₁ − x₂ ≥ 10`, `2 ≤ x₁ ≤ 50`, `−50 ≤ x₂ ≤ 50`)
/// has `x = (2, 0)` with the lower bound of `x₁` active, `z₁ = −0.04`; a CBF file
/// gets arrays in file order; a file of another kind and a bad tolerance are
/// errors with exit 2.
#[test]
fn solve_writes_the_solution_in_the_files_terms() {
    let dir = scratch("solve", &[]);
    let out_path = path(&dir, "hs21.json");
    let out = ddnc(&["solve", "../shared/data/maros_meszaros/HS21.qps", "--tol", "1e-10", "--out", &out_path]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&out_path).unwrap()).unwrap();
    assert_eq!(v["status"], "optimal");
    let x: Vec<f64> = v["x"].as_object().unwrap().values().map(|a| a.as_f64().unwrap()).collect();
    assert_eq!(x.len(), 2);
    let z = v["bound_duals"].as_object().unwrap();
    let z1 = z.iter().find(|(_, a)| a.as_f64().unwrap() < -1e-3).map(|(_, a)| a.as_f64().unwrap());
    assert!(z1.is_some_and(|z1| (z1 + 0.04).abs() < 1e-8), "{z:?}");
    assert!((v["objective"].as_f64().unwrap() + 99.96).abs() < 1e-8, "{}", v["objective"]);

    let cbf = ddnc(&["solve", "../shared/data/cblib_socp/sambal.cbf"]);
    assert!(cbf.status.success(), "{}", text(&cbf.stderr));
    let v: serde_json::Value = serde_json::from_slice(&cbf.stdout).unwrap();
    assert!(v["x"].is_array() && v["con_duals"].is_array() && v["var_duals"].is_array(), "{v}");

    let wrong = ddnc(&["solve", "stdlib/least_squares.ddn"]);
    assert_eq!(wrong.status.code(), Some(2));
    assert!(text(&wrong.stderr).contains("expected a .mps, .qps or .cbf file"), "{}", text(&wrong.stderr));
    let tol = ddnc(&["solve", "../shared/data/maros_meszaros/HS21.qps", "--tol", "2"]);
    assert_eq!(tol.status.code(), Some(2));
    assert!(text(&tol.stderr).contains("is not a tolerance"), "{}", text(&tol.stderr));
    std::fs::remove_dir_all(&dir).ok();
}

/// `--check-gradients` reports, per parameter, the backward pass against central
/// differences (here a smooth node, solved by Newton, and least squares), and
/// needs cotangents.
#[test]
fn run_check_gradients_reports_each_parameter() {
    for (file, node, inputs) in [
        ("stdlib/least_squares.ddn", "least_squares", "least_squares"),
        ("stdlib/robust_pooling.ddn", "pool_pseudo_huber", "pooling"),
    ] {
        let (ins, cot) =
            (format!("examples/inputs/{inputs}.json"), format!("examples/inputs/{inputs}_cotangents.json"));
        let out = ddnc(&["run", file, node, "--inputs", &ins, "--cotangents", &cot, "--check-gradients"]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("valid JSON");
        let checks = v["gradient_check"].as_object().expect("gradient_check");
        assert_eq!(checks.len(), v["gradients"].as_object().map_or(0, |g| g.len()), "{v}");
        for (name, c) in checks {
            let err = c["worst_relative_error"].as_f64().unwrap();
            assert!(err < 1e-5 && c["entries_checked"].as_u64() > Some(0), "{name}: {c}");
            assert!(text(&out.stderr).contains(&format!("check-gradients: {name}: worst relative error")));
        }
    }
    let missing = ddnc(&[
        "run",
        "stdlib/least_squares.ddn",
        "least_squares",
        "--inputs",
        "examples/inputs/least_squares.json",
        "--check-gradients",
    ]);
    assert_eq!(missing.status.code(), Some(2), "{}", text(&missing.stderr));
}
