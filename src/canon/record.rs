//! The reductions recorded once per shape as a straight-line program: the
//! *refill* that recomputes a standard form's numbers from new parameter values
//! without running the reductions again, and its adjoint.
//!
//! [`Rec`] is the reductions' number type (see [`super::scalar`]) that, besides
//! its value, names the [`Refill`] step that computes it. Running the reductions
//! once over `Rec` leaves, in a thread-local recording, every arithmetic
//! operation whose operands depend on the parameters (operations on constants
//! fold), so that
//!
//! ```text
//! leaves (entries of the node's data tensors) → steps → (P, q, A, b) or (M, d)
//! ```
//!
//! is a program of scalar steps in evaluation order. Replaying it performs each
//! operation on the same operands in the same order as the `f64` reductions, so
//! the numbers are equal (two simplifications are exact: `x·1 = x`, and `x·0 = 0`
//! for a finite leaf x, which the replay checks). The adjoint is the reverse
//! sweep of the same steps.
//!
//! **Guards.** The reductions make decisions from data (a sign decides an
//! epigraph's direction, a zero divisor is an error). Over `Rec` each decision
//! goes through [`Scalar::all`] / [`Scalar::any`], which records the operands
//! and the outcome as a [`Guard`]; a replay re-evaluates every guard and reports
//! a failure, and the caller then canonicalises afresh (and may record again). A
//! decision that cannot be replayed marks the recording opaque: it is refused.
//!
//! **Square roots.** `quad_form(x, Q)` in a constraint takes `S = Q^½` of a
//! parameter-dependent Q ([`super::root`]): one block step [`Step::Root`] whose
//! replay recomputes S from the replayed Q and whose adjoint is the Sylvester
//! solve [`Sqrt::adjoint`]. Q must be positive definite at recording and at
//! every replay (a singular Q has no bounded derivative through S): a replay at
//! a singular Q misses ([`Miss::Root`]), a recording at one is opaque.
//!
//! **Zeros.** The `f64` reductions drop a coefficient that happens to be zero at
//! the given values; the recording keeps every coefficient that depends on the
//! parameters, zero or not, so the pattern is the same for every value and the
//! adjoint sees every coefficient's sensitivity.

use std::cell::RefCell;
use std::ops::{Add, Div, Mul, Neg, Sub};

use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, Par};

use super::builder::{gram_into, Coefficient};
use super::root::Sqrt;
use super::scalar::{root_error, Scalar, Test};

/// No step: a constant.
const CONSTANT: u32 = u32::MAX;

/// A number with the step that computes it (or a constant).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rec {
    v: f64,
    id: u32,
}

/// Where a leaf's value comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// Entry `index` of parameter `param` (a data expression that is a bare parameter).
    Param {
        /// The parameter's position in the node's declaration.
        param: u32,
        /// The entry, row-major.
        index: u32,
    },
    /// Entry `index` of output `output` of the node's `Data` kernel.
    Data {
        /// The kernel output's position.
        output: u32,
        /// The entry, row-major.
        index: u32,
    },
}

/// One step of a refill program: the value of step k from earlier steps.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Step {
    /// A parameter or `Data` kernel entry, read as it is.
    Leaf(Source),
    /// `x + y` of steps x and y.
    Add(u32, u32),
    /// `x − y`.
    Sub(u32, u32),
    /// `x · y`.
    Mul(u32, u32),
    /// `x / y`.
    Div(u32, u32),
    /// `x + c`.
    AddC(u32, f64),
    /// `x − c`.
    SubC(u32, f64),
    /// `c − x`.
    CSub(f64, u32),
    /// `x · c`.
    MulC(u32, f64),
    /// `x / c`.
    DivC(u32, f64),
    /// `c / x`.
    CDiv(f64, u32),
    /// Block `g` of [`Refill::grams`]: `H = Mᵀ·W`, its upper triangle the values
    /// of the steps that follow ([`Step::Part`]).
    Gram(u32),
    /// One entry of the preceding [`Step::Gram`]'s or [`Step::Root`]'s result.
    Part,
    /// Block `r` of [`Refill::roots`]: `S = Q^½` ([`Sqrt`]), its n² entries
    /// (row-major) the values of the steps that follow ([`Step::Part`]).
    Root(u32),
}

/// A recorded `S = Q^½` (`Scalar::psd_root`): Q (`n × n`, row-major) as values.
#[derive(Clone, Debug, PartialEq)]
pub struct Root {
    /// The order of Q.
    pub n: usize,
    /// Q's n² entries, row-major.
    pub q: Vec<Value>,
}

/// The entries of a [`Gram`] block's M and W at the current values (scratch).
type GramEntries = (Vec<(usize, usize, f64)>, Vec<(usize, usize, f64)>);

