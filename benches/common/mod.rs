//! Shared by the benchmarks: seeded data, the stdlib nodes compiled once, and
//! the timing settings that keep `cargo bench` within a few minutes on two cores.

// Each bench binary includes this module and uses a different part of it.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, BenchmarkId, SamplingMode};
use ddn::analysis::Analysed;
use ddn::eval::Tensor;

/// A deterministic generator (SplitMix64), so every run sees the same data
/// without a `rand` dependency.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform on [0, 1).
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Standard normal (Box–Muller).
    pub fn normal(&mut self) -> f64 {
        let u = 1.0 - self.uniform(); // (0, 1]
        let v = self.uniform();
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }

    /// `len` standard normal draws.
    pub fn normals(&mut self, len: usize) -> Vec<f64> {
        (0..len).map(|_| self.normal()).collect()
    }
}

/// Compiles a stdlib file and returns its node `name` with its analysis,
/// held for the rest of the run (derived and lowered once, as a compiled
/// file's node is); panics on any error.
pub fn stdlib_node(file: &str, text: &str, name: &str) -> Analysed<'static> {
    let c = ddn::compile(file, text);
    assert!(!c.has_errors(), "{file} does not compile: {:?}", c.diagnostics);
    let node =
        c.program.nodes.into_iter().find(|n| n.name == name).unwrap_or_else(|| panic!("no node `{name}` in {file}"));
    Analysed::new(Box::leak(Box::new(node)), Box::leak(Box::default()))
}

/// Inputs of the OptNet QP layer (stdlib `optnet_qp`) with n variables, 2n
/// inequalities and n/5 equalities, feasible with a unique optimum: Q = LLᵀ + I
/// (L Gaussian, scaled by 1/√n), p, G, A Gaussian, a point z0, h = G z0 + a
/// slack uniform in [0.1, 1.1), b = A z0.
pub fn optnet_inputs(rng: &mut Rng, n: usize) -> Vec<(&'static str, Tensor)> {
    let (k, q) = (2 * n, n / 5);
    let l: Vec<f64> = rng.normals(n * n).into_iter().map(|x| x / (n as f64).sqrt()).collect();
    let mut qm = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..=i {
            let v = (0..n).map(|t| l[i * n + t] * l[j * n + t]).sum::<f64>() + if i == j { 1.0 } else { 0.0 };
            qm[i * n + j] = v;
            qm[j * n + i] = v;
        }
    }
    let p = rng.normals(n);
    let g = rng.normals(k * n);
    let a = rng.normals(q * n);
    let z0 = rng.normals(n);
    let h = (0..k).map(|i| (0..n).map(|j| g[i * n + j] * z0[j]).sum::<f64>() + 0.1 + rng.uniform()).collect();
    let b = (0..q).map(|i| (0..n).map(|j| a[i * n + j] * z0[j]).sum::<f64>()).collect();
    vec![
        ("Q", Tensor::matrix(n, n, qm)),
        ("p", Tensor::vector(p)),
        ("G", Tensor::matrix(k, n, g)),
        ("h", Tensor::vector(h)),
        ("A", Tensor::matrix(q, n, a)),
        ("b", Tensor::vector(b)),
    ]
}

/// Named inputs for `ddn::runtime::bind`.
pub fn inputs(pairs: Vec<(&str, Tensor)>) -> BTreeMap<String, Tensor> {
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

/// Everything runs on one thread: faer's global parallelism (which its dense
/// QR and ddn's evaluator use; ddn's IPM is sequential anyway) is set to
/// sequential, so ddn, the QR baseline and Clarabel (single-threaded) compare
/// like for like, and a second process on the other core disturbs less.
pub fn single_threaded() {
    faer::set_global_parallelism(faer::Par::Seq);
}

/// A call slower than this is not given to criterion (whose 10 samples at
/// least would take minutes): it is timed directly, the median of 3 calls.
pub const CRITERION_MAX_SECONDS: f64 = 1.0;

/// Benchmarks `f` as `group_name/name/n`. `probe` is the time of one call
/// already made (for [`configure`]); past [`CRITERION_MAX_SECONDS`] the probe
/// and two more calls are timed directly and their median printed instead.
pub fn bench<O>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    group_name: &str,
    name: &str,
    n: usize,
    probe: f64,
    mut f: impl FnMut() -> O,
) {
    let id = format!("{group_name}/{name}/{n}");
    if probe > CRITERION_MAX_SECONDS {
        if !selected(&id) {
            return;
        }
        let mut times = vec![probe];
        for _ in 0..2 {
            let (t, out) = time_once(&mut f);
            drop(black_box(out));
            times.push(t);
        }
        let calls = times.iter().map(|t| format!("{t:.3}")).collect::<Vec<_>>().join(", ");
        times.sort_by(f64::total_cmp);
        println!(
            "{id}: median of 3 calls {:.3} s (calls: {calls} s; \
             over {CRITERION_MAX_SECONDS} s a call, so timed directly, not by criterion)",
            times[1]
        );
        return;
    }
    configure(group, probe);
    group.bench_function(BenchmarkId::new(name, n), |b| b.iter(&mut f));
}

/// Whether the benchmark id is selected by the command line's filter (for the
/// directly timed calls, which criterion's own filter does not reach). A
/// simplification of criterion's regex: substring match, with `^` and `$`
/// anchors honoured.
pub fn selected(id: &str) -> bool {
    const WITH_VALUE: [&str; 15] = [
        "--profile-time",
        "--save-baseline",
        "--baseline",
        "--baseline-lenient",
        "--load-baseline",
        "--sample-size",
        "--warm-up-time",
        "--measurement-time",
        "--nresamples",
        "--noise-threshold",
        "--confidence-level",
        "--significance-level",
        "--color",
        "--format",
        "--plotting-backend",
    ];
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut filters = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        if WITH_VALUE.contains(&a.as_str()) {
            i += 1;
        } else if !a.starts_with('-') {
            filters.push(a.as_str());
        }
        i += 1;
    }
    filters.is_empty()
        || filters.iter().any(|f| {
            let (start, f) = f.strip_prefix('^').map_or((false, *f), |f| (true, f));
            let (end, f) = f.strip_suffix('$').map_or((false, f), |f| (true, f));
            match (start, end) {
                (true, true) => id == f,
                (true, false) => id.starts_with(f),
                (false, true) => id.ends_with(f),
                (false, false) => id.contains(f),
            }
        })
}

/// Timing settings from the measured cost of one call: fast calls get 50
/// samples in a 2 s window; slow ones (over 5 ms) 10 samples of one flat batch
/// each, so the whole suite stays within a few minutes on a two-core machine.
pub fn configure(group: &mut BenchmarkGroup<'_, WallTime>, seconds_per_call: f64) {
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(2));
    if seconds_per_call > 5e-3 {
        group.sample_size(10);
        group.sampling_mode(SamplingMode::Flat);
    } else {
        group.sample_size(50);
        group.sampling_mode(SamplingMode::Auto);
    }
}

/// Seconds taken by one call of `f` (a rough probe for [`configure`]), and its result.
pub fn time_once<T>(f: impl FnOnce() -> T) -> (f64, T) {
    let t = std::time::Instant::now();
    let out = f();
    (t.elapsed().as_secs_f64(), out)
}

/// `max |a - b| / max(1, max |b|)`.
pub fn rel_diff(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    let scale = b.iter().fold(1.0f64, |m, x| m.max(x.abs()));
    a.iter().zip(b).fold(0.0f64, |m, (x, y)| m.max((x - y).abs())) / scale
}
