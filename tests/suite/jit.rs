//! The JIT agrees bit for bit with the interpreter and the tree walk: every
//! kernel of every stdlib node, each inlined operation, broadcasting, and errors.

use std::sync::Arc;

use ddn::atoms::Atom;
use ddn::diag::Span;
use ddn::eval::{concrete, Env, EvalError, Op, Tensor};
use ddn::ir::{Arith, Dim, Node, ParamId, Shape};
use ddn::jit::{self, JitKernels};
use ddn::kernel::{Evaluated, Interpreted, KernelSet, Kernels, Slot, Step, Tape};

use super::{compile_path, ddn_files, root, Rng};

type Outcome = Result<Vec<Tensor>, EvalError>;

/// Equal shapes, equal bits (NaN payloads included), or the same error.
fn assert_same(what: &str, expected: &Outcome, got: &Outcome) {
    match (expected, got) {
        (Ok(e), Ok(g)) => {
            assert_eq!(e.len(), g.len(), "{what}: number of outputs");
            for (k, (e, g)) in e.iter().zip(g).enumerate() {
                assert_eq!(e.shape, g.shape, "{what}: output {k} shape");
                let (eb, gb): (Vec<u64>, Vec<u64>) =
                    (e.data.iter().map(|x| x.to_bits()).collect(), g.data.iter().map(|x| x.to_bits()).collect());
                assert_eq!(eb, gb, "{what}: output {k} differs: {:?} vs {:?}", e.data, g.data);
            }
        }
        (Err(e), Err(g)) => assert_eq!(e, g, "{what}: errors differ"),
        _ => panic!("{what}: {expected:?} vs {got:?}"),
    }
}

/// Uniform in [0.5, 2]: inside every atom's domain.
fn positive(rng: &mut Rng, n: usize) -> Vec<f64> {
    (0..n).map(|_| 1.25 + 0.75 * rng.next()).collect()
}

fn tensor(shape: Vec<usize>, data: impl FnOnce(usize) -> Vec<f64>) -> Tensor {
    let n = shape.iter().product();
    Tensor { shape, data: data(n) }
}

/// The node's kernels, with derivative kernels when it can be differentiated,
/// and the shapes of the derived expressions' symbols.
fn kernels(node: &Node) -> (Arc<KernelSet>, Vec<Shape>) {
    let derived = ddn::symbolic::derive(node).ok();
    let syms = derived.as_ref().map(|d| d.syms.iter().map(|s| s.shape.clone()).collect()).unwrap_or_default();
    (Arc::new(KernelSet::new(node, derived.as_ref())), syms)
}

/// Inputs of the declared shapes, every named dimension `n`.
struct Inputs {
    dims: Vec<usize>,
    params: Vec<Tensor>,
    vars: Vec<Tensor>,
    syms: Vec<Tensor>,
}

impl Inputs {
    fn new(
        node: &Node,
        syms: &[Shape],
        n: usize,
        rng: &mut Rng,
        values: &mut dyn FnMut(&mut Rng, usize) -> Vec<f64>,
    ) -> Inputs {
        let dims = vec![n; node.dims.len()];
        let mut make = |s: &Shape| tensor(concrete(s, &dims), |len| values(rng, len));
        let params = node.params.iter().map(|p| make(&p.shape)).collect();
        let vars = node.vars.iter().map(|v| make(&v.shape)).collect();
        let syms = syms.iter().map(&mut make).collect();
        Inputs { dims, params, vars, syms }
    }

    fn env(&self) -> Env<'_> {
        Env { params: &self.params, vars: &self.vars, dims: &self.dims, syms: &self.syms }
    }
}

/// All three back ends on every kernel of `set`.
fn agree(what: &str, set: &Arc<KernelSet>, jit: &JitKernels, env: &Env) {
    for k in &set.kernels {
        let what = format!("{what} {:?}", k.id);
        let evaluated = Evaluated(set.clone()).run(k.id, env);
        let interpreted = Interpreted(set.clone()).run(k.id, env);
        let jitted = jit.run(k.id, env);
        assert_same(&format!("{what} (interpreter)"), &evaluated, &interpreted);
        assert_same(&format!("{what} (jit)"), &evaluated, &jitted);
    }
}