/// A recorded `H = Mᵀ·W` (`Coefficient::gram`): M and W as
/// entries added to zero `rows × k` matrices.
#[derive(Clone, Debug, PartialEq)]
pub struct Gram {
    /// The rows of M and W.
    pub rows: usize,
    /// The columns of M and W (H is `k × k`).
    pub k: usize,
    /// M's entries, `(row, column, value)`, added in order.
    pub m: Vec<(usize, usize, Value)>,
    /// W's entries, likewise.
    pub w: Vec<(usize, usize, Value)>,
}

/// A recorded decision: `all` / `any` entries pass `test`, with the outcome it had.
#[derive(Clone, Debug, PartialEq)]
pub struct Guard {
    /// Whether one passing entry suffices (`any`) rather than all (`all`).
    pub any: bool,
    /// The test each entry is put to.
    pub test: Test,
    /// The steps whose values are tested.
    pub steps: Vec<u32>,
    /// The decision's outcome when it was recorded: a replay whose decision
    /// differs cannot be used ([`Miss::Guard`]).
    pub outcome: bool,
}

/// A value of the recorded program: a constant or a step's value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Value {
    /// A constant of the reductions.
    Const(f64),
    /// The value of a step.
    Step(u32),
}

impl Rec {
    /// Where the value comes from in the program.
    pub fn source(self) -> Value {
        if self.id == CONSTANT {
            Value::Const(self.v)
        } else {
            Value::Step(self.id)
        }
    }
}

/// The recording in progress on this thread.
#[derive(Default)]
struct Recording {
    steps: Vec<Step>,
    guards: Vec<Guard>,
    grams: Vec<Gram>,
    roots: Vec<Root>,
    /// Why the recording cannot be replayed, if it cannot.
    opaque: Option<String>,
}

thread_local! {
    static RECORDING: RefCell<Recording> = RefCell::new(Recording::default());
}

fn push(step: Step, v: f64) -> Rec {
    RECORDING.with(|r| {
        let mut r = r.borrow_mut();
        r.steps.push(step);
        Rec { v, id: (r.steps.len() - 1) as u32 }
    })
}

fn is_leaf(id: u32) -> bool {
    RECORDING.with(|r| matches!(r.borrow().steps.get(id as usize), Some(Step::Leaf(_))))
}

impl Rec {
    /// A leaf with value `v` read from `source`.
    pub fn leaf(v: f64, source: Source) -> Rec {
        push(Step::Leaf(source), v)
    }

    /// The value, read without recording a decision: for the structure kept
    /// beside the program, never for a choice the reductions make.
    pub fn value_unrecorded(self) -> f64 {
        self.v
    }

    /// Marks the recording as not replayable, with the reason.
    pub fn opaque(reason: &str) {
        RECORDING.with(|r| {
            r.borrow_mut().opaque.get_or_insert_with(|| reason.to_string());
        });
    }
}

/// One recording: an empty program for the reductions to record into; the
/// thread's previous recording is set aside and restored when dropped.
pub struct RecordSession {
    outer: Recording,
}

impl RecordSession {
    pub fn start() -> RecordSession {
        RecordSession { outer: RECORDING.with(|r| std::mem::take(&mut *r.borrow_mut())) }
    }

    /// The program recorded, or why it cannot be replayed; `outputs` are the
    /// values the caller reads from it (steps none of them, no guard and no
    /// block needs are dropped).
    pub fn finish(self, outputs: &[Rec]) -> Result<Refill, String> {
        let r = RECORDING.with(|r| std::mem::take(&mut *r.borrow_mut()));
        match r.opaque {
            Some(reason) => Err(reason),
            None => {
                let live = live_steps(&r, outputs);
                let mut refill = Refill::new(r.steps, &live, r.guards, r.grams);
                refill.set_roots(r.roots);
                Ok(refill)
            }
        }
    }
}

impl Drop for RecordSession {
    fn drop(&mut self) {
        let outer = std::mem::take(&mut self.outer);
        RECORDING.with(|r| *r.borrow_mut() = outer);
    }
}

impl From<f64> for Rec {
    fn from(v: f64) -> Rec {
        Rec { v, id: CONSTANT }
    }
}

impl Add for Rec {
    type Output = Rec;
    fn add(self, b: Rec) -> Rec {
        let v = self.v + b.v;
        match (self.id, b.id) {
            (CONSTANT, CONSTANT) => Rec::from(v),
            (CONSTANT, y) => push(Step::AddC(y, self.v), v),
            (x, CONSTANT) => push(Step::AddC(x, b.v), v),
            (x, y) => push(Step::Add(x, y), v),
        }
    }
}

impl Sub for Rec {
    type Output = Rec;
    fn sub(self, b: Rec) -> Rec {
        let v = self.v - b.v;
        match (self.id, b.id) {
            (CONSTANT, CONSTANT) => Rec::from(v),
            (CONSTANT, y) => push(Step::CSub(self.v, y), v),
            (x, CONSTANT) => push(Step::SubC(x, b.v), v),
            (x, y) => push(Step::Sub(x, y), v),
        }
    }
}

