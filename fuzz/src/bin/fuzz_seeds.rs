//! `fuzz_seeds DIR`: writes each target's seeds ([`ddn_fuzz::seeds`]) as
//! files under `DIR/<target>/`, AFL++'s input folders.

use std::path::PathBuf;
use std::process::ExitCode;

type Seeds = fn() -> Result<Vec<Vec<u8>>, String>;

fn main() -> ExitCode {
    let Some(dir) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: fuzz_seeds DIR");
        return ExitCode::from(2);
    };
    ddn_fuzz::init();
    let targets: [(&str, Seeds); 3] =
        [("check", ddn_fuzz::seeds::check), ("run", ddn_fuzz::seeds::run), ("readers", ddn_fuzz::seeds::readers)];
    for (target, seeds) in targets {
        let written = seeds().and_then(|seeds| {
            let out = dir.join(target);
            std::fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
            for (i, seed) in seeds.iter().enumerate() {
                let path = out.join(format!("seed-{i:04}"));
                std::fs::write(&path, seed).map_err(|e| format!("{}: {e}", path.display()))?;
            }
            Ok(seeds.len())
        });
        match written {
            Ok(n) => println!("{target}: {n} seeds"),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    ExitCode::SUCCESS
}