#[test]
fn stdlib_kernels_agree_bit_for_bit() {
    let mut rng = Rng(0x5eed_1e55);
    let mut kernels_run = 0;
    for path in ddn_files(&root().join("stdlib")) {
        let c = compile_path(&path);
        for node in &c.program.nodes {
            let (set, syms) = kernels(node);
            let jit = JitKernels::new(set.clone());
            for seed in 0..3 {
                let inputs = Inputs::new(node, &syms, 3, &mut rng, &mut positive);
                let what = format!("{} `{}` #{seed}", path.display(), node.name);
                agree(&what, &set, &jit, &inputs.env());
                // Every program compiles: none is left to the interpreter, but
                // the Hessian–vector product where a Hessian kernel replaces it
                // (which compiles and agrees on its own).
                let has_hessian = set.get(ddn::kernel::KernelId::Hessian).is_some();
                for (k, p) in set.kernels.iter().zip(jit.compiled(&inputs.dims).unwrap().iter()) {
                    if has_hessian && k.id == ddn::kernel::KernelId::Hvp {
                        assert!(p.is_err(), "{what}: the replaced Hvp kernel was compiled");
                        let alone = jit::compile(&k.program, &inputs.dims).expect("Hvp compiles");
                        assert_same(
                            &format!("{what} Hvp alone"),
                            &k.program.run(&inputs.env()),
                            &alone.run(&inputs.env()),
                        );
                        continue;
                    }
                    assert!(p.is_ok(), "{what} {:?} not compiled: {:?}", k.id, p.as_ref().err());
                }
                kernels_run += set.kernels.len();
            }
        }
    }
    assert!(kernels_run > 100, "only {kernels_run} kernels ran");
}

#[test]
fn errors_agree() {
    let c = ddn::compile(
        "errors.ddn",
        "node f(a: real[n], b: real[n]) -> y: real[n] {
            minimize sum_squares(y - log(a)) + sum_squares(y - b / a) + sum(sqrt(b))
        }",
    );
    assert!(!c.has_errors(), "{}", super::rendered(&c));
    let node = &c.program.nodes[0];
    let (set, syms) = kernels(node);
    let jit = JitKernels::new(set.clone());
    let mut rng = Rng(7);
    // Each case changes entry `i` (of `a` then `b`, as one list) from `x`.
    type Edit = fn(usize, f64) -> f64;
    let cases: [(&str, Edit); 4] = [
        ("log of a negative", |i, x| if i == 1 { -x } else { x }),
        ("division by zero", |i, x| if i == 1 { 0.0 } else { x }),
        ("sqrt of a negative", |i, x| if i == 4 { -x } else { x }),
        ("inside the domains", |_, x| x),
    ];
    for (what, f) in cases {
        let mut inputs = Inputs::new(node, &syms, 3, &mut rng, &mut positive);
        let k = inputs.params[0].len();
        inputs.params[0].data.iter_mut().enumerate().for_each(|(i, x)| *x = f(i, *x));
        inputs.params[1].data.iter_mut().enumerate().for_each(|(i, x)| *x = f(i + k, *x));
        agree(what, &set, &jit, &inputs.env());
        let failed = Interpreted(set.clone()).run(ddn::kernel::KernelId::Data, &inputs.env()).is_err();
        assert_eq!(failed, what != "inside the domains", "{what}");
    }
}

fn shape(s: &[usize]) -> Shape {
    Shape(s.iter().map(|&d| Dim::Fixed(d as u64)).collect())
}

fn param(k: u32, s: &[usize]) -> Step {
    Step { op: Op::Param(ParamId(k)), args: vec![], shape: shape(s), span: Span::default() }
}

/// A program of parameters `inputs` and one step `op` on them.
fn one_step(op: Op, inputs: &[&[usize]], out: &[usize]) -> Tape {
    let mut steps: Vec<Step> = inputs.iter().enumerate().map(|(k, s)| param(k as u32, s)).collect();
    let args = (0..inputs.len() as u32).map(Slot).collect();
    steps.push(Step { op, args, shape: shape(out), span: Span::default() });
    Tape { steps, outputs: vec![Slot(inputs.len() as u32)] }
}

