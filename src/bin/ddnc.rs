//! `ddnc`: the command-line front of ddn. The only code that prints.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use ddn::diag::Color;
use ddn::syntax::printer::{print_file, Style};

#[derive(Parser)]
#[command(
    name = "ddnc",
    version,
    about = "The ddn compiler: declarative optimisation nodes with derived backward passes"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// When to colour diagnostics.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    color: ColorChoice,
}

#[derive(Clone, Copy, ValueEnum)]
enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Clone, Copy, ValueEnum, PartialEq)]
enum Format {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Parse and check files: per node its parameters, outputs, family and convexity verdict.
    Check {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Print a file in the canonical layout.
    Fmt { file: PathBuf },
}

fn read(path: &PathBuf) -> Result<String, String> {
    std::fs::read(path)
        .map_err(|e| format!("error: cannot read `{}`: {e}", path.display()))
        .and_then(|b| String::from_utf8(b).map_err(|_| format!("error: `{}` is not UTF-8 text", path.display())))
}

/// Parsing and checking recurse over expressions; a large stack keeps deeply
/// nested (but accepted) input from overflowing it.
const STACK_BYTES: usize = 256 << 20;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match std::thread::Builder::new().stack_size(STACK_BYTES).spawn(move || run(cli)) {
        Ok(handle) => handle.join().unwrap_or(ExitCode::from(3)),
        Err(e) => {
            eprintln!("error: cannot start the compiler thread: {e}");
            ExitCode::from(3)
        }
    }
}

fn run(cli: Cli) -> ExitCode {
    let color = match cli.color {
        ColorChoice::Always => Color::Always,
        ColorChoice::Never => Color::Never,
        ColorChoice::Auto if std::io::stderr().is_terminal() => Color::Always,
        ColorChoice::Auto => Color::Never,
    };
    match cli.command {
        Command::Check { files, format } => {
            let mut failed = false;
            let mut reports = Vec::new();
            for path in &files {
                let text = match read(path) {
                    Ok(t) => t,
                    Err(e) => {
                        eprintln!("{e}");
                        return ExitCode::from(2);
                    }
                };
                let compiled = ddn::compile(&path.display().to_string(), &text);
                failed |= compiled.has_errors();
                match format {
                    Format::Text => {
                        if files.len() > 1 {
                            println!("== {}", path.display());
                        }
                        print!("{}", ddn::report::check_text(&compiled));
                        eprint!("{}", ddn::report::diagnostics_text(&compiled, color));
                    }
                    Format::Json => reports.push(ddn::report::check_json(&compiled)),
                }
            }
            if format == Format::Json {
                let out = if reports.len() == 1 { reports.remove(0) } else { serde_json::Value::Array(reports) };
                println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
            }
            if failed {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
        Command::Fmt { file } => {
            let text = match read(&file) {
                Ok(t) => t,
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::from(2);
                }
            };
            let mut sources = ddn::diag::SourceMap::new();
            let id = sources.add(file.display().to_string(), text.clone());
            match ddn::syntax::parse(&text, id) {
                Ok(ast) => {
                    print!("{}", print_file(&ast, Style::Pretty));
                    ExitCode::SUCCESS
                }
                Err(d) => {
                    eprint!("{}", ddn::diag::render_all(&sources, &d, color));
                    ExitCode::FAILURE
                }
            }
        }
    }
}
