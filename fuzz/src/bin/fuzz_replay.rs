//! `fuzz_replay TARGET FILE…`: runs each file through the target (`check`,
//! `run` or `readers`) once, in this process, and prints its time, slowest
//! last: how AFL++'s slow queue entries and "hangs" are triaged without the
//! instrumentation, and how a crash is reproduced under a debugger.

use std::process::ExitCode;
use std::time::Instant;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let drive: fn(&[u8]) = match args.next().as_deref() {
        Some("check") => ddn_fuzz::check,
        Some("run") => ddn_fuzz::run,
        Some("readers") => ddn_fuzz::readers,
        _ => {
            eprintln!("usage: fuzz_replay check|run|readers FILE…");
            return ExitCode::from(2);
        }
    };
    ddn_fuzz::init();
    let mut times = Vec::new();
    for path in args {
        match std::fs::read(&path) {
            Ok(bytes) => {
                let start = Instant::now();
                drive(&bytes);
                times.push((start.elapsed(), path));
            }
            Err(e) => {
                eprintln!("error: {path}: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    times.sort();
    for (time, path) in &times {
        println!("{:10.3} ms  {path}", time.as_secs_f64() * 1e3);
    }
    ExitCode::SUCCESS
}