/// Random entries with zeros of both signs, a NaN and infinities among them.
fn awkward(rng: &mut Rng, n: usize) -> Vec<f64> {
    let special = [0.0, -0.0, f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 1.0, -1.0];
    (0..n).map(|i| if i % 3 == 2 { special[(i / 3) % special.len()] } else { 2.0 * rng.next() }).collect()
}

/// `program` by the JIT and by the interpreter on `params`; whether it was inlined.
fn check_program(what: &str, program: &Tape, params: &[Tensor]) -> bool {
    let env = Env { params, vars: &[], dims: &[], syms: &[] };
    let compiled = jit::compile(program, &[]).unwrap_or_else(|e| panic!("{what}: {e}"));
    assert_same(what, &program.run(&env), &compiled.run(&env));
    compiled.fallbacks() == 0
}

#[test]
fn inlined_elementwise_ops_agree_with_apply() {
    let atom = |atom| Op::Atom { atom, axis: None };
    let unary = [
        Op::Neg,
        Op::Pow(2.0),
        Op::Pow(3.0),
        Op::Pow(0.5),
        Op::Pow(-1.0),
        Op::Transpose,
        atom(Atom::Square),
        atom(Atom::Abs),
        atom(Atom::Pos),
        atom(Atom::Sign),
        atom(Atom::Step),
        atom(Atom::Sqrt),
        atom(Atom::InvPos),
        atom(Atom::Exp),
        atom(Atom::Log),
        atom(Atom::Sin),
        atom(Atom::Cos),
        atom(Atom::Tanh),
        atom(Atom::Sigmoid),
        atom(Atom::Logistic),
        atom(Atom::Xlogx),
        atom(Atom::Entr),
    ];
    let mut rng = Rng(11);
    for op in unary {
        let out = if op == Op::Transpose { [3, 2] } else { [2, 3] };
        let program = one_step(op.clone(), &[&[2, 3]], &out);
        for values in [positive as fn(&mut Rng, usize) -> Vec<f64>, awkward, |r: &mut Rng, n| r.vec(n)] {
            let x = tensor(vec![2, 3], |n| values(&mut rng, n));
            assert!(check_program(&format!("{op:?}"), &program, &[x]), "{op:?} is not inlined");
        }
    }
}

#[test]
fn broadcasting_binary_ops_agree_with_apply() {
    let atom = |atom| Op::Atom { atom, axis: None };
    let ops = [
        Op::Binary(Arith::Add),
        Op::Binary(Arith::Sub),
        Op::Binary(Arith::Mul),
        Op::Binary(Arith::Div),
        atom(Atom::Maximum),
        atom(Atom::Minimum),
        atom(Atom::Ge),
        atom(Atom::KlDiv),
    ];
    let shapes: [(&[usize], &[usize], &[usize]); 9] = [
        (&[2, 3], &[2, 3], &[2, 3]),
        (&[], &[2, 3], &[2, 3]),
        (&[2, 3], &[], &[2, 3]),
        (&[3], &[2, 3], &[2, 3]),
        (&[2, 3], &[1, 3], &[2, 3]),
        (&[2, 1], &[2, 3], &[2, 3]),
        (&[2], &[2, 1], &[2, 2]),
        (&[4], &[], &[4]),
        (&[], &[], &[]),
    ];
    let mut rng = Rng(13);
    for op in ops {
        for (a, b, out) in shapes {
            let program = one_step(op.clone(), &[a, b], out);
            for values in [positive as fn(&mut Rng, usize) -> Vec<f64>, awkward] {
                let x = tensor(a.to_vec(), |n| values(&mut rng, n));
                let y = tensor(b.to_vec(), |n| values(&mut rng, n));
                let what = format!("{op:?} {a:?} {b:?}");
                assert!(check_program(&what, &program, &[x, y]), "{what} is not inlined");
            }
        }
    }
}

