//! The Maros–Mészáros QPs shipped in `../shared/data` solved by ddn's interior
//! point method and by Clarabel.rs, at the same tolerances, in one run:
//! per-problem times and the shifted geometric mean of solve time
//!
//! ```text
//! sgm(t) = exp(mean(ln(tᵢ + shift))) − shift,   shift = 10 ms,
//! ```
//!
//! with a failure counted as the time limit, as qpbenchmark scores its
//! solvers. A solve succeeds when the solver reports an optimum (ddn `Optimal`,
//! Clarabel `Solved`) whose objective is within the reference's tolerance of
//! `reference_optima.csv` (|f − f*| ≤ rtol · max(1, |f*|), the test suite's
//! judge), within the time limit. Every problem is solved once by each solver
//! and judged before anything is timed; a failure is not timed again.
//!
//! Both run on one thread. ddn: `solve` with its defaults (equilibration,
//! the KKT path `Auto` picks, polishing, the active-set polish unless
//! `--no-active-set-polish`) and the stopping tolerance below.
//! Clarabel 0.11: its defaults, which are its best on these problems
//! (presolve, equilibration, QDLDL — the only direct solver of this build —
//! with static and dynamic regularisation and iterative refinement), the same
//! stopping tolerance for the absolute and relative gap and the feasibility,
//! `verbose = false` and the time limit. Timed per call: ddn's `solve` (its
//! workspace built inside) against Clarabel's `DefaultSolver::new` + `solve`
//! (its setup, presolve and symbolic factorisation inside); reading the file
//! and converting the cone program to Clarabel's CSC matrices are not timed.
//! The two solvers' calls alternate, and each problem's time is the median of
//! its calls (at least 3, more for fast problems, up to ~0.3 s per solver).
//!
//! ```sh
//! cargo bench --bench maros_meszaros                        # all 102, tol 1e-8, limit 10 s
//! cargo bench --bench maros_meszaros -- --only QSHELL       # one problem
//! cargo bench --bench maros_meszaros -- --tol 1e-9 --time-limit 100
//! cargo bench --bench maros_meszaros -- --no-active-set-polish  # ddn without it
//! ```

#[path = "../tests/suite/clarabel_problem.rs"]
mod clarabel_problem;
#[allow(dead_code)]
#[path = "../tests/suite/reference.rs"]
mod reference;

use std::hint::black_box;
use std::time::Instant;

use clarabel::solver::{DefaultSettings, SolverStatus};
use clarabel_problem::ClarabelProblem;
use ddn::solve::{solve, Settings, Status};

/// The shift of the geometric mean (seconds).
const SHIFT: f64 = 0.01;

/// A problem's calls per solver stop after this much time (seconds)…
const BUDGET: f64 = 0.3;
/// … but not before this many calls, nor after this many.
const MIN_CALLS: usize = 3;
const MAX_CALLS: usize = 25;

/// One solver's outcome on one problem: its first call's time, or why it failed.
type Outcome = Result<f64, String>;

/// `exp(mean(ln(t + SHIFT))) − SHIFT`.
fn shifted_geomean(times: &[f64]) -> f64 {
    let mean = times.iter().map(|t| (t + SHIFT).ln()).sum::<f64>() / times.len() as f64;
    mean.exp() - SHIFT
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let k = v.len();
    if k % 2 == 1 {
        v[k / 2]
    } else {
        0.5 * (v[k / 2 - 1] + v[k / 2])
    }
}

