//! Loop fusion: planned steps over the rows of one `[R, C]` shape run as one
//! loop nest, so a value that only feeds the nest never reaches the arena.
//!
//! For each row `i < R` the nest computes the row's entries of every
//! elementwise `[R, C]` step (in registers, one pass over `j < C`), the row's
//! values (`[R]`: a sum along the row, elementwise steps over such values,
//! `spread` back to entries), and its contribution to a sum down the columns
//! (`sum(·, axis = 0)`, `sum_to [C]`) or over everything. A row value needs its
//! whole row, so a row runs in phases: pass `p` over `j`, then the row values
//! it completes, then pass `p + 1`, which may read them. An entry read in a
//! later pass waits in a scratch row (`C` entries, kept in cache) unless it is
//! stored in the arena anyway (read after the nest, or an output).
//!
//! **Bit for bit**: every entry is the plan's operation on the plan's operands,
//! and every fold keeps `apply`'s order: along a row left to right, down a
//! column top to bottom (rows are visited in order), over everything row-major.
//! Only the interleaving of independent work changes. Steps are reordered
//! (a step that reads the nest but cannot join it waits until the nest is
//! done; one that reads neither runs before it), which is invisible except for
//! which error comes first: any failure of the compiled code therefore runs
//! the interpreter, whose error is `apply`'s in program order.

use super::plan::{Operand, Plan};
use crate::kernel::Tape;

/// How many pairs of rows a nest computes at once (each pair in the two lanes
/// of an `f64x2`): independent chains the processor can overlap, where one
/// pair's row sum, division and square root would run one after another.
/// Four pairs spill a few values to the stack in the pooling Hessian's first
/// pass and still run it ≈ 20% faster than two (`ddnc bench`, same run; six
/// or eight pairs gain little more and lengthen the code to compile). The
/// spills cost something only when the calling code leaves the vector
/// registers' upper halves dirty, which `program::clean_upper_state` rules out.
pub(super) const PAIRS: usize = 4;

/// How a member of a nest is computed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Role {
    /// An elementwise step over `[R, C]`: entry `(i, j)`, in a pass.
    Entry,
    /// An elementwise step over `[R]`: entry `i`, after a pass.
    RowValue,
    /// A fold along each row (`outer = R`, `inner = C`): accumulated in a
    /// pass, its value (after `post`) a row value.
    RowFold,
    /// A fold down each column of an entry step into `[C]`, accumulated in the
    /// arena row by row.
    ColumnFold,
    /// A fold over every entry of a member, row-major: of an entry step (in
    /// its pass) or of a row value (after it).
    Total { of_entries: bool },
    /// An elementwise step over the transpose `[C, R]` of an entry step:
    /// computed with it, stored at `(j, i)`.
    Transposed,
}

impl Role {
    /// Computed in a pass over `j` (else once per row, after its pass).
    pub fn in_pass(self) -> bool {
        !matches!(self, Role::RowValue | Role::Total { of_entries: false })
    }

    /// One value per row, readable by later members of the row.
    fn per_row(self) -> bool {
        matches!(self, Role::RowValue | Role::RowFold)
    }
}

/// One step of a nest.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Member {
    pub k: usize,
    pub role: Role,
    /// Its pass (for a row value: computed after pass `phase`).
    pub phase: usize,
    /// Stored in the arena: read after the nest, or an output.
    pub keep: bool,
    /// For an entry step read in a later pass and not kept: the arena offset
    /// of its scratch rows (`2 C` entries per pair of rows: column `j` of each
    /// at `2 j` and `2 j + 1`; pair `g` from `2 C g`).
    pub scratch: Option<usize>,
}

/// A loop nest over `rows × cols`; members in program order.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Nest {
    pub rows: usize,
    pub cols: usize,
    pub members: Vec<Member>,
}

impl Nest {
    pub fn phases(&self) -> usize {
        self.members.iter().map(|m| m.phase + 1).max().unwrap_or(0)
    }

    pub fn member(&self, k: usize) -> Option<&Member> {
        self.members.iter().find(|m| m.k == k)
    }
}