#[test]
fn reductions_agree_with_apply() {
    let mut rng = Rng(17);
    let full = [Atom::SumSquares, Atom::Norm, Atom::Norm1, Atom::NormInf];
    let by_axis = [Atom::Sum, Atom::Mean, Atom::Max, Atom::Min];
    let cases =
        full.iter().map(|&a| (a, None)).chain(by_axis.iter().flat_map(|&a| [(a, None), (a, Some(0)), (a, Some(1))]));
    for (atom, axis) in cases {
        for input in [&[2usize, 3][..], &[5], &[], &[0]] {
            let out: Vec<usize> = match (axis, input) {
                (Some(0), [_, n]) => vec![*n],
                (Some(1), [m, _]) => vec![*m],
                _ => vec![],
            };
            let program = one_step(Op::Atom { atom, axis }, &[input], &out);
            for values in [positive as fn(&mut Rng, usize) -> Vec<f64>, awkward, |r: &mut Rng, n| r.vec(n)] {
                let x = tensor(input.to_vec(), |n| values(&mut rng, n));
                let what = format!("{atom:?} {axis:?} {input:?}");
                assert!(check_program(&what, &program, &[x]), "{what} is not inlined");
            }
        }
    }
}

#[test]
fn other_dimensions_and_shapes_run_the_interpreter() {
    let program = one_step(Op::Binary(Arith::Mul), &[&[3], &[3]], &[3]);
    let compiled = jit::compile(&program, &[]).unwrap();
    let (a, b) = (Tensor::vector(vec![1.0, 2.0]), Tensor::vector(vec![3.0, 4.0]));
    let params = [a, b];
    let env = Env { params: &params, vars: &[], dims: &[], syms: &[] };
    assert_same("a vector of another length", &program.run(&env), &compiled.run(&env));
    let env = Env { params: &params[..1], vars: &[], dims: &[], syms: &[] };
    assert_same("a missing parameter", &program.run(&env), &compiled.run(&env));
}

#[test]
fn structural_ops_agree_with_apply() {
    let atom = |atom, axis| Op::Atom { atom, axis };
    // The operation, its arguments' shapes and its result's shape.
    type Case = (Op, Vec<&'static [usize]>, &'static [usize]);
    let cases: Vec<Case> = vec![
        (atom(Atom::Outer, None), vec![&[2], &[3]], &[2, 3]),
        (atom(Atom::Outer, None), vec![&[1], &[3]], &[1, 3]),
        (atom(Atom::Spread, None), vec![&[3]], &[2, 3]),
        (atom(Atom::Spread, None), vec![&[2, 1]], &[2, 3]),
        (atom(Atom::Spread, None), vec![&[]], &[2, 3]),
        (atom(Atom::Spread, None), vec![&[]], &[4]),
        (atom(Atom::Spread, Some(0)), vec![&[3]], &[2, 3]),
        (atom(Atom::Spread, Some(1)), vec![&[2]], &[2, 3]),
        (atom(Atom::SumTo, None), vec![&[2, 3]], &[3]),
        (atom(Atom::SumTo, None), vec![&[2, 3]], &[1, 3]),
        (atom(Atom::SumTo, None), vec![&[2, 3]], &[2, 1]),
        (atom(Atom::SumTo, None), vec![&[2, 3]], &[]),
        (atom(Atom::SumTo, None), vec![&[2, 3]], &[2, 3]),
        (atom(Atom::SumTo, None), vec![&[3]], &[]),
        (atom(Atom::Trace, None), vec![&[3, 3]], &[]),
        (atom(Atom::Trace, None), vec![&[2, 3]], &[]),
    ];
    let mut rng = Rng(19);
    for (op, inputs, out) in cases {
        let program = one_step(op.clone(), &inputs, out);
        for values in [positive as fn(&mut Rng, usize) -> Vec<f64>, awkward] {
            let params: Vec<Tensor> = inputs.iter().map(|s| tensor(s.to_vec(), |n| values(&mut rng, n))).collect();
            let what = format!("{op:?} {inputs:?} -> {out:?}");
            assert!(check_program(&what, &program, &params), "{what} is not inlined");
        }
    }
}

