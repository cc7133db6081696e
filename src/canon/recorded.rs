//! A node's standard form recorded once per set of dimension sizes: the
//! reductions run over [`Rec`] numbers ([`super::record`]), leaving a refill
//! program and the place of each of its values in the cone program (or, for
//! least squares, in `e = Mx + d`). [`Recorded::refill`] writes new values into
//! a kept [`ConeProgram`] without rerunning the reductions;
//! [`Recorded::psi_adjoint`] is the adjoint of that map at the backward pass's ψ.

use super::builder::Builder;
use super::least_squares::residual;
use super::record::{value_of, Miss, Rec, RecordSession, Refill, Scratch, Source, Value};
use super::scalar::Data;
use super::sensitivity::mentions_param;
use super::{reduce_node, CanonError, Layout};
use crate::eval::Bound;
use crate::eval::{self, Env, EvalError, Tensor};
use crate::ir::{Expr, ExprKind, Node};
use crate::linalg::{dot, vectorised};
use crate::solve::{ConeProgram, Triplets};

/// What was recorded: the program and where its values go.
#[derive(Debug)]
pub struct Recorded {
    /// The program that refills the standard form's numbers from the parameters.
    pub refill: Refill,
    /// Where its values go: a cone program's entries or a least-squares residual.
    pub form: RecordedForm,
    /// Where the node's variables and constraints sit in the standard form.
    pub layout: Layout,
    /// The reductions that ran, in order.
    pub log: Vec<String>,
    /// The refill compiled ahead of time (`ddnc build`), run in place of the
    /// program's interpretation; `None` for a recording made at run time.
    pub compiled: Option<CompiledRefill>,
}

/// A [`Refill`] compiled to straight-line Rust by `ddnc build`: `replay`
/// performs [`Refill::replay`]'s operations on the same operands in the same
/// order (so its values are equal bit for bit, guards and misses included),
/// and `adjoint` those of [`Refill::adjoint`]. Both are given the program they
/// were emitted from, for its block steps.
#[derive(Clone, Copy)]
pub struct CompiledRefill {
    /// [`Refill::replay`] compiled.
    pub replay: Replay,
    /// [`Refill::adjoint`] compiled.
    pub adjoint: fn(&Refill, &mut Scratch),
}

/// A compiled [`Refill::replay`]: the program, the parameters' and the `Data`
/// kernel's entries, the scratch its values go to.
pub type Replay = fn(&Refill, &[&[f64]], &[&[f64]], &mut Scratch) -> Result<(), Miss>;

impl std::fmt::Debug for CompiledRefill {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CompiledRefill")
    }
}

/// Where the refill's values go.
#[derive(Debug)]
pub enum RecordedForm {
    /// The cone program: its structure (with the values at recording), and the
    /// value of each entry of P, q, A, b and of c0.
    Cone {
        /// The cone program's structure and its values at recording.
        program: ConeProgram,
        /// The value of each entry of P, in `program.p`'s order.
        p: Vec<Value>,
        /// The value of each entry of q.
        q: Vec<Value>,
        /// The value of each entry of A, in `program.a`'s order.
        a: Vec<Value>,
        /// The value of each entry of b.
        b: Vec<Value>,
        /// The value of the objective's constant.
        c0: Value,
    },
    /// Unconstrained least squares `min ‖Mx + d‖²`: M (`rows × cols`) as entries
    /// added to zero, d per row; `dense` when M is, row-major, the steps from
    /// that one on (a parameter matrix used as is).
    LeastSquares {
        /// M's rows (the residual's entries).
        rows: usize,
        /// M's columns (the variables' entries).
        cols: usize,
        /// M's entries, `(row, column, value)`, added to zero in order.
        m: Vec<(usize, usize, Value)>,
        /// d, one value per row.
        d: Vec<Value>,
        /// When M is a parameter matrix used as is: the step of its first
        /// entry (row-major, consecutive steps).
        dense: Option<usize>,
    },
}

