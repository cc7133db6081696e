//! The shared test sets solved by ddn's IPM, every problem compared with the
//! reference optimum (|f − f*| ≤ rtol · max(1, |f*|), status `Optimal`). A problem
//! that fails is listed below with its cause; the test fails if any other problem
//! fails, and also if a listed one starts passing (so the list stays true).

use ddn::solve::{solve, Settings, Status};

use super::reference::{data, references};

/// Problems known not to meet the reference, with why (observed 2026-11-29).
const KNOWN_FAILURES: &[(&str, &str)] = &[
    ("QBEACONF", "stalls at the reduced tolerances (AlmostOptimal); objective within 9.5e-7"),
    ("QSIERRA", "stalls at the reduced tolerances (AlmostOptimal); objective within 7.5e-9"),
    ("YAO", "stalls at AlmostOptimal at 91.02 instead of 197.70 (Clarabel 0.11 fails the same way)"),
    ("MODSZK1", "Optimal by the stopping criteria, but the objective is 5.7e-8 off (rtol 1e-8): badly scaled LP"),
    ("PILOT4", "Optimal by the stopping criteria, but the objective is 1.3e-7 off (rtol 1e-8): badly scaled LP"),
    ("sched_50_50_scaled", "stalls at AlmostOptimal, objective 2.2e-6 off"),
    ("nql30", "Optimal by the stopping criteria, objective 1.4e-6 off (rtol 1e-7)"),
    ("qssp30", "Optimal by the stopping criteria, objective 9.3e-7 off (rtol 1e-7)"),
];

fn check_set(set: &str, tol: Option<f64>) {
    let mut settings = Settings::default();
    if let Some(t) = tol {
        (settings.tol_gap_abs, settings.tol_gap_rel, settings.tol_feas) = (t, t, t);
    }
    let mut unexpected = Vec::new();
    let mut now_passing = Vec::new();
    let mut solved = 0;
    let problems: Vec<_> = references().iter().filter(|r| r.set == set).collect();
    for r in &problems {
        let path = data().join(&r.file);
        let program = if r.file.ends_with(".cbf") {
            ddn::io::read_cbf(&path).map(|l| l.program)
        } else {
            ddn::io::read_mps(&path).map(|l| l.program)
        }
        .unwrap_or_else(|e| panic!("{}: {e}", r.problem));
        let sol = solve(&program, &settings).unwrap_or_else(|e| panic!("{}: {e}", r.problem));
        let f = sol.info.primal_objective;
        let ok = sol.status == Status::Optimal && r.accepts(f);
        solved += usize::from(ok);
        let known = KNOWN_FAILURES.iter().any(|(p, _)| *p == r.problem);
        if !ok && !known {
            unexpected.push(format!("{}: {:?}, objective {f:e} vs {:e}", r.problem, sol.status, r.recommended_obj));
        }
        if ok && known {
            now_passing.push(r.problem.clone());
        }
    }
    assert!(unexpected.is_empty(), "{set}: unexpected failures:\n{}", unexpected.join("\n"));
    assert!(now_passing.is_empty(), "{set}: now solved, remove from KNOWN_FAILURES: {now_passing:?}");
    eprintln!("{set}: solved {solved}/{}", problems.len());
}

#[test]
fn maros_meszaros_qps() {
    check_set("maros_meszaros", Some(1e-10));
}

#[test]
fn netlib_lps() {
    check_set("netlib_lp", Some(1e-10));
}

#[test]
fn cblib_socps() {
    check_set("cblib_socp", None);
}