/// What the compiled function does, in order.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Unit {
    /// Step `k` on its own (its plan's loop, or the fallback).
    Step(usize),
    Nest(Nest),
}

/// The operands a plan reads.
pub(super) fn operands(plan: &Plan) -> Vec<Operand> {
    match *plan {
        Plan::Map { x, .. } | Plan::Fold { x, .. } => vec![x],
        Plan::Zip { a, b, .. } => vec![a, b],
        Plan::Ready | Plan::Fallback => vec![],
    }
}

/// A nest being formed: its shape, and per step its role and phase if a member.
struct Open {
    rows: usize,
    cols: usize,
    member: Vec<Option<(Role, usize)>>,
    order: Vec<usize>,
}

impl Open {
    fn new(rows: usize, cols: usize, steps: usize) -> Open {
        Open { rows, cols, member: vec![None; steps], order: Vec::new() }
    }

    /// The role and phase step `plan` takes in this nest, if it can join.
    fn join(&self, plan: &Plan) -> Option<(Role, usize)> {
        let (rows, cols) = (self.rows, self.cols);
        let role = |x: &Operand| self.member[x.slot];
        // The pass in which an entry step reading `x` can run.
        let entry = |x: &Operand| match role(x) {
            None => Some(0),
            Some((Role::Entry, p)) if (x.s0, x.s1) == (cols, 1) => Some(p),
            Some((r, p)) if r.per_row() && (x.s0, x.s1) == (1, 0) => Some(p + 1),
            Some(_) => None,
        };
        let row_value = |x: &Operand| match role(x) {
            None => Some(0),
            Some((r, p)) if r.per_row() && x.s1 == 1 => Some(p),
            Some(_) => None,
        };
        let phase = |xs: &[Operand], f: &dyn Fn(&Operand) -> Option<usize>| {
            xs.iter().try_fold(0, |p, x| f(x).map(|q| p.max(q)))
        };
        let xs = operands(plan);
        let reads_member = xs.iter().any(|x| role(x).is_some());
        match *plan {
            Plan::Map { rows: r, cols: c, .. } | Plan::Zip { rows: r, cols: c, .. } => {
                if (r, c) == (rows, cols) {
                    if let Some(p) = phase(&xs, &entry) {
                        return Some((Role::Entry, p));
                    }
                }
                if (r, c) == (1, rows) && reads_member {
                    if let Some(p) = phase(&xs, &row_value) {
                        return Some((Role::RowValue, p));
                    }
                }
                match (r, c, xs.as_slice()) {
                    (r, c, [x]) if (r, c) == (cols, rows) && (x.s0, x.s1) == (1, cols) => match role(x) {
                        Some((Role::Entry, p)) => Some((Role::Transposed, p)),
                        _ => None,
                    },
                    _ => None,
                }
            }
            Plan::Fold { x, outer, inner, .. } => match role(&x) {
                None | Some((Role::Entry, _)) if (outer, inner, x.s0, x.s1) == (rows, cols, cols, 1) => {
                    Some((Role::RowFold, role(&x).map_or(0, |(_, p)| p)))
                }
                None | Some((Role::Entry, _)) if (outer, inner, x.s0, x.s1) == (cols, rows, 1, cols) => {
                    Some((Role::ColumnFold, role(&x).map_or(0, |(_, p)| p)))
                }
                Some((Role::Entry, p)) if outer == 1 && x.s1 == 1 && inner == rows * cols => {
                    Some((Role::Total { of_entries: true }, p))
                }
                Some((r, p)) if r.per_row() && outer == 1 && x.s1 == 1 && inner == rows => {
                    Some((Role::Total { of_entries: false }, p))
                }
                _ => None,
            },
            Plan::Ready | Plan::Fallback => None,
        }
    }