/// `x · c` for a step x: `x` itself for c = 1, the constant 0 for c = 0 when x is
/// a leaf (finite: the replay checks), `y` when x = `y · (−1)` and c = −1 (a
/// negation undone: `a − Gz` negates G's entries, the row `−aᵀx + s = c` again),
/// else a step.
fn times_constant(x: Rec, c: f64) -> Rec {
    let v = x.v * c;
    if c == 1.0 {
        Rec { v, id: x.id }
    } else if c == 0.0 && x.v.is_finite() && is_leaf(x.id) {
        Rec::from(v)
    } else if let Some(y) = negation_of(x.id).filter(|_| c == -1.0) {
        Rec { v, id: y }
    } else {
        push(Step::MulC(x.id, c), v)
    }
}

/// `y` if step `id` is `y · (−1)`.
fn negation_of(id: u32) -> Option<u32> {
    RECORDING.with(|r| match r.borrow().steps.get(id as usize) {
        Some(&Step::MulC(y, -1.0)) => Some(y),
        _ => None,
    })
}

impl Mul for Rec {
    type Output = Rec;
    fn mul(self, b: Rec) -> Rec {
        match (self.id, b.id) {
            (CONSTANT, CONSTANT) => Rec::from(self.v * b.v),
            (CONSTANT, _) => times_constant(b, self.v),
            (_, CONSTANT) => times_constant(self, b.v),
            (x, y) => push(Step::Mul(x, y), self.v * b.v),
        }
    }
}

impl Mul<f64> for Rec {
    type Output = Rec;
    fn mul(self, w: f64) -> Rec {
        self * Rec::from(w)
    }
}

impl Div for Rec {
    type Output = Rec;
    fn div(self, b: Rec) -> Rec {
        let v = self.v / b.v;
        match (self.id, b.id) {
            (CONSTANT, CONSTANT) => Rec::from(v),
            (CONSTANT, y) => push(Step::CDiv(self.v, y), v),
            (x, CONSTANT) => push(Step::DivC(x, b.v), v),
            (x, y) => push(Step::Div(x, y), v),
        }
    }
}

impl Neg for Rec {
    type Output = Rec;
    fn neg(self) -> Rec {
        self * -1.0
    }
}

/// Records the decision `all`/`any` of `xs` pass `test`. Constants decide alone
/// when they can (a failing one for `all`, a passing one for `any`); otherwise
/// the outcome over the steps is a guard.
fn decide(xs: &[Rec], test: Test, any: bool) -> bool {
    let constants_decide = xs.iter().any(|x| x.id == CONSTANT && test.holds(x.v) == any);
    if constants_decide {
        return any;
    }
    let steps: Vec<u32> = xs.iter().filter(|x| x.id != CONSTANT).map(|x| x.id).collect();
    let outcome = if any { xs.iter().any(|x| test.holds(x.v)) } else { xs.iter().all(|x| test.holds(x.v)) };
    if !steps.is_empty() {
        RECORDING.with(|r| r.borrow_mut().guards.push(Guard { any, test, steps, outcome }));
    }
    outcome
}

impl Scalar for Rec {
    /// The value for a decision that cannot be replayed: the recording is refused.
    fn value(self) -> f64 {
        if self.id != CONSTANT {
            Rec::opaque("a reduction used a parameter-dependent value beyond a sign or zero test");
        }
        self.v
    }

    fn is_structural_zero(self) -> bool {
        self.id == CONSTANT && self.v == 0.0
    }

    fn is_tracked(self) -> bool {
        self.id != CONSTANT
    }

    fn all(xs: &[Self], test: Test) -> bool {
        decide(xs, test, false)
    }

    fn any(xs: &[Self], test: Test) -> bool {
        decide(xs, test, true)
    }

    /// One [`Step::Root`] and its n² [`Step::Part`]s; at a singular Q (no
    /// bounded adjoint) the recording is opaque instead.
    fn psd_root(n: usize, q: &[Rec]) -> Result<Vec<Rec>, String> {
        let values: Vec<f64> = q.iter().map(|x| x.v).collect();
        let root = Sqrt::new(n, &values).map_err(root_error)?;
        if q.iter().all(|x| x.id == CONSTANT) {
            return Ok(root.s.into_iter().map(Rec::from).collect());
        }
        if !root.is_definite() {
            Rec::opaque(
                "`quad_form` of a singular parameter-dependent matrix (its square root has no bounded derivative)",
            );
            return Ok(root.s.into_iter().map(Rec::from).collect());
        }
        RECORDING.with(|r| {
            let mut r = r.borrow_mut();
            r.roots.push(Root { n, q: q.iter().map(|x| x.source()).collect() });
            let k = (r.roots.len() - 1) as u32;
            r.steps.push(Step::Root(k));
            let first = r.steps.len() as u32;
            r.steps.extend(std::iter::repeat_n(Step::Part, root.s.len()));
            Ok(root.s.into_iter().enumerate().map(|(i, v)| Rec { v, id: first + i as u32 }).collect())
        })
    }
}

