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
    /// Time a node in process: compile once, then (after one warm-up) repeated
    /// forward and forward+backward calls; prints the median of each.
    Bench {
        #[command(flatten)]
        call: NodeCall,
        /// How many timed calls of each kind (1 to 1000000).
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u64).range(1..=MAX_REPEAT))]
        repeat: u64,
    },
    /// Print a file in the canonical layout.
    Fmt { file: PathBuf },
    /// Emit a Rust module with a typed forward and backward per node.
    Build {
        file: PathBuf,
        /// Where to write the module.
        #[arg(short, long)]
        out: PathBuf,
        /// Prepare a conic node at build time: NODE=INPUTS.json records its
        /// standard form at the sizes of those inputs into the module (repeatable).
        #[arg(long, value_name = "NODE=INPUTS")]
        prepare: Vec<String>,
        /// Prepare every conic node NODE of the file that has DIR/NODE.json.
        #[arg(long, value_name = "DIR")]
        prepare_dir: Option<PathBuf>,
    },
    /// Show what the compiler derived: the checked problem and, with --inputs, its
    /// standard form and the reductions that built it.
    Explain {
        file: PathBuf,
        /// Only this node (required with --inputs when the file has several).
        #[arg(long)]
        node: Option<String>,
        /// Parameter values at which to build the standard form.
        #[arg(long)]
        inputs: Option<PathBuf>,
    },
    /// Solve a test-set problem (MPS, QPS or CBF) with the interior point method and
    /// write the solution as JSON in the file's own terms (names, rows, duals), from
    /// which anyone can recompute the residuals (see `ddn::report::solution`).
    Solve {
        /// A `.mps`, `.qps` or `.cbf` file.
        file: PathBuf,
        /// Optimality tolerance: the solver's relative feasibility and gap tolerances.
        #[arg(long, default_value_t = 1e-8, value_parser = parse_tolerance)]
        tol: f64,
        /// Write the result here instead of stdout.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Solve one node for the inputs given (and, with cotangents, differentiate it).
    Run {
        #[command(flatten)]
        call: NodeCall,
        /// Compare the backward pass with central differences of re-solves (conic
        /// nodes at tolerance 1e-12), at most 64 entries per parameter, and report
        /// the worst relative error per parameter (needs --cotangents).
        #[arg(long, requires = "cotangents")]
        check_gradients: bool,
        /// Parameter tangents dθ, keyed by parameter name (a missing one is zero):
        /// forward mode, the directional derivative of every output, under
        /// `output_tangents`.
        #[arg(long = "tangents", value_name = "DX.json")]
        dx: Option<PathBuf>,
        /// Write the result here instead of stdout.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

/// A node and its inputs: what `run` and `bench` call.
#[derive(clap::Args)]
struct NodeCall {
    file: PathBuf,
    /// The node.
    node: String,
    /// Parameter values: a JSON object from name to number, array or array of rows.
    #[arg(long)]
    inputs: PathBuf,
    /// dL/doutputs, keyed by output name, for the backward pass (with `bench`,
    /// forward+backward is timed too).
    #[arg(long)]
    cotangents: Option<PathBuf>,
    /// What runs the node's kernels: the Cranelift JIT, the interpreter of the
    /// lowered programs, or the tree-walking evaluator (all give the same numbers).
    #[arg(long, value_enum, default_value_t = BackendChoice::Jit)]
    backend: BackendChoice,
}

#[derive(Clone, Copy, ValueEnum)]
enum BackendChoice {
    Jit,
    Interpreter,
    Evaluator,
}

impl From<BackendChoice> for ddn::loaded::Backend {
    fn from(b: BackendChoice) -> Self {
        match b {
            BackendChoice::Jit => ddn::loaded::Backend::Jit,
            BackendChoice::Interpreter => ddn::loaded::Backend::Interpreter,
            BackendChoice::Evaluator => ddn::loaded::Backend::Evaluator,
        }
    }
}

fn read(path: &PathBuf) -> Result<String, String> {
    std::fs::read(path)
        .map_err(|e| format!("error: cannot read `{}`: {e}", path.display()))
        .and_then(|b| String::from_utf8(b).map_err(|_| format!("error: `{}` is not UTF-8 text", path.display())))
}

/// The most timed calls `bench --repeat` takes: enough for any median, and its
/// timings (8 bytes each) are allocated up front.
const MAX_REPEAT: u64 = 1_000_000;

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

/// Pretty JSON to `out`, or to stdout.
fn write_json(value: &serde_json::Value, out: Option<&std::path::Path>) -> Result<(), ExitCode> {
    let text = serde_json::to_string_pretty(value).unwrap_or_default();
    match out {
        Some(path) => std::fs::write(path, text + "\n").map_err(|e| {
            eprintln!("error: cannot write `{}`: {e}", path.display());
            ExitCode::from(2)
        }),
        None => {
            println!("{text}");
            Ok(())
        }
    }
}

/// A tolerance: a finite number in (0, 1).
fn parse_tolerance(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(t) if t > 0.0 && t < 1.0 => Ok(t),
        _ => Err(format!("`{s}` is not a tolerance (a number in (0, 1), such as 1e-9)")),
    }
}

/// `ddnc solve`: read by extension, solve, and write in the file's terms.
fn solve_file(path: &std::path::Path, tol: f64) -> Result<serde_json::Value, String> {
    let mut settings = ddn::solve::Settings::default();
    (settings.tol_gap_abs, settings.tol_gap_rel, settings.tol_feas) = (tol, tol, tol);
    let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("mps" | "qps") => {
            let loaded = ddn::io::read_mps(path).map_err(|e| format!("{}: {e}", path.display()))?;
            let sol = ddn::solve::solve(&loaded.program, &settings).map_err(|e| format!("{}: {e}", path.display()))?;
            Ok(ddn::report::solution::mps_json(&loaded, &sol))
        }
        Some("cbf") => {
            let loaded = ddn::io::read_cbf(path).map_err(|e| format!("{}: {e}", path.display()))?;
            let sol = ddn::solve::solve(&loaded.program, &settings).map_err(|e| format!("{}: {e}", path.display()))?;
            Ok(ddn::report::solution::cbf_json(&loaded, &sol))
        }
        _ => Err(format!("`{}`: expected a .mps, .qps or .cbf file", path.display())),
    }
}