    /// A nest that step `plan` starts on its own, if any: an elementwise step
    /// or a fold along the rows or down the columns, over at least two rows (a
    /// column fold alone is a chain of additions per column, which the nest
    /// interleaves across the columns, row by row).
    fn start(plan: &Plan, steps: usize) -> Option<Open> {
        let (rows, cols) = match *plan {
            Plan::Map { rows, cols, .. } | Plan::Zip { rows, cols, .. } => (rows, cols),
            Plan::Fold { x, outer, inner, .. } if (x.s0, x.s1) == (inner, 1) => (outer, inner),
            Plan::Fold { x, outer, inner, .. } if (x.s0, x.s1) == (1, outer) => (inner, outer),
            _ => return None,
        };
        (rows >= 2).then(|| Open::new(rows, cols, steps))
    }
}

/// The program's steps (each planned) as units: nests where steps share rows,
/// single steps elsewhere. `scratch_at` is where scratch rows may start in the
/// arena; returns the units and how many scratch entries they use.
pub(super) fn schedule(program: &Tape, plans: &[Plan], scratch_at: usize) -> (Vec<Unit>, usize) {
    let mut readers = vec![Vec::new(); plans.len()];
    for (k, s) in program.steps.iter().enumerate() {
        for a in &s.args {
            readers[a.index()].push(k);
        }
    }
    let mut output = vec![false; plans.len()];
    program.outputs.iter().for_each(|o| output[o.index()] = true);
    let mut units = Vec::new();
    let mut scratch = 0;
    let mut todo: Vec<usize> = (0..plans.len()).filter(|&k| plans[k] != Plan::Ready).collect();
    while !todo.is_empty() {
        // One nest (at most) per sweep; what reads it but cannot join waits for the next sweep.
        let mut open: Option<Open> = None;
        let mut waiting = vec![false; plans.len()];
        let mut later = Vec::new();
        for &k in &todo {
            let args = &program.steps[k].args;
            if args.iter().any(|a| waiting[a.index()]) {
                waiting[k] = true;
                later.push(k);
                continue;
            }
            // Every argument that is a member must be an operand the join accepted.
            let joined = open.as_ref().and_then(|o| o.join(&plans[k]).map(|j| (o, j))).filter(|(o, _)| {
                let xs = operands(&plans[k]);
                args.iter().all(|a| o.member[a.index()].is_none() || xs.iter().any(|x| x.slot == a.index()))
            });
            if let Some((_, j)) = joined {
                let o = open.as_mut().expect("joined an open nest");
                o.member[k] = Some(j);
                o.order.push(k);
                continue;
            }
            let reads_nest = open.as_ref().is_some_and(|o| args.iter().any(|a| o.member[a.index()].is_some()));
            if reads_nest {
                waiting[k] = true;
                later.push(k);
            } else if let Some(mut o) = open.is_none().then(|| Open::start(&plans[k], plans.len())).flatten() {
                match o.join(&plans[k]) {
                    Some(j) => {
                        o.member[k] = Some(j);
                        o.order.push(k);
                        open = Some(o);
                    }
                    None => units.push(Unit::Step(k)),
                }
            } else {
                units.push(Unit::Step(k));
            }
        }
        if let Some(o) = open {
            units.push(close(o, &readers, &output, scratch_at, &mut scratch));
        }
        todo = later;
    }
    (units, scratch)
}

/// The nest `o` with what each member keeps: arena stores for values read
/// outside it, scratch rows for entries read in a later pass.
fn close(o: Open, readers: &[Vec<usize>], output: &[bool], scratch_at: usize, scratch: &mut usize) -> Unit {
    let members = o
        .order
        .iter()
        .map(|&k| {
            let (role, phase) = o.member[k].expect("a member");
            let keep = output[k] || readers[k].iter().any(|r| o.member[*r].is_none());
            let later_pass = readers[k].iter().any(|r| o.member[*r].is_some_and(|(_, p)| p > phase));
            // Room for the rows a nest runs at a time (`PAIRS` pairs).
            let scratch = (role == Role::Entry && later_pass && !keep).then(|| {
                let at = scratch_at + *scratch;
                *scratch += 2 * PAIRS * o.cols;
                at
            });
            Member { k, role, phase, keep, scratch }
        })
        .collect();
    Unit::Nest(Nest { rows: o.rows, cols: o.cols, members })
}
