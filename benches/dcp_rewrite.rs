//! The DCP rewrite stage (`ddn::dcp::rewrite`, issue 15), in the group
//! `dcp_rewrite`:
//!
//! - `stage_<node>`: the stage on each stdlib node that is not DCP as written
//!   (`rewrite::rewrite_node`: equality saturation, extraction, explanation),
//!   exactly what `ddnc check` runs on it; these nodes keep their text (checked
//!   before timing), so the input is the text as written;
//! - `stage_corpus_<i>`: the same on corpus entry `i` (tests/suite/rewrite_corpus.rs)
//!   when it keeps its text (smooth as written); `compile_corpus_<i>`:
//!   `ddn::compile` of entry `i` (parse, checks, classification, the stage),
//!   an upper bound of the stage for every entry, including those whose text
//!   the DCP form replaces; `compile_dcp_baseline`: `ddn::compile` of the same
//!   node head with a DCP body (no stage), the baseline in the same run;
//! - `pool_newton` / `pool_ipm` (n = 1024, d = 16): the forward of the
//!   pseudo-Huber pooling node on point distances (the side-by-side
//!   benchmark's `POOL_SRC`, tests/symbolic/structure.ddn) by the default
//!   forward (Newton on the text as written) and with `solve using ipm` (the
//!   interior point method on its SOCP form): the measurement behind the
//!   default. Both answers are checked equal (1e-6) before timing.
//!
//! ```sh
//! cargo bench --bench dcp_rewrite
//! ```

mod common;

// The module also lists the entries the stage does not rewrite yet (`NOT_YET`),
// which only the tests use.
#[allow(dead_code)]
#[path = "../tests/suite/rewrite_corpus.rs"]
mod corpus;

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use ddn::dcp::rewrite::{rewrite_node, RULES};
use ddn::eval::Tensor;
use ddn::ir::Node;
use ddn::runtime::{bind, forward, Options, Status};

use common::{bench, inputs, rel_diff, single_threaded, stdlib_node, time_once, Rng};

const GROUP: &str = "dcp_rewrite";

fn rewritten(n: &Node) -> bool {
    n.class.notes.iter().any(|s| s.starts_with(RULES))
}

/// Times the stage on `node` (whose text is the text as written).
fn bench_stage(c: &mut Criterion, name: &str, node: &Node) {
    let mut group = c.benchmark_group(GROUP);
    let (t, _) = time_once(|| rewrite_node(node));
    bench(&mut group, GROUP, name, 1, t, || rewrite_node(black_box(node)));
    group.finish();
}

fn dcp_rewrite(c: &mut Criterion) {
    single_threaded();
    let stdlib = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("stdlib");
    let mut files: Vec<_> = std::fs::read_dir(&stdlib)
        .expect("stdlib")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "ddn") && !p.ends_with("prelude.ddn"))
        .collect();
    files.sort();
    for path in files {
        let text = std::fs::read_to_string(&path).expect("read");
        let name = path.file_name().and_then(|s| s.to_str()).unwrap_or("?").to_string();
        let compiled = ddn::compile(&name, &text);
        assert!(!compiled.has_errors(), "{name}");
        for node in &compiled.program.nodes {
            if node.class.reason.starts_with("DCP-convex") {
                continue; // the stage does not run on a DCP node
            }
            // a stdlib node the stage helps keeps its text (smooth as written)
            assert!(!rewritten(node) || !node.class.family.is_conic(), "{}: text replaced", node.name);
            bench_stage(c, &format!("stage_{}", node.name), node);
        }
    }

    let mut group = c.benchmark_group(GROUP);
    let baseline = format!("{} {{ minimize sum_squares(x - a) + (u - 1)^2 + (v - 1)^2 + y }}", corpus::HEAD);
    let (t, _) = time_once(|| ddn::compile("t.ddn", &baseline));
    bench(&mut group, GROUP, "compile_dcp_baseline", 1, t, || ddn::compile("t.ddn", black_box(&baseline)));
    group.finish();
    for (i, body) in corpus::CORPUS.iter().map(|e| e.body).enumerate() {
        let src = format!("{} {{ {body} }}", corpus::HEAD);
        let (t, compiled) = time_once(|| ddn::compile("t.ddn", &src));
        let node = compiled.program.nodes.first().expect("corpus node");
        assert!(rewritten(node), "{body}");
        let mut group = c.benchmark_group(GROUP);
        bench(&mut group, GROUP, &format!("compile_corpus_{i:02}"), 1, t, || ddn::compile("t.ddn", black_box(&src)));
        group.finish();
        if !node.class.family.is_conic() {
            bench_stage(c, &format!("stage_corpus_{i:02}"), node);
        }
    }

    // Newton on the text as written against the interior point method on the
    // SOCP form, on the side-by-side benchmark's pooling node.
    let text = include_str!("../tests/symbolic/structure.ddn");
    let newton = stdlib_node("structure.ddn", text, "pool_vec_pseudo_huber");
    let ipm_text =
        text.replacen("    init y = mean(x, axis = 0)\n}", "    init y = mean(x, axis = 0)\n    solve using ipm\n}", 1);
    let ipm = stdlib_node("structure.ddn", &ipm_text, "pool_vec_pseudo_huber");
    assert!(!newton.class.family.is_conic() && ipm.class.family.is_conic(), "{:?} / {:?}", newton.class, ipm.class);
    let (n, d) = (1024, 16);
    let mut rng = Rng::new(0x9101 + n as u64);
    let x: Vec<f64> =
        (0..n * d).map(|k| rng.normal() + if (k / d) % 10 == 0 { 5.0 + 10.0 * rng.normal() } else { 0.0 }).collect();
    let named = inputs(vec![("x", Tensor::matrix(n, d, x)), ("alpha", Tensor::scalar(1.0))]);
    let bn = bind(&newton, &named).expect("bind");
    let bi = bind(&ipm, &named).expect("bind");
    let (t_newton, yn) = time_once(|| forward(&newton, &bn, &Options::default()).expect("newton"));
    let (t_ipm, yi) = time_once(|| forward(&ipm, &bi, &Options::default()).expect("ipm"));
    assert_eq!(yn.status, Status::Optimal, "{:?}", yn.info);
    assert_eq!(yi.status, Status::Optimal, "{:?}", yi.info);
    let err = rel_diff(&yi.outputs[0].1.data, &yn.outputs[0].1.data);
    assert!(err <= 1e-6, "Newton and the interior point method disagree: {err:e}");
    println!("pool n = {n}, d = {d}: ipm/newton max relative difference {err:.1e}");
    let mut group = c.benchmark_group(GROUP);
    bench(&mut group, GROUP, "pool_newton", n, t_newton, || {
        forward(&newton, black_box(&bn), &Options::default()).expect("newton")
    });
    bench(&mut group, GROUP, "pool_ipm", n, t_ipm, || forward(&ipm, black_box(&bi), &Options::default()).expect("ipm"));
    group.finish();
}

criterion_group!(benches, dcp_rewrite);
criterion_main!(benches);