fn run(cli: Cli) -> ExitCode {
    // The budgets against hostile input (ddn::limits) come from the environment:
    // a malformed one is reported before any work, not silently replaced.
    if let Err(e) = ddn::limits::Limits::from_env() {
        eprintln!("error: {e}");
        return ExitCode::from(2);
    }
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
                        eprint!("{}", compiled.diagnostics_text(color));
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
        Command::Run { call, out, check_gradients, dx } => match run_node(&call, check_gradients, dx.as_ref(), color) {
            Ok(result) => {
                // A numerical error is no solution: the JSON says why, and the exit is non-zero.
                let solved = result["status"] != NUMERICAL_ERROR;
                if let Some(m) = result["message"].as_str().filter(|_| !solved) {
                    eprintln!("error: {NUMERICAL_ERROR}: {m}");
                }
                if let Err(code) = write_json(&result, out.as_deref()) {
                    return code;
                }
                if solved {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::FAILURE
                }
            }
            Err(code) => code,
        },
        Command::Solve { file, tol, out } => match solve_file(&file, tol) {
            Ok(result) => match write_json(&result, out.as_deref()) {
                // As `run`: every solved status exits 0, a numerical error does not.
                Ok(()) if result["status"] == NUMERICAL_ERROR => ExitCode::FAILURE,
                Ok(()) => ExitCode::SUCCESS,
                Err(code) => code,
            },
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(2)
            }
        },
        Command::Build { file, out, prepare, prepare_dir } => match build(&file, &out, &prepare, prepare_dir, color) {
            Ok(()) => ExitCode::SUCCESS,
            Err(code) => code,
        },
        Command::Explain { file, node, inputs } => match explain(&file, node.as_deref(), inputs.as_ref(), color) {
            Ok(text) => {
                print!("{text}");
                ExitCode::SUCCESS
            }
            Err(code) => code,
        },
        Command::Bench { call, repeat } => match bench(&call, repeat as usize, color) {
            Ok(()) => ExitCode::SUCCESS,
            Err(code) => code,
        },
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

fn read_json(path: &PathBuf) -> Result<serde_json::Value, ExitCode> {
    let text = read(path).map_err(|e| {
        eprintln!("{e}");
        ExitCode::from(2)
    })?;
    serde_json::from_str(&text).map_err(|e| {
        eprintln!("error: `{}` is not valid JSON: {e}", path.display());
        ExitCode::FAILURE
    })
}