impl Coefficient for Rec {
    /// The values as `f64::gram` computes them, recorded as one block step.
    fn gram(rows: usize, k: usize, m: &[(usize, usize, Rec)], w: &[(usize, usize, Rec)]) -> Vec<Rec> {
        let values = |e: &[(usize, usize, Rec)]| e.iter().map(|&(r, c, x)| (r, c, x.v)).collect::<Vec<_>>();
        let h = f64::gram(rows, k, &values(m), &values(w));
        if m.iter().chain(w).all(|e| e.2.id == CONSTANT) {
            return h.into_iter().map(Rec::from).collect();
        }
        let sources = |e: &[(usize, usize, Rec)]| e.iter().map(|&(r, c, x)| (r, c, x.source())).collect();
        let gram = Gram { rows, k, m: sources(m), w: sources(w) };
        RECORDING.with(|r| {
            let mut r = r.borrow_mut();
            r.grams.push(gram);
            let g = (r.grams.len() - 1) as u32;
            r.steps.push(Step::Gram(g));
            let first = r.steps.len() as u32;
            r.steps.extend(std::iter::repeat_n(Step::Part, h.len()));
            h.into_iter().enumerate().map(|(i, v)| Rec { v, id: first + i as u32 }).collect()
        })
    }
}

/// A recorded program: its steps, its guards and its block products. What
/// [`Refill::replay`] and [`Refill::adjoint`] run.
///
/// The leaves come first (renumbered from the order of recording), grouped in
/// [`Block`]s of consecutive entries of one tensor, so that a replay copies them
/// a slice at a time and the reverse sweep stops where they begin.
#[derive(Clone, Debug, Default)]
pub struct Refill {
    /// The steps, leaves first; each reads only earlier ones.
    pub steps: Vec<Step>,
    /// The decisions the recording took, checked on every replay.
    pub guards: Vec<Guard>,
    /// The block products [`Step::Gram`] computes.
    pub grams: Vec<Gram>,
    /// The square roots [`Step::Root`] computes.
    pub roots: Vec<Root>,
    /// Runs of leaves, in step order; together the first `leaves` steps.
    pub blocks: Vec<Block>,
    /// How many steps are leaves.
    pub leaves: usize,
    /// Whether any leaf reads the `Data` kernel (else parameters alone).
    pub reads_data: bool,
    /// The step each recorded step became.
    renumber: Vec<u32>,
}

/// Steps `first..first + len`: entries `from..from + len` of one tensor.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Block {
    /// The block's first step.
    pub first: usize,
    /// How many steps (and entries) it covers.
    pub len: usize,
    /// The source of the block's first entry.
    pub source: Source,
}

/// What a replay and its adjoint work in, sized on first use and kept.
pub struct Scratch {
    /// Every step's value.
    pub values: Vec<f64>,
    /// ∂ψ/∂(every step's value).
    pub adj: Vec<f64>,
    entries: GramEntries,
    mats: [Mat<f64>; 5],
    /// Per row of a least-squares residual: r = Mx + d and Mw.
    pub(super) rows: (Vec<f64>, Vec<f64>),
    /// Per [`Refill::roots`] block: the last replay's root, for the adjoint.
    roots: Vec<Option<Sqrt>>,
    /// A root block's Q, gathered.
    q: Vec<f64>,
}

impl Default for Scratch {
    fn default() -> Self {
        Scratch {
            values: Vec::new(),
            adj: Vec::new(),
            entries: (Vec::new(), Vec::new()),
            mats: std::array::from_fn(|_| Mat::new()),
            rows: (Vec::new(), Vec::new()),
            roots: Vec::new(),
            q: Vec::new(),
        }
    }
}

/// Why a replay cannot be used: a guard took the other side, or a leaf is not finite.
#[derive(Clone, Debug, PartialEq)]
pub enum Miss {
    /// Guard `g` of [`Refill::guards`] decided otherwise than when recorded.
    Guard(usize),
    /// A leaf's value is NaN or infinite.
    NonFinite,
    /// Block `r` of [`Refill::roots`]: its Q is not positive definite at the new values.
    Root(usize),
}