/// Rust leaves the zero that `f64::max`/`min` return for `±0.0` unspecified;
/// the JIT does what rustc's code for `apply` does, checked here pair by pair.
#[test]
fn signed_zeros_and_nans_in_max_and_min() {
    let a = Tensor::vector(vec![0.0, -0.0, 0.0, -0.0, f64::NAN, 1.0, f64::NAN]);
    let b = Tensor::vector(vec![-0.0, 0.0, 0.0, -0.0, 1.0, f64::NAN, f64::NAN]);
    for atom in [Atom::Maximum, Atom::Minimum] {
        let program = one_step(Op::Atom { atom, axis: None }, &[&[7], &[7]], &[7]);
        assert!(check_program(&format!("{atom:?}"), &program, &[a.clone(), b.clone()]));
    }
    for (atom, input) in
        [(Atom::Pos, &a), (Atom::Pos, &b), (Atom::Max, &a), (Atom::Max, &b), (Atom::Min, &a), (Atom::Min, &b)]
    {
        let out: &[usize] = if atom == Atom::Pos { &[7] } else { &[] };
        let program = one_step(Op::Atom { atom, axis: None }, &[&[7]], out);
        assert!(check_program(&format!("{atom:?} {:?}", input.data), &program, std::slice::from_ref(input)));
        let zeros = Tensor::vector(vec![0.0, -0.0, -0.0, 0.0]);
        let program = one_step(Op::Atom { atom, axis: None }, &[&[4]], if atom == Atom::Pos { &[4] } else { &[] });
        assert!(check_program(&format!("{atom:?} zeros"), &program, &[zeros]));
    }
}

/// One `JitKernels` shared by threads (compiling on first use, per dimension
/// sizes), and modules compiled and freed again and again.
#[test]
fn shared_across_threads_and_freed() {
    let c = compile_path(&root().join("stdlib").join("robust_pooling.ddn"));
    let node = c.program.nodes.iter().find(|n| n.name == "pool_pseudo_huber").expect("pool_pseudo_huber");
    let (set, syms) = kernels(node);
    let jit = Arc::new(JitKernels::new(set.clone()));
    std::thread::scope(|s| {
        for t in 0..4u64 {
            let (jit, set, syms) = (jit.clone(), set.clone(), syms.clone());
            s.spawn(move || {
                let mut rng = Rng(100 + t);
                for n in [2, 3, 4] {
                    let inputs = Inputs::new(node, &syms, n, &mut rng, &mut positive);
                    agree(&format!("thread {t}, n = {n}"), &set, &jit, &inputs.env());
                }
            });
        }
    });
    let program = &set.get(ddn::kernel::KernelId::Hvp).unwrap().program;
    let mut rng = Rng(5);
    let inputs = Inputs::new(node, &syms, 3, &mut rng, &mut positive);
    let expected = program.run(&inputs.env());
    for _ in 0..50 {
        let compiled = jit::compile(program, &inputs.dims).unwrap();
        assert_same("recompiled", &expected, &compiled.run(&inputs.env()));
    }
}

/// More sizes than the cache keeps: it starts afresh and every answer stays
/// the interpreter's.
#[test]
fn many_sizes_through_one_cache() {
    let c = compile_path(&root().join("stdlib").join("robust_pooling.ddn"));
    let node = c.program.nodes.iter().find(|n| n.name == "pool_quadratic").expect("pool_quadratic");
    let (set, syms) = kernels(node);
    let jit = JitKernels::new(set.clone());
    let mut rng = Rng(77);
    for round in 0..2 {
        for n in 1..=40 {
            let inputs = Inputs::new(node, &syms, n, &mut rng, &mut positive);
            agree(&format!("round {round}, n = {n}"), &set, &jit, &inputs.env());
        }
    }
}

#[test]
fn huber_agrees_with_apply() {
    let program = one_step(Op::Atom { atom: Atom::Huber, axis: None }, &[&[2, 3], &[]], &[2, 3]);
    let mut rng = Rng(23);
    for m in [1.0, 0.5, 0.0, -0.0, -1.0, f64::NAN, f64::INFINITY] {
        for values in [positive as fn(&mut Rng, usize) -> Vec<f64>, awkward, |r: &mut Rng, n| r.vec(n)] {
            let x = tensor(vec![2, 3], |n| values(&mut rng, n));
            assert!(check_program(&format!("huber M = {m}"), &program, &[x, Tensor::scalar(m)]));
        }
    }
}