/// Reads and compiles a file, printing its diagnostics; an error stops the command.
fn load(file: &PathBuf, color: Color) -> Result<ddn::Compiled, ExitCode> {
    let text = read(file).map_err(|e| {
        eprintln!("{e}");
        ExitCode::from(2)
    })?;
    let compiled = ddn::compile(&file.display().to_string(), &text);
    eprint!("{}", compiled.diagnostics_text(color));
    if compiled.has_errors() {
        return Err(ExitCode::FAILURE);
    }
    Ok(compiled)
}

fn fail(messages: &[String]) -> ExitCode {
    for m in messages {
        eprintln!("error: {m}");
    }
    ExitCode::FAILURE
}

/// The status of a result that is no solution: the solver's own numerical
/// trouble, or outputs or gradients that are not finite (JSON has no NaN or
/// infinity, and writing them as `null` would pass them off as answers).
const NUMERICAL_ERROR: &str = "numerical_error";

/// The solver's facts without those that were not finite (serde_json holds a
/// NaN or an infinity as `null`): a missing field rather than a fake value.
fn finite_info(info: &ddn::runtime::Info) -> serde_json::Value {
    match serde_json::to_value(info) {
        Ok(serde_json::Value::Object(map)) => {
            serde_json::Value::Object(map.into_iter().filter(|(_, v)| !v.is_null()).collect())
        }
        // A struct of numbers, strings and lists always serialises to an object.
        other => other.unwrap_or(serde_json::Value::Null),
    }
}

/// The JSON of a run that ended in a numerical error: the status and why, no values.
fn numerical_error(node: &str, message: String, info: &ddn::runtime::Info) -> serde_json::Value {
    serde_json::json!({ "node": node, "status": NUMERICAL_ERROR, "message": message, "info": finite_info(info) })
}

/// `ddnc run`: compile, bind and check the inputs, solve, report as JSON.
fn run_node(
    call: &NodeCall,
    check_gradients: bool,
    tangents: Option<&PathBuf>,
    color: Color,
) -> Result<serde_json::Value, ExitCode> {
    let compiled = load(&call.file, color)?;
    let node = loaded(&compiled, call)?;
    let values = ddn::runtime::named_tensors(&read_json(&call.inputs)?).map_err(|e| fail(&e.0))?;
    let cot = match &call.cotangents {
        Some(path) => Some(ddn::runtime::named_tensors(&read_json(path)?).map_err(|e| fail(&e.0))?),
        None => None,
    };
    let dots = match tangents {
        Some(path) => Some(ddn::runtime::named_tensors(&read_json(path)?).map_err(|e| fail(&e.0))?),
        None => None,
    };
    let mut fwd = node.forward(&values).map_err(|e| fail(&[e.to_string()]))?;
    let solved = &fwd.solved;
    // The runtime makes a non-finite output `numerical_error` with `info.message`.
    if solved.status == ddn::runtime::Status::NumericalError {
        let message = solved.info.message.clone().unwrap_or_else(|| {
            let solver = solved.info.solver;
            format!("solver `{solver}` stopped with numerical trouble (`info` holds its last figures)")
        });
        return Ok(numerical_error(&call.node, message, &solved.info));
    }
    // An infeasible or unbounded problem has no solution to give (its outputs are NaN).
    let has_outputs = ddn::runtime::node::non_finite("output", &solved.outputs).is_none();
    let outputs: serde_json::Map<String, serde_json::Value> =
        solved.outputs.iter().map(|(k, t)| (k.clone(), ddn::runtime::tensor_to_json(t))).collect();
    // Gradients only for a solved problem (the contract); other statuses exit 0 without them.
    let (mut gradients, mut gradient_check) = (None, None);
    if let Some(cot) = cot.filter(|_| solved.status.is_solved()) {
        match node.backward(&mut fwd, &cot) {
            Ok(grads) => {
                if check_gradients {
                    gradient_check = Some(gradient_report(&node.analysed(), &values, &cot, &grads));
                }
                let grads: serde_json::Map<String, serde_json::Value> =
                    grads.iter().map(|(k, g)| (k.clone(), ddn::runtime::tensor_to_json(g))).collect();
                gradients = Some(serde_json::Value::Object(grads));
            }
            Err(e) => return pass_failed(&call.node, &fwd.solved, e),
        }
    }
    // Forward mode, likewise only for a solved problem.
    let mut output_tangents = None;
    if let Some(dots) = dots.filter(|_| fwd.solved.status.is_solved()) {
        match node.jvp(&mut fwd, &dots) {
            Ok(t) => {
                let t: serde_json::Map<String, serde_json::Value> =
                    t.iter().map(|(k, v)| (k.clone(), ddn::runtime::tensor_to_json(v))).collect();
                output_tangents = Some(serde_json::Value::Object(t));
            }
            Err(e) => return pass_failed(&call.node, &fwd.solved, e),
        }
    }
    // `info` after the backward pass and the forward mode, which may add warnings.
    let solved = &fwd.solved;
    let mut result = serde_json::json!({
        "node": call.node,
        "status": solved.status.name(),
        "info": finite_info(&solved.info),
    });
    if has_outputs {
        result["outputs"] = serde_json::Value::Object(outputs);
    }
    if let Some(g) = gradients {
        result["gradients"] = g;
    }
    if let Some(c) = gradient_check {
        result["gradient_check"] = c;
    }
    if let Some(t) = output_tangents {
        result["output_tangents"] = t;
    }
    Ok(result)
}