/// How the recording reads data: constants for data without parameters, leaves
/// that name a parameter's or the `Data` kernel's entries otherwise.
fn lift(e: &Expr, t: Tensor, index: Option<usize>) -> Data<Rec> {
    let at = |i: usize| match (&e.kind, index) {
        (ExprKind::Param(p), _) => Some(Source::Param { param: p.0, index: i as u32 }),
        (_, Some(k)) => Some(Source::Data { output: k as u32, index: i as u32 }),
        _ => None,
    };
    if !mentions_param(e) || at(0).is_none() {
        if mentions_param(e) {
            Rec::opaque("a parameter-dependent data expression outside the node's `Data` kernel");
        }
        return Data { shape: t.shape, data: t.data.into_iter().map(Rec::from).collect() };
    }
    let data = t.data.into_iter().enumerate().map(|(i, v)| at(i).map_or(Rec::from(v), |s| Rec::leaf(v, s))).collect();
    Data { shape: t.shape, data }
}

/// Records `node`'s standard form at the parameter values `bound` (the shapes
/// matter; the values pick the side of each data-dependent decision), `data`
/// the `Data` kernel's outputs there. `Err` says why the node's reductions
/// cannot be replayed (it is then canonicalised on every call).
pub fn record(node: &Node, bound: &Bound, data: &[Tensor]) -> Result<Recorded, CanonError> {
    let session = RecordSession::start();
    if node.solve.is_none() {
        if let Some(r) = residual(node, bound, data, lift) {
            let (e, var_cols, cols) = r?;
            let outputs: Vec<Rec> = e.e.iter().flat_map(|l| l.terms.iter().map(|t| t.1).chain([l.c])).collect();
            let refill = session.finish(&outputs).map_err(|message| CanonError { message, span: None })?;
            let mut m = Vec::new();
            for (i, l) in e.e.iter().enumerate() {
                m.extend(l.terms.iter().map(|&(j, a)| (i, j, refill.source(a))));
            }
            let d = e.e.iter().map(|l| refill.source(l.c)).collect();
            let rows = e.len();
            // M read row-major from consecutive steps (a parameter matrix, as is): copied whole.
            let dense = match m.first() {
                Some(&(0, 0, Value::Step(first))) if m.len() == rows * cols => (m.iter().enumerate())
                    .all(|(k, &(i, j, v))| i * cols + j == k && v == Value::Step(first + k as u32))
                    .then_some(first as usize),
                _ => None,
            };
            let form = RecordedForm::LeastSquares { rows, cols, m, d, dense };
            let layout = Layout { var_cols, constraint_rows: Vec::new() };
            return Ok(Recorded { refill, form, layout, log: Vec::new(), compiled: None });
        }
    }
    let reduced = reduce_node(node, bound, data, |n| Builder::<Rec>::with_lift(n, lift))?;
    let (f, ranges) = reduced.sink.finish_form();
    let constraint_rows = reduced.tags.into_iter().map(|(tag, shape)| (ranges[tag.index()], shape)).collect();
    let layout = Layout { var_cols: reduced.var_cols, constraint_rows };
    let triplets = |rows, cols, e: &[(usize, usize, Rec)]| Triplets {
        nrows: rows,
        ncols: cols,
        entries: e.iter().map(|&(i, j, v)| (i, j, v.value_unrecorded())).collect(),
    };
    let program = ConeProgram {
        p: triplets(f.n, f.n, &f.p),
        q: f.q.iter().map(|v| v.value_unrecorded()).collect(),
        a: triplets(f.b.len(), f.n, &f.a),
        b: f.b.iter().map(|v| v.value_unrecorded()).collect(),
        cones: f.cones,
        c0: f.c0.value_unrecorded(),
    };
    let entries = |e: &[(usize, usize, Rec)]| e.iter().map(|t| t.2).collect::<Vec<_>>();
    let outputs = [entries(&f.p), f.q.clone(), entries(&f.a), f.b.clone(), vec![f.c0]].concat();
    let refill = session.finish(&outputs).map_err(|message| CanonError { message, span: None })?;
    let sources = |v: &[Rec]| v.iter().map(|x| refill.source(*x)).collect::<Vec<_>>();
    let form = RecordedForm::Cone {
        p: f.p.iter().map(|e| refill.source(e.2)).collect(),
        q: sources(&f.q),
        a: f.a.iter().map(|e| refill.source(e.2)).collect(),
        b: sources(&f.b),
        c0: refill.source(f.c0),
        program,
    };
    Ok(Recorded { refill, form, layout, log: reduced.log, compiled: None })
}