/// Nodes whose kernels fuse rows: sums along rows, `spread` back, sums down
/// columns (`sum_to`), totals, a transposed product (the pooling Hessian),
/// weights per row, values read inside and after a loop nest.
const FUSED: &str = "
node pool(x: real[n, d], alpha: pos) -> y: real[d] {
    minimize alpha^2 * sum(sqrt(1 + sum((x - y)^2, axis = 1) / alpha^2) - 1)
    init y = mean(x, axis = 0)
    solve using newton
}
node welsch(x: real[n, d], alpha: pos) -> y: real[d] {
    minimize sum(1 - exp(-(x - y)^2 / (2 * alpha^2))) + 0.1 * sum_squares(x - y)
    init y = mean(x, axis = 0)
}
node weighted(x: real[n, d], w: pos[n], c: real[d]) -> y: real[d] {
    minimize sum(w * log(1 + mean((x - y)^2, axis = 1))) + sum_squares(y - c) + sum(sum(x - y, axis = 1)^3)
}
";

/// A node's inputs at dimension sizes by name.
fn sized_inputs(node: &Node, syms: &[Shape], sizes: &[(&str, usize)], rng: &mut Rng) -> Inputs {
    let dims: Vec<usize> =
        node.dims.iter().map(|i| sizes.iter().find(|(n, _)| *n == i.name).map_or(2, |(_, s)| *s)).collect();
    let mut make = |s: &Shape| tensor(concrete(s, &dims), |len| positive(rng, len));
    let params = node.params.iter().map(|p| make(&p.shape)).collect();
    let vars = node.vars.iter().map(|v| make(&v.shape)).collect();
    let syms = syms.iter().map(&mut make).collect();
    Inputs { dims, params, vars, syms }
}

#[test]
fn fused_loops_agree_bit_for_bit() {
    let c = ddn::compile("fused.ddn", FUSED);
    assert!(!c.has_errors(), "{}", super::rendered(&c));
    let mut rng = Rng(0xf05e);
    for node in &c.program.nodes {
        let (set, syms) = kernels(node);
        assert!(set.get(ddn::kernel::KernelId::Hessian).is_some(), "{}: no Hessian kernel", node.name);
        let jit = JitKernels::new(set.clone());
        // One row, one column, a square (rows and columns of one length), and taller and wider.
        for (n, d) in [(1, 1), (1, 4), (2, 1), (3, 3), (5, 2), (4, 7)] {
            let inputs = sized_inputs(node, &syms, &[("n", n), ("d", d)], &mut rng);
            let what = format!("`{}` n = {n}, d = {d}", node.name);
            agree(&what, &set, &jit, &inputs.env());
            // Nests need two rows; with them, the gradient's steps share loops.
            let compiled = jit.compiled(&inputs.dims).unwrap();
            let gradient = compiled[set.index(ddn::kernel::KernelId::Gradient).unwrap()].as_ref().unwrap();
            assert_eq!(gradient.fused() > 0, n >= 2, "{what}: {} gradient steps in loop nests", gradient.fused());
        }
    }
}

#[test]
fn errors_inside_fused_loops_agree() {
    let c = ddn::compile(
        "errors.ddn",
        "node f(x: real[n, d], a: real[n]) -> y: real[d] {
            maximize sum(a / sum(x, axis = 1)) + sum(sqrt(sum(x - y, axis = 1))) + sum(log(x - y))
        }",
    );
    assert!(!c.has_errors(), "{}", super::rendered(&c));
    let node = &c.program.nodes[0];
    let (set, syms) = kernels(node);
    let jit = JitKernels::new(set.clone());
    let mut rng = Rng(11);
    // Each case edits entry `i` of x (4 × 3); y is in [0.5, 2].
    type Edit = fn(usize, f64) -> f64;
    let cases: [(&str, Edit); 4] = [
        ("sqrt of a negative row sum", |i, x| if i / 3 == 2 { x - 10.0 } else { x + 2.0 }),
        ("a zero row sum", |i, x| if i / 3 == 1 { [3.0, -3.0, 0.0][i % 3] } else { x + 2.0 }),
        ("log of a negative entry", |i, x| if i == 7 { -x } else { x + 2.0 }),
        ("inside the domains", |_, x| x + 2.0),
    ];
    for (what, f) in cases {
        let mut inputs = sized_inputs(node, &syms, &[("n", 4), ("d", 3)], &mut rng);
        inputs.params[0].data.iter_mut().enumerate().for_each(|(i, x)| *x = f(i, *x));
        agree(what, &set, &jit, &inputs.env());
        let failed = Interpreted(set.clone()).run(ddn::kernel::KernelId::Objective, &inputs.env()).is_err();
        assert_eq!(failed, what != "inside the domains", "{what}");
    }
}