/// A failed backward pass or forward mode: a non-finite result made the status
/// `numerical_error` (the JSON says why, exit non-zero); anything else is an error.
fn pass_failed(
    node: &str,
    solved: &ddn::runtime::Solved,
    e: ddn::runtime::RunError,
) -> Result<serde_json::Value, ExitCode> {
    if solved.status != ddn::runtime::Status::NumericalError {
        return Err(fail(&[e.to_string()]));
    }
    let message = solved.info.message.clone().unwrap_or_else(|| e.to_string());
    Ok(numerical_error(node, message, &solved.info))
}

/// `--check-gradients`: the backward pass against central differences, per
/// parameter on stderr and as JSON.
fn gradient_report(
    node: &ddn::analysis::Analysed<'_>,
    values: &std::collections::BTreeMap<String, ddn::eval::Tensor>,
    cot: &std::collections::BTreeMap<String, ddn::eval::Tensor>,
    grads: &std::collections::BTreeMap<String, ddn::eval::Tensor>,
) -> serde_json::Value {
    let mut report = serde_json::Map::new();
    for c in ddn::runtime::check::check_gradients(node, values, cot, grads) {
        eprintln!(
            "check-gradients: {}: worst relative error {:.1e} ({} of {} entries)",
            c.parameter, c.worst_relative_error, c.checked, c.entries
        );
        let entry = serde_json::json!({
            "worst_relative_error": c.worst_relative_error,
            "entries_checked": c.checked,
            "entries": c.entries,
        });
        report.insert(c.parameter, entry);
    }
    serde_json::Value::Object(report)
}

/// The node `call` names, on the back end it asks for.
fn loaded<'c>(compiled: &'c ddn::Compiled, call: &NodeCall) -> Result<ddn::loaded::LoadedNode<'c>, ExitCode> {
    let name = &call.node;
    let Some(node) = compiled.node(name) else {
        let names: Vec<&str> = compiled.program.nodes.iter().map(|n| n.name.as_str()).collect();
        return Err(fail(&[format!("no node `{name}` in `{}`; it has `{}`", call.file.display(), names.join("`, `"))]));
    };
    ddn::loaded::LoadedNode::new(&node, call.backend.into()).map_err(|e| fail(&[e.to_string()]))
}

/// `ddnc build`.
fn build(
    file: &PathBuf,
    out: &PathBuf,
    prepare: &[String],
    prepare_dir: Option<PathBuf>,
    color: Color,
) -> Result<(), ExitCode> {
    let compiled = load(file, color)?;
    let name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut inputs: Vec<(String, PathBuf)> = Vec::new();
    for p in prepare {
        let Some((node, path)) = p.split_once('=') else {
            return Err(fail(&[format!("--prepare takes NODE=INPUTS.json, not `{p}`")]));
        };
        inputs.push((node.to_string(), PathBuf::from(path)));
    }
    if let Some(dir) = prepare_dir {
        for node in compiled.program.nodes.iter().filter(|n| n.class.family.is_conic()) {
            let path = dir.join(format!("{}.json", node.name));
            if path.is_file() {
                inputs.push((node.name.clone(), path));
            }
        }
    }
    let mut prepared = Vec::new();
    for (node, path) in &inputs {
        let text = read(path).map_err(|e| fail(&[e.trim_start_matches("error: ").to_string()]))?;
        prepared.push(ddn::codegen::Prepare::from_json(node, &text).map_err(|e| fail(&[e.to_string()]))?);
    }
    let module = ddn::codegen::emit(&name, &compiled, &prepared).map_err(|e| fail(&[e.to_string()]))?;
    std::fs::write(out, module).map_err(|e| fail(&[format!("cannot write `{}`: {e}", out.display())]))
}

