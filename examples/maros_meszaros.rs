//! Solves the shared test sets with ddn's interior point method and compares each
//! optimum with `reference_optima.csv` (|f − f*| ≤ rtol · max(1, |f*|)).
//!
//! ```sh
//! cargo run --release --example maros_meszaros                    # the 102 Maros–Mészáros QPs
//! cargo run --release --example maros_meszaros -- --set netlib_lp # or cblib_socp
//! cargo run --release --example maros_meszaros -- --only HS21 --verbose
//! cargo run --release --example maros_meszaros -- --tol 1e-9     # stopping tolerance
//! ```
//!
//! The stopping tolerance defaults to 1e-10 for the QPs and LPs (whose reference
//! tolerances are 1e-6 and 1e-8) and to the solver's 1e-8 for the SOCPs.
//! `tests/suite/testsets.rs` runs the same solves in the test suite and lists
//! every failure with its cause.
//!
//! ```text
//! ```
//!
//! One line per problem (status, objective, reference, relative error, iterations,
//! time), then `solved: N/M`.

// The test suite's reader of the reference CSV; some of its fields are used only
// by the tests.
#[allow(dead_code)]
#[path = "../tests/suite/reference.rs"]
mod reference;

use std::time::Instant;

use ddn::solve::{solve, Settings, Status};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    let set = flag("--set").unwrap_or_else(|| "maros_meszaros".into());
    let only = flag("--only");
    let max_iter: u32 = flag("--max-iter").and_then(|v| v.parse().ok()).unwrap_or(200);
    let tol: Option<f64> = flag("--tol").and_then(|v| v.parse().ok());
    let verbose = args.iter().any(|a| a == "--verbose");

    let problems: Vec<&reference::Reference> = reference::references()
        .iter()
        .filter(|r| r.set == set && only.as_ref().is_none_or(|o| r.problem.eq_ignore_ascii_case(o)))
        .collect();
    if problems.is_empty() {
        eprintln!("no problems in set `{set}` (sets: maros_meszaros, netlib_lp, cblib_socp)");
        std::process::exit(2);
    }
    let mut settings = Settings { max_iter, ..Settings::default() };
    // The reference tolerances are 1e-6 (QPs) and 1e-8 (LPs) relative: the default
    // 1e-8 stopping tolerance is too loose for the LPs, so these sets use 1e-10.
    let tol = tol.or(if set == "cblib_socp" { None } else { Some(1e-10) });
    if let Some(t) = tol {
        (settings.tol_gap_abs, settings.tol_gap_rel, settings.tol_feas) = (t, t, t);
    }
    let mut solved = 0;
    println!(
        "{:<18} {:>6} {:>6} {:<22} {:>16} {:>16} {:>9} {:>5} {:>9}",
        "problem", "n", "m", "status", "objective", "reference", "rel.err", "iter", "seconds"
    );
    for r in &problems {
        let path = reference::data().join(&r.file);
        let program = if r.file.ends_with(".cbf") {
            ddn::io::read_cbf(&path).map(|l| l.program)
        } else {
            ddn::io::read_mps(&path).map(|l| l.program)
        };
        let program = match program {
            Ok(p) => p,
            Err(e) => {
                println!("{:<18} read error: {e}", r.problem);
                continue;
            }
        };
        let start = Instant::now();
        let result = solve(&program, &settings);
        let secs = start.elapsed().as_secs_f64();
        match result {
            Ok(sol) => {
                let f = sol.info.primal_objective;
                let err = (f - r.recommended_obj).abs() / r.recommended_obj.abs().max(1.0);
                let ok = matches!(sol.status, Status::Optimal) && r.accepts(f);
                solved += usize::from(ok);
                println!(
                    "{:<18} {:>6} {:>6} {:<22} {:>16.9e} {:>16.9e} {:>9.1e} {:>5} {:>9.3}{}",
                    r.problem,
                    program.n(),
                    program.m(),
                    format!("{:?}", sol.status),
                    f,
                    r.recommended_obj,
                    err,
                    sol.info.iterations,
                    secs,
                    if ok { "" } else { "  <- not solved" }
                );
                if verbose {
                    println!("    {:?}", sol.info);
                }
            }
            Err(e) => println!("{:<18} invalid problem: {e}", r.problem),
        }
    }
    println!("solved: {solved}/{}", problems.len());
}