/// The recorded steps some output, guard or block depends on: the outputs,
/// the guards' operands, the blocks' inputs, every leaf and every block step
/// (a block's parts stay together), then, sweeping back, the operands of each
/// live step. The rest (a negation undone by the next, say) is dead.
fn live_steps(r: &Recording, outputs: &[Rec]) -> Vec<bool> {
    let mut live: Vec<bool> =
        r.steps.iter().map(|s| matches!(s, Step::Leaf(_) | Step::Gram(_) | Step::Part | Step::Root(_))).collect();
    let mut mark = |v: Value| {
        if let Value::Step(k) = v {
            live[k as usize] = true;
        }
    };
    outputs.iter().for_each(|x| mark(x.source()));
    r.guards.iter().flat_map(|g| &g.steps).for_each(|&k| mark(Value::Step(k)));
    r.grams.iter().flat_map(|g| g.m.iter().chain(&g.w)).for_each(|e| mark(e.2));
    r.roots.iter().flat_map(|q| &q.q).for_each(|&v| mark(v));
    for k in (0..r.steps.len()).rev() {
        if !live[k] {
            continue;
        }
        let (a, b) = match r.steps[k] {
            Step::Add(a, b) | Step::Sub(a, b) | Step::Mul(a, b) | Step::Div(a, b) => (a, Some(b)),
            Step::AddC(a, _)
            | Step::SubC(a, _)
            | Step::CSub(_, a)
            | Step::MulC(a, _)
            | Step::DivC(a, _)
            | Step::CDiv(_, a) => (a, None),
            Step::Leaf(_) | Step::Gram(_) | Step::Part | Step::Root(_) => continue,
        };
        live[a as usize] = true;
        if let Some(b) = b {
            live[b as usize] = true;
        }
    }
    live
}

impl Refill {
    /// The program with its leaves moved first (every other step keeps its
    /// order, so each still follows its operands) and grouped in blocks, and
    /// the steps not `live` dropped.
    pub fn new(recorded: Vec<Step>, live: &[bool], mut guards: Vec<Guard>, mut grams: Vec<Gram>) -> Refill {
        let is_leaf = |s: &Step| matches!(s, Step::Leaf(_));
        let leaves = recorded.iter().filter(|s| is_leaf(s)).count();
        // Dead steps map nowhere (`u32::MAX`): nothing live refers to them.
        let mut renumber = vec![u32::MAX; recorded.len()];
        let (mut next_leaf, mut next_op) = (0u32, leaves as u32);
        for (k, s) in recorded.iter().enumerate() {
            if !live[k] {
                continue;
            }
            let to = if is_leaf(s) { &mut next_leaf } else { &mut next_op };
            renumber[k] = *to;
            *to += 1;
        }
        let map = |x: u32| renumber[x as usize];
        let mut steps = vec![Step::Part; next_op as usize];
        for (k, s) in recorded.iter().enumerate().filter(|&(k, _)| live[k]) {
            steps[map(k as u32) as usize] = match *s {
                Step::Add(a, b) => Step::Add(map(a), map(b)),
                Step::Sub(a, b) => Step::Sub(map(a), map(b)),
                Step::Mul(a, b) => Step::Mul(map(a), map(b)),
                Step::Div(a, b) => Step::Div(map(a), map(b)),
                Step::AddC(a, c) => Step::AddC(map(a), c),
                Step::SubC(a, c) => Step::SubC(map(a), c),
                Step::CSub(c, a) => Step::CSub(c, map(a)),
                Step::MulC(a, c) => Step::MulC(map(a), c),
                Step::DivC(a, c) => Step::DivC(map(a), c),
                Step::CDiv(c, a) => Step::CDiv(c, map(a)),
                other @ (Step::Leaf(_) | Step::Gram(_) | Step::Part | Step::Root(_)) => other,
            };
        }
        guards.iter_mut().for_each(|g| g.steps.iter_mut().for_each(|s| *s = map(*s)));
        let remap = |v: &mut Value| {
            if let Value::Step(s) = v {
                *s = map(*s);
            }
        };
        for g in &mut grams {
            g.m.iter_mut().chain(&mut g.w).for_each(|e| remap(&mut e.2));
        }
        let mut blocks: Vec<Block> = Vec::new();
        for (k, s) in steps[..leaves].iter().enumerate() {
            let Step::Leaf(source) = *s else { continue };
            let extends = blocks.last().is_some_and(|b| match (b.source, source) {
                (Source::Param { param: p, index: i }, Source::Param { param, index }) => {
                    p == param && i as usize + b.len == index as usize
                }
                (Source::Data { output: o, index: i }, Source::Data { output, index }) => {
                    o == output && i as usize + b.len == index as usize
                }
                _ => false,
            });
            match blocks.last_mut() {
                Some(b) if extends => b.len += 1,
                _ => blocks.push(Block { first: k, len: 1, source }),
            }
        }
        let reads_data = blocks.iter().any(|b| matches!(b.source, Source::Data { .. }));
        Refill { steps, guards, grams, roots: Vec::new(), blocks, leaves, reads_data, renumber }
    }