impl Recorded {
    /// Replays the program at `bound` (`data`: the `Data` kernel's outputs, empty
    /// when the program reads none) into `scratch.values`.
    pub fn replay(&self, bound: &Bound, data: &[Tensor], scratch: &mut Scratch) -> Result<(), Miss> {
        // At most a handful of parameters and data tensors: slices on the stack.
        const MAX: usize = 16;
        if bound.params.len() > MAX || data.len() > MAX {
            let params: Vec<&[f64]> = bound.params.iter().map(|p| p.data.as_slice()).collect();
            let data: Vec<&[f64]> = data.iter().map(|d| d.data.as_slice()).collect();
            return self.replay_slices(&params, &data, scratch);
        }
        let mut params: [&[f64]; MAX] = [&[]; MAX];
        let mut datas: [&[f64]; MAX] = [&[]; MAX];
        params.iter_mut().zip(&bound.params).for_each(|(s, p)| *s = &p.data);
        datas.iter_mut().zip(data).for_each(|(s, d)| *s = &d.data);
        self.replay_slices(&params[..bound.params.len()], &datas[..data.len()], scratch)
    }

    /// The replay, compiled or interpreted, from parameter and data slices.
    pub fn replay_slices(&self, params: &[&[f64]], data: &[&[f64]], scratch: &mut Scratch) -> Result<(), Miss> {
        match self.compiled {
            Some(c) => (c.replay)(&self.refill, params, data, scratch),
            None => self.refill.replay(params, data, scratch),
        }
    }

    /// The reverse sweep, compiled or interpreted: `scratch.adj` holds
    /// ∂ψ/∂(each step's value) for the outputs on entry, the total derivatives
    /// on return ([`Refill::adjoint`]).
    pub fn adjoint(&self, scratch: &mut Scratch) {
        match self.compiled {
            Some(c) => (c.adjoint)(&self.refill, scratch),
            None => self.refill.adjoint(scratch),
        }
    }

    /// Writes the replayed values into `program`, which has this recording's
    /// structure (a clone of [`RecordedForm::Cone`]'s program).
    pub fn fill(&self, values: &[f64], program: &mut ConeProgram) {
        let RecordedForm::Cone { p, q, a, b, c0, .. } = &self.form else { return };
        program.p.entries.iter_mut().zip(p).for_each(|(e, v)| e.2 = value_of(*v, values));
        program.q.iter_mut().zip(q).for_each(|(e, v)| *e = value_of(*v, values));
        program.a.entries.iter_mut().zip(a).for_each(|(e, v)| e.2 = value_of(*v, values));
        program.b.iter_mut().zip(b).for_each(|(e, v)| *e = value_of(*v, values));
        program.c0 = value_of(*c0, values);
    }

    /// Seeds `scratch.adj` with `∂ψ/∂(P, q, A, b)` for
    /// `ψ = −w_xᵀ(Px + q + Aᵀz) − w_zᵀ(Ax − b)` (P symmetric, its upper
    /// triangle stored), zero elsewhere.
    pub fn seed_cone(&self, x: &[f64], z: &[f64], wx: &[f64], wz: &[f64], scratch: &mut Scratch) {
        let RecordedForm::Cone { program, p, q, a, b, .. } = &self.form else { return };
        let adj = &mut scratch.adj;
        adj.clear();
        adj.resize(self.refill.steps.len(), 0.0);
        // Sliced to their lengths and each entry's seed formed only for a step
        // (not a constant): a third of the instructions of a closure per
        // entry (session 13); the same sums in the same order.
        let (n, m) = (wx.len(), wz.len());
        let (x, z) = (&x[..n], &z[..m]);
        for (&(i, j, _), &v) in program.p.entries.iter().zip(p) {
            if let Value::Step(s) = v {
                adj[s as usize] += if i == j { -wx[i] * x[i] } else { -(wx[i] * x[j] + wx[j] * x[i]) };
            }
        }
        for (&v, w) in q.iter().zip(wx) {
            if let Value::Step(s) = v {
                adj[s as usize] += -w;
            }
        }
        for (&(r, j, _), &v) in program.a.entries.iter().zip(a) {
            if let Value::Step(s) = v {
                adj[s as usize] += -(wx[j] * z[r]) - wz[r] * x[j];
            }
        }
        for (&v, &w) in b.iter().zip(wz) {
            if let Value::Step(s) = v {
                adj[s as usize] += w;
            }
        }
    }

