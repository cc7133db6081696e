//! `fuzz_seeds DIR`: writes each target's seeds ([`ddn_fuzz::seeds`]) as
//! files under `DIR/<target>/`, AFL++'s input folders, leaving out the seeds
//! that take longer than [`SLOW`] in their target.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// A target's name, its seeds, and the target itself.
type Target = (&'static str, fn() -> Result<Vec<Vec<u8>>, String>, fn(&[u8]));

/// A seed slower than this is left out: AFL++ spends its first minutes on the
/// seeds and their deterministic mutations, so one seed at a third of a
/// second (a whole stdlib file through `ddnc explain`, every smooth node's
/// derivation) holds a run at a few executions a second. What such a seed
/// covers, its parts cover (`seeds::stdlib_nodes`: one node a seed).
const SLOW: Duration = Duration::from_millis(30);

fn main() -> ExitCode {
    let Some(dir) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: fuzz_seeds DIR");
        return ExitCode::from(2);
    };
    ddn_fuzz::init();
    let targets: [Target; 3] = [
        ("check", ddn_fuzz::seeds::check, ddn_fuzz::check),
        ("run", ddn_fuzz::seeds::run, ddn_fuzz::run),
        ("readers", ddn_fuzz::seeds::readers, ddn_fuzz::readers),
    ];
    for (target, seeds, drive) in targets {
        let written = seeds().and_then(|seeds| {
            let out = dir.join(target);
            std::fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
            let mut kept = 0;
            for seed in &seeds {
                let start = Instant::now();
                drive(seed);
                if start.elapsed() > SLOW {
                    continue;
                }
                let path = out.join(format!("seed-{kept:04}"));
                std::fs::write(&path, seed).map_err(|e| format!("{}: {e}", path.display()))?;
                kept += 1;
            }
            Ok((kept, seeds.len()))
        });
        match written {
            Ok((kept, all)) => println!("{target}: {kept} seeds ({} over {SLOW:?} left out)", all - kept),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    ExitCode::SUCCESS
}