    /// The recording's square-root blocks, their values renumbered as the steps were.
    fn set_roots(&mut self, mut roots: Vec<Root>) {
        for r in &mut roots {
            r.q.iter_mut().for_each(|v| {
                if let Value::Step(s) = v {
                    *s = self.renumber[*s as usize];
                }
            });
        }
        self.roots = roots;
    }

    /// Where a value recorded during the reductions is in this program.
    pub fn source(&self, x: Rec) -> Value {
        match x.source() {
            Value::Step(s) => Value::Step(self.renumber[s as usize]),
            c => c,
        }
    }

    /// Every step's value into `scratch.values`, leaves from `params` and `data`;
    /// then the guards. `Err` names what failed.
    pub fn replay(&self, params: &[&[f64]], data: &[&[f64]], scratch: &mut Scratch) -> Result<(), Miss> {
        let Scratch { values: out, entries, mats, roots, q, .. } = scratch;
        out.resize(self.steps.len(), 0.0);
        for b in &self.blocks {
            let (from, index) = match b.source {
                Source::Param { param, index } => (params[param as usize], index),
                Source::Data { output, index } => (data[output as usize], index),
            };
            let to = &mut out[b.first..b.first + b.len];
            to.copy_from_slice(&from[index as usize..index as usize + b.len]);
            // Parameters are finite (bound inputs are checked); data need not be.
            if matches!(b.source, Source::Data { .. }) && !to.iter().all(|v| v.is_finite()) {
                return Err(Miss::NonFinite);
            }
        }
        for k in self.leaves..self.steps.len() {
            let v = match self.steps[k] {
                Step::Leaf(_) => continue,
                Step::Add(a, b) => out[a as usize] + out[b as usize],
                Step::Sub(a, b) => out[a as usize] - out[b as usize],
                Step::Mul(a, b) => out[a as usize] * out[b as usize],
                Step::Div(a, b) => out[a as usize] / out[b as usize],
                Step::AddC(a, c) => out[a as usize] + c,
                Step::SubC(a, c) => out[a as usize] - c,
                Step::CSub(c, a) => c - out[a as usize],
                Step::MulC(a, c) => out[a as usize] * c,
                Step::DivC(a, c) => out[a as usize] / c,
                Step::CDiv(c, a) => c / out[a as usize],
                Step::Gram(g) => {
                    gram_values(&self.grams[g as usize], k, out, entries, mats);
                    continue;
                }
                Step::Root(r) => {
                    root_values(&self.roots[r as usize], r, k, out, roots, q)?;
                    continue;
                }
                Step::Part => continue,
            };
            out[k] = v;
        }
        for (g, guard) in self.guards.iter().enumerate() {
            let pass = |s: &u32| guard.test.holds(out[*s as usize]);
            let outcome = if guard.any { guard.steps.iter().any(pass) } else { guard.steps.iter().all(pass) };
            if outcome != guard.outcome {
                return Err(Miss::Guard(g));
            }
        }
        Ok(())
    }

    /// The reverse sweep: `adj` holds ∂ψ/∂(each step's value) for the outputs on
    /// entry (zero elsewhere) and the total derivatives on return; `values` are
    /// the replayed values. The leaves' entries are then ∂ψ/∂(each leaf).
    pub fn adjoint(&self, scratch: &mut Scratch) {
        let Scratch { values, adj, entries, mats, roots, .. } = scratch;
        for k in (self.leaves..self.steps.len()).rev() {
            if let Step::Gram(g) = self.steps[k] {
                self.gram_adjoint(&self.grams[g as usize], k, values, adj, entries, mats);
                continue;
            }
            if let Step::Root(r) = self.steps[k] {
                root_adjoint(&self.roots[r as usize], roots.get(r as usize).and_then(Option::as_ref), k, adj);
                continue;
            }
            let a = adj[k];
            if a == 0.0 {
                continue;
            }
            match self.steps[k] {
                Step::Leaf(_) | Step::Part | Step::Gram(_) | Step::Root(_) => {}
                Step::Add(x, y) => {
                    adj[x as usize] += a;
                    adj[y as usize] += a;
                }
                Step::Sub(x, y) => {
                    adj[x as usize] += a;
                    adj[y as usize] -= a;
                }
                Step::Mul(x, y) => {
                    let (vx, vy) = (values[x as usize], values[y as usize]);
                    adj[x as usize] += a * vy;
                    adj[y as usize] += a * vx;
                }
                Step::Div(x, y) => {
                    let vy = values[y as usize];
                    adj[x as usize] += a / vy;
                    adj[y as usize] -= a * values[k] / vy;
                }
                Step::AddC(x, _) | Step::SubC(x, _) => adj[x as usize] += a,
                Step::CSub(_, x) => adj[x as usize] -= a,
                Step::MulC(x, c) => adj[x as usize] += a * c,
                Step::DivC(x, c) => adj[x as usize] += a / c,
                Step::CDiv(_, x) => adj[x as usize] -= a * values[k] / values[x as usize],
            }
        }
    }
}