    /// Seeds `scratch.adj` with `∂ψ/∂(M, d)` for least squares, where
    /// `ψ = −w_xᵀ(2MᵀMx + 2Mᵀd) = −2(Mw)ᵀr`, `r = Mx + d`:
    /// `∂ψ/∂M_ij = −2(r_i w_j + (Mw)_i x_j)`, `∂ψ/∂d_i = −2(Mw)_i`.
    pub fn seed_least_squares(&self, x: &[f64], wx: &[f64], scratch: &mut Scratch) {
        let RecordedForm::LeastSquares { rows, cols, m, d, dense } = &self.form else { return };
        let Scratch { values, adj, rows: rm, .. } = scratch;
        let (r, mw) = rm;
        r.clear();
        r.extend(d.iter().map(|v| value_of(*v, values)));
        mw.clear();
        mw.resize(*rows, 0.0);
        adj.clear();
        adj.resize(self.refill.steps.len(), 0.0);
        if let Some(first) = *dense {
            let n = *cols;
            let block = &values[first..first + rows * n];
            // Two passes over M (m·n each): the row products in 16-lane sums
            // (a single running sum waits on every add's latency), both loops
            // compiled for the widest vectors the CPU has.
            vectorised(
                #[inline(always)]
                || {
                    for (i, row) in block.chunks_exact(n).enumerate() {
                        r[i] += dot(row, x);
                        mw[i] = dot(row, wx);
                    }
                    for (i, out) in adj[first..first + rows * n].chunks_exact_mut(n).enumerate() {
                        let (ri, mi) = (-2.0 * r[i], -2.0 * mw[i]);
                        out.iter_mut().zip(wx).zip(x).for_each(|((o, w), x)| *o += ri * w + mi * x);
                    }
                },
            );
        } else {
            for &(i, j, v) in m {
                let a = value_of(v, values);
                r[i] += a * x[j];
                mw[i] += a * wx[j];
            }
            for &(i, j, v) in m {
                if let Value::Step(s) = v {
                    adj[s as usize] += -2.0 * (r[i] * wx[j] + mw[i] * x[j]);
                }
            }
        }
        for (i, v) in d.iter().enumerate() {
            if let Value::Step(s) = v {
                adj[*s as usize] += -2.0 * mw[i];
            }
        }
    }

    /// The reverse sweep from the seeded `scratch.adj`, then the leaves'
    /// derivatives carried to the parameters: added to `grads` (parameter
    /// shapes), through the `Data` kernel's expressions by reverse mode where a
    /// leaf reads one. `data_cot` is kept between calls (one tensor per output).
    pub fn to_params(
        &self,
        node: &Node,
        bound: &Bound,
        scratch: &mut Scratch,
        data_cot: &mut Vec<Tensor>,
        grads: &mut [Tensor],
    ) -> Result<(), EvalError> {
        self.adjoint(scratch);
        if self.refill.reads_data {
            let exprs = crate::kernel::data_exprs(node);
            let env = Env { params: &bound.params, vars: &[], dims: &bound.dims, syms: &[] };
            data_cot.resize_with(exprs.len(), || Tensor::scalar(0.0));
            for (t, e) in data_cot.iter_mut().zip(&exprs) {
                let shape = eval::concrete(&e.shape, &bound.dims);
                let len = shape.iter().product();
                t.shape = shape;
                t.data.clear();
                t.data.resize(len, 0.0);
            }
            self.scatter_leaves(scratch, grads, data_cot);
            for (cot, e) in data_cot.iter().zip(exprs) {
                if cot.data.iter().all(|&v| v == 0.0) {
                    continue;
                }
                let g = eval::vjp(e, &env, cot)?;
                for (acc, gp) in grads.iter_mut().zip(g.params) {
                    if let Some(gp) = gp {
                        acc.data.iter_mut().zip(&gp.data).for_each(|(a, b)| *a += b);
                    }
                }
            }
        } else {
            self.scatter_leaves(scratch, grads, &mut []);
        }
        Ok(())
    }

    fn scatter_leaves(&self, scratch: &Scratch, grads: &mut [Tensor], data_cot: &mut [Tensor]) {
        for b in &self.refill.blocks {
            let (to, index) = match b.source {
                Source::Param { param, index } => (&mut grads[param as usize], index),
                Source::Data { output, index } => (&mut data_cot[output as usize], index),
            };
            let to = &mut to.data[index as usize..index as usize + b.len];
            to.iter_mut().zip(&scratch.adj[b.first..b.first + b.len]).for_each(|(g, a)| *g += a);
        }
    }
}