/// `ddnc explain`.
fn explain(file: &PathBuf, only: Option<&str>, inputs: Option<&PathBuf>, color: Color) -> Result<String, ExitCode> {
    let compiled = load(file, color)?;
    let nodes: Vec<ddn::analysis::Analysed<'_>> = (0..compiled.program.nodes.len())
        .filter_map(|i| compiled.analysed(i))
        .filter(|n| only.is_none_or(|o| n.node.name == o))
        .collect();
    if nodes.is_empty() {
        return Err(fail(&[format!("no node `{}` in `{}`", only.unwrap_or_default(), file.display())]));
    }
    if inputs.is_some() && nodes.len() > 1 {
        return Err(fail(&["--inputs needs --node when the file has several nodes".into()]));
    }
    let mut out = String::new();
    for analysed in nodes {
        let node = analysed.node;
        let standard = match inputs {
            Some(path) if node.class.family.is_conic() => {
                let values = ddn::runtime::named_tensors(&read_json(path)?).map_err(|e| fail(&e.0))?;
                let bound = ddn::runtime::bind(node, &values).map_err(|e| fail(&e.0))?;
                Some(ddn::canon::canonicalize(node, &bound).map_err(|e| fail(&[e.message]))?)
            }
            _ => None,
        };
        out.push_str(&ddn::report::explain_text(&analysed, standard.as_ref()));
    }
    Ok(out)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn show_time(secs: f64) -> String {
    if secs < 1e-3 {
        format!("{:.1} µs", secs * 1e6)
    } else if secs < 1.0 {
        format!("{:.3} ms", secs * 1e3)
    } else {
        format!("{secs:.3} s")
    }
}

/// `ddnc bench`.
fn bench(call: &NodeCall, repeat: usize, color: Color) -> Result<(), ExitCode> {
    use std::time::Instant;
    let start = Instant::now();
    let compiled = load(&call.file, color)?;
    let values = ddn::runtime::named_tensors(&read_json(&call.inputs)?).map_err(|e| fail(&e.0))?;
    // Compiling includes a smooth node's symbolic derivation (egg), lowering the
    // kernels and, on the JIT, their machine code for these inputs' sizes.
    let node = loaded(&compiled, call)?;
    node.prepare(&values).map_err(|e| fail(&[e.to_string()]))?;
    let compile_time = start.elapsed().as_secs_f64();
    let cot = match &call.cotangents {
        Some(p) => Some(ddn::runtime::named_tensors(&read_json(p)?).map_err(|e| fail(&e.0))?),
        None => None,
    };
    // One call per kind, timed end to end: bind the inputs, solve (and differentiate).
    let forward = || node.forward(&values).map_err(|e| fail(&[e.to_string()]));
    let both = |cot: &std::collections::BTreeMap<String, ddn::eval::Tensor>| -> Result<(), ExitCode> {
        let mut fwd = forward()?;
        node.backward(&mut fwd, cot).map_err(|e| fail(&[e.to_string()]))?;
        Ok(())
    };
    let status = forward()?.solved.status;
    let mut fwd = Vec::with_capacity(repeat);
    for _ in 0..repeat {
        let t = Instant::now();
        forward()?;
        fwd.push(t.elapsed().as_secs_f64());
    }
    println!("node {}: status {} ({repeat} calls each, after one warm-up)", call.node, status.name());
    println!("  compile           {}", show_time(compile_time));
    println!("  forward           {} median", show_time(median(fwd)));
    if let Some(cot) = cot {
        both(&cot)?;
        let mut fb = Vec::with_capacity(repeat);
        for _ in 0..repeat {
            let t = Instant::now();
            both(&cot)?;
            fb.push(t.elapsed().as_secs_f64());
        }
        println!("  forward+backward  {} median", show_time(median(fb)));
    }
    Ok(())
}