impl Refill {
    /// For `H = Mᵀ·W` with adjoint `Ĥ` (upper triangle, in the steps after `k`):
    /// `M̂ = W·Ĥᵀ`, `Ŵ = M·Ĥ`, carried to the steps M and W were built from.
    fn gram_adjoint(
        &self,
        gram: &Gram,
        k: usize,
        values: &[f64],
        adj: &mut [f64],
        entries: &mut GramEntries,
        mats: &mut [Mat<f64>; 5],
    ) {
        let [mm, wm, h, mh, wh] = mats;
        let fill = |e: &mut Vec<(usize, usize, f64)>, from: &[(usize, usize, Value)]| {
            e.clear();
            e.extend(from.iter().map(|&(r, c, v)| (r, c, value_of(v, values))));
        };
        fill(&mut entries.0, &gram.m);
        fill(&mut entries.1, &gram.w);
        gram_into(gram.rows, gram.k, &entries.0, &entries.1, mm, wm, h);
        h.fill(0.0);
        let mut next = k + 1;
        for a in 0..gram.k {
            for b in a..gram.k {
                h[(a, b)] = adj[next];
                next += 1;
            }
        }
        mh.resize_with(gram.rows, gram.k, |_, _| 0.0);
        wh.resize_with(gram.rows, gram.k, |_, _| 0.0);
        matmul(mh.as_mut(), Accum::Replace, wm.as_ref(), h.transpose(), 1.0, Par::Seq);
        matmul(wh.as_mut(), Accum::Replace, mm.as_ref(), h.as_ref(), 1.0, Par::Seq);
        for &(r, c, v) in &gram.m {
            if let Value::Step(s) = v {
                adj[s as usize] += mh[(r, c)];
            }
        }
        for &(r, c, v) in &gram.w {
            if let Value::Step(s) = v {
                adj[s as usize] += wh[(r, c)];
            }
        }
    }
}
/// Step `k` (a [`Step::Root`] of block `r`, `root`): `S = Q^½` into the
/// values of the n² [`Step::Part`]s after it, the root kept in `roots` for the
/// adjoint. A Q that is not positive definite misses: its root's derivative
/// is unbounded there.
fn root_values(
    root: &Root,
    r: u32,
    k: usize,
    out: &mut [f64],
    roots: &mut Vec<Option<Sqrt>>,
    q: &mut Vec<f64>,
) -> Result<(), Miss> {
    q.clear();
    q.extend(root.q.iter().map(|&v| value_of(v, out)));
    let sqrt = match Sqrt::new(root.n, q) {
        Ok(s) if s.is_definite() => s,
        _ => return Err(Miss::Root(r as usize)),
    };
    out[k + 1..k + 1 + sqrt.s.len()].copy_from_slice(&sqrt.s);
    if roots.len() <= r as usize {
        roots.resize(r as usize + 1, None);
    }
    roots[r as usize] = Some(sqrt);
    Ok(())
}

/// The reverse sweep through step `k` (a [`Step::Root`] with the root `sqrt`
/// its replay kept): `Q̄ += (∂S/∂Q)ᵀ S̄` for the adjoints `S̄` of the parts.
fn root_adjoint(root: &Root, sqrt: Option<&Sqrt>, k: usize, adj: &mut [f64]) {
    let Some(sqrt) = sqrt else { return };
    let s_bar = &adj[k + 1..k + 1 + sqrt.s.len()];
    if s_bar.iter().any(|&a| a != 0.0) {
        let q_bar = sqrt.adjoint(s_bar);
        for (v, g) in root.q.iter().zip(q_bar) {
            if let Value::Step(s) = v {
                adj[*s as usize] += g;
            }
        }
    }
}

/// Step `k`, a [`Step::Gram`] of `gram`: `H = Mᵀ·W` from the values of the
/// steps M and W are built from, its upper triangle into the steps after `k`.
fn gram_values(gram: &Gram, k: usize, out: &mut [f64], entries: &mut GramEntries, mats: &mut [Mat<f64>; 5]) {
    let [mm, wm, h, ..] = mats;
    let fill = |e: &mut Vec<(usize, usize, f64)>, from: &[(usize, usize, Value)], out: &[f64]| {
        e.clear();
        e.extend(from.iter().map(|&(r, c, v)| (r, c, value_of(v, out))));
    };
    fill(&mut entries.0, &gram.m, out);
    fill(&mut entries.1, &gram.w, out);
    gram_into(gram.rows, gram.k, &entries.0, &entries.1, mm, wm, h);
    let mut next = k + 1;
    for a in 0..gram.k {
        for b in a..gram.k {
            out[next] = h[(a, b)];
            next += 1;
        }
    }
}