fn seconds(f: impl FnOnce()) -> f64 {
    let t = Instant::now();
    f();
    t.elapsed().as_secs_f64()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    let only = flag("--only");
    let tol: f64 = flag("--tol").and_then(|v| v.parse().ok()).unwrap_or(1e-8);
    let limit: f64 = flag("--time-limit").and_then(|v| v.parse().ok()).unwrap_or(10.0);
    faer::set_global_parallelism(faer::Par::Seq);

    let polish_active_set = !args.iter().any(|a| a == "--no-active-set-polish");
    let settings =
        Settings { tol_gap_abs: tol, tol_gap_rel: tol, tol_feas: tol, polish_active_set, ..Settings::default() };
    let cl_settings = DefaultSettings::<f64> {
        verbose: false,
        tol_gap_abs: tol,
        tol_gap_rel: tol,
        tol_feas: tol,
        time_limit: limit,
        ..DefaultSettings::default()
    };
    let problems: Vec<_> = reference::references()
        .iter()
        .filter(|r| r.set == "maros_meszaros" && only.as_ref().is_none_or(|o| r.problem.eq_ignore_ascii_case(o)))
        .collect();
    println!(
        "maros_meszaros: {} problems, tolerance {tol:e}, time limit {limit} s, shift {SHIFT} s, \
         ddn's active-set polish {}",
        problems.len(),
        if polish_active_set { "on" } else { "off" }
    );
    println!(
        "| problem | n | m | ddn (ms) | Clarabel (ms) | ddn / Clarabel | ddn iterations | ddn KKT | ddn status | Clarabel status |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    let (mut t_ddn, mut t_cl) = (Vec::new(), Vec::new());
    let (mut ok_ddn, mut ok_cl) = (0, 0);
    for r in &problems {
        let prog =
            ddn::io::read_mps(reference::data().join(&r.file)).unwrap_or_else(|e| panic!("{}: {e}", r.problem)).program;
        let cl = ClarabelProblem::new(&prog);
        // Once, judged: the first call of each solver.
        let mut ddn_calls = Vec::new();
        let mut sol = None;
        ddn_calls.push(seconds(|| sol = Some(solve(&prog, &settings).expect("valid program"))));
        let sol = sol.expect("solved above");
        let f = sol.info.primal_objective;
        let ddn: Outcome = match sol.status {
            Status::Optimal if r.accepts(f) && ddn_calls[0] <= limit => Ok(ddn_calls[0]),
            Status::Optimal if r.accepts(f) => Err(format!("over the time limit ({:.1} s)", ddn_calls[0])),
            Status::Optimal => Err(format!("objective {f:e} vs {:e}", r.recommended_obj)),
            s => Err(format!("{s:?}")),
        };
        let mut cl_calls = Vec::new();
        let mut out = (SolverStatus::Unsolved, f64::NAN);
        cl_calls.push(seconds(|| {
            let s = cl.solve(&cl_settings);
            out = (s.solution.status, s.solution.obj_val + prog.c0);
        }));
        let clarabel: Outcome = match out {
            (SolverStatus::Solved, f) if r.accepts(f) => Ok(cl_calls[0]),
            (SolverStatus::Solved, f) => Err(format!("objective {f:e} vs {:e}", r.recommended_obj)),
            (s, _) => Err(format!("{s:?}")),
        };
        // Then timed, the two alternating, failures not again.
        let (mut spent_ddn, mut spent_cl) = (ddn_calls[0], cl_calls[0]);
        for _ in 1..MAX_CALLS {
            let more_ddn = ddn.is_ok() && (ddn_calls.len() < MIN_CALLS || spent_ddn < BUDGET);
            let more_cl = clarabel.is_ok() && (cl_calls.len() < MIN_CALLS || spent_cl < BUDGET);
            if !(more_ddn || more_cl) {
                break;
            }
            if more_ddn {
                let t = seconds(|| drop(black_box(solve(black_box(&prog), &settings))));
                spent_ddn += t;
                ddn_calls.push(t);
            }
            if more_cl {
                let t = seconds(|| {
                    black_box(cl.solve(black_box(&cl_settings)));
                });
                spent_cl += t;
                cl_calls.push(t);
            }
        }
        let time = |o: &Outcome, calls: Vec<f64>| if o.is_ok() { median(calls) } else { limit };
        let (td, tc) = (time(&ddn, ddn_calls), time(&clarabel, cl_calls));
        ok_ddn += usize::from(ddn.is_ok());
        ok_cl += usize::from(clarabel.is_ok());
        t_ddn.push(td);
        t_cl.push(tc);
        let shown = |o: &Outcome, t: f64| match o {
            Ok(_) => format!("{:.3}", 1e3 * t),
            Err(_) => "fail".into(),
        };
        let status = |o: &Outcome| match o {
            Ok(_) => "solved".to_string(),
            Err(why) => why.clone(),
        };
        println!(
            "| {} | {} | {} | {} | {} | {:.2} | {} | {} | {} | {} |",
            r.problem,
            prog.n(),
            prog.m(),
            shown(&ddn, td),
            shown(&clarabel, tc),
            td / tc,
            sol.info.iterations,
            sol.info.kkt_method.name(),
            status(&ddn),
            status(&clarabel),
        );
    }
    let (g_ddn, g_cl) = (shifted_geomean(&t_ddn), shifted_geomean(&t_cl));
    let n = problems.len();
    println!(
        "\nshifted geometric mean (shift {:.0} ms, failure = {limit} s): ddn {:.2} ms ({ok_ddn}/{n} solved), \
         Clarabel {:.2} ms ({ok_cl}/{n} solved); ddn / Clarabel = {:.3}",
        1e3 * SHIFT,
        1e3 * g_ddn,
        1e3 * g_cl,
        g_ddn / g_cl
    );
    let both: Vec<(f64, f64)> =
        (0..n).filter(|&i| t_ddn[i] < limit && t_cl[i] < limit).map(|i| (t_ddn[i], t_cl[i])).collect();
    let (bd, bc): (Vec<f64>, Vec<f64>) = both.iter().copied().unzip();
    if !both.is_empty() {
        println!(
            "on the {} problems both solve: ddn {:.2} ms, Clarabel {:.2} ms; ddn / Clarabel = {:.3}",
            both.len(),
            1e3 * shifted_geomean(&bd),
            1e3 * shifted_geomean(&bc),
            shifted_geomean(&bd) / shifted_geomean(&bc)
        );
    }
}