/// What a program compiled ahead of time (`ddnc build`'s straight-line Rust)
/// builds its [`Refill`] from and calls for its block steps: the same program
/// as a recording, its steps written out rather than recorded.
impl Refill {
    /// The program whose leaves are `blocks` (in step order, from step 0) and
    /// whose other steps are `ops`, in order: what [`Refill::new`] makes of a
    /// recording, rebuilt from its parts.
    pub fn from_parts(
        blocks: Vec<Block>,
        ops: &[Step],
        guards: Vec<Guard>,
        grams: Vec<Gram>,
        roots: Vec<Root>,
    ) -> Refill {
        let leaves = blocks.iter().map(|b| b.len).sum();
        let mut steps = Vec::with_capacity(leaves + ops.len());
        for b in &blocks {
            steps.extend((0..b.len as u32).map(|i| {
                Step::Leaf(match b.source {
                    Source::Param { param, index } => Source::Param { param, index: index + i },
                    Source::Data { output, index } => Source::Data { output, index: index + i },
                })
            }));
        }
        steps.extend_from_slice(ops);
        let reads_data = blocks.iter().any(|b| matches!(b.source, Source::Data { .. }));
        Refill { steps, guards, grams, roots, blocks, leaves, reads_data, renumber: Vec::new() }
    }

    /// Replays step `k`, a [`Step::Gram`] of block `g`, as [`Refill::replay`] does.
    pub fn replay_gram(&self, g: u32, k: usize, scratch: &mut Scratch) {
        let Scratch { values, entries, mats, .. } = scratch;
        gram_values(&self.grams[g as usize], k, values, entries, mats);
    }

    /// Replays step `k`, a [`Step::Root`] of block `r`, as [`Refill::replay`]
    /// does (`Err` at a Q that is not positive definite).
    pub fn replay_root(&self, r: u32, k: usize, scratch: &mut Scratch) -> Result<(), Miss> {
        let Scratch { values, roots, q, .. } = scratch;
        root_values(&self.roots[r as usize], r, k, values, roots, q)
    }

    /// The reverse sweep through step `k`, a [`Step::Root`] of block `r`, as
    /// [`Refill::adjoint`] does.
    pub fn adjoint_root(&self, r: u32, k: usize, scratch: &mut Scratch) {
        let Scratch { adj, roots, .. } = scratch;
        root_adjoint(&self.roots[r as usize], roots.get(r as usize).and_then(Option::as_ref), k, adj);
    }

    /// The reverse sweep through step `k`, a [`Step::Gram`] of block `g`, as
    /// [`Refill::adjoint`] does.
    pub fn adjoint_gram(&self, g: u32, k: usize, scratch: &mut Scratch) {
        let Scratch { values, adj, entries, mats, .. } = scratch;
        self.gram_adjoint(&self.grams[g as usize], k, values, adj, entries, mats);
    }
}

/// The value of `v` in a replay's step values.
pub fn value_of(v: Value, values: &[f64]) -> f64 {
    match v {
        Value::Const(c) => c,
        Value::Step(k) => values[k as usize],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replay_and_adjoint_match_hand_derivatives() {
        let session = RecordSession::start();
        let a = Rec::leaf(3.0, Source::Param { param: 0, index: 0 });
        let b = Rec::leaf(-2.0, Source::Param { param: 0, index: 1 });
        // f = (a·b + a) / b − 2a, with one constant folded and x·1 elided.
        let f = (a * b + a) / b - a * 2.0 + (Rec::from(2.0) * Rec::from(4.0)) * Rec::from(1.0) + b * 1.0;
        assert!(Rec::all(&[a], Test::Gt0));
        let refill = session.finish(&[f]).expect("replayable");
        let Value::Step(out) = refill.source(f) else { panic!("f depends on a and b") };
        let mut s = Scratch::default();
        refill.replay(&[&[3.0, -2.0]], &[], &mut s).expect("same branch");
        assert_eq!(s.values[out as usize], f.v);
        // At new values: f(1, 4) = (4 + 1)/4 − 2 + 8 + 4.
        refill.replay(&[&[1.0, 4.0]], &[], &mut s).expect("same branch");
        assert_eq!(s.values[out as usize], 5.0 / 4.0 - 2.0 + 8.0 + 4.0);
        s.adj = vec![0.0; s.values.len()];
        s.adj[out as usize] = 1.0;
        refill.adjoint(&mut s);
        // ∂f/∂a = (b + 1)/b − 2, ∂f/∂b = −a/b² + 1.
        assert!((s.adj[0] - (5.0 / 4.0 - 2.0)).abs() < 1e-15);
        assert!((s.adj[1] - (-1.0 / 16.0 + 1.0)).abs() < 1e-15);
        // The guard a > 0 fails at a = −1.
        assert_eq!(refill.replay(&[&[-1.0, 4.0]], &[], &mut s), Err(Miss::Guard(0)));
    }
}
