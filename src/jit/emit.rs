//! Cranelift IR for one program: a loop per planned step or loop nest per
//! fused group (`fuse.rs`), a shim call per fallback, in the schedule's order.
//! A domain check that fails sets a flag; the function then returns a nonzero
//! status before the next fallback call or at its end, and the caller runs the
//! interpreter.

use std::collections::HashMap;

use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::{types, AbiParam, Endianness, FuncRef, InstBuilder, MemFlagsData, Signature, Type, Value};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext, Variable};
use cranelift_jit::JITModule;
use cranelift_module::{FuncId, Module};

use super::fuse::{operands, Member, Nest, Role, Unit, PAIRS};
use super::layout::Layout;
use super::plan::{Binary, Check, Fold, Operand, Plan, Post, Unary};

/// The shims a function may call, declared once in the module.
pub(super) struct Imports {
    pub ids: HashMap<&'static str, FuncId>,
}

/// An address as loads and stores take it: a pointer and a constant byte offset.
type At = (Value, i32);

/// The compiled function's signature:
/// `(arena: *mut f64, call: *const Call, inputs: *const *const f64) -> i32`.
pub(super) fn signature(module: &JITModule) -> Signature {
    let ptr = module.target_config().pointer_type();
    let mut sig = module.make_signature();
    sig.params.push(AbiParam::new(ptr));
    sig.params.push(AbiParam::new(ptr));
    sig.params.push(AbiParam::new(ptr));
    sig.returns.push(AbiParam::new(types::I32));
    sig
}

struct Emitter<'m, 'f> {
    b: FunctionBuilder<'f>,
    module: &'m mut JITModule,
    imports: &'m Imports,
    refs: HashMap<&'static str, FuncRef>,
    arena: Value,
    call: Value,
    offsets: &'m [usize],
    /// Per step that is an input, the address of its first entry (loaded
    /// from the table of inputs on entry).
    inputs: HashMap<usize, Value>,
    /// Set (nonzero) once an entry fails a domain check.
    bad: Variable,
    /// Rows computed at once: 1 (`f64` values), or 2 in a loop nest (`f64x2`,
    /// lane `l` row `i + l`, so each lane does what one row alone does).
    lanes: usize,
    /// In a loop nest, by `(step, lanes)`: the value of a step outside it that
    /// it reads as a scalar (a constant, `alpha`), loaded once before its rows.
    invariant: HashMap<(usize, usize), Value>,
    /// In a loop nest's two-lane rows: whether domain checks are batched, and
    /// the lanes that failed one so far in the current stretch of straight-line
    /// code, or-ed together: tested once where the stretch ends
    /// ([`Self::flush_checks`]), not once per check.
    batch_checks: bool,
    failed: Option<Value>,
    /// The pointers `ptr + 8·Σ index·stride` computed in the current block, by
    /// `(ptr, terms)`: accesses at the same entry of different steps (or rows
    /// a constant apart) share one address computation.
    addresses: HashMap<(Value, Vec<(Value, usize)>), Value>,
}

/// Fills `func` with the code of `units` (steps planned by `plans`).
pub(super) fn function(
    module: &mut JITModule,
    imports: &Imports,
    func: &mut cranelift_codegen::ir::Function,
    fctx: &mut FunctionBuilderContext,
    units: &[Unit],
    plans: &[Plan],
    layout: &Layout,
) {
    let mut b = FunctionBuilder::new(func, fctx);
    let entry = b.create_block();
    b.append_block_params_for_function_params(entry);
    b.switch_to_block(entry);
    b.seal_block(entry);
    let (arena, call, table) = (b.block_params(entry)[0], b.block_params(entry)[1], b.block_params(entry)[2]);
    let inputs = (layout.input.iter().enumerate())
        .filter_map(|(k, q)| q.map(|q| (k, b.ins().load(types::I64, MemFlagsData::trusted(), table, 8 * q as i32))))
        .collect();
    let bad = b.declare_var(types::I8);
    let no = b.ins().iconst(types::I8, 0);
    b.def_var(bad, no);
    let offsets = &layout.offsets;
    let mut e = Emitter {
        b,
        module,
        imports,
        refs: HashMap::new(),
        arena,
        call,
        offsets,
        inputs,
        bad,
        lanes: 1,
        invariant: HashMap::new(),
        batch_checks: false,
        failed: None,
        addresses: HashMap::new(),
    };
    for unit in units {
        match unit {
            Unit::Step(k) => e.step(*k, &plans[*k]),
            Unit::Nest(nest) => e.nest(nest, plans),
        }
    }
    let bad = e.b.use_var(e.bad);
    let status = e.b.ins().uextend(types::I32, bad);
    e.b.ins().return_(&[status]);
    let config = e.module.target_config();
    e.b.finalize(config);
}

impl Emitter<'_, '_> {
    fn step(&mut self, k: usize, plan: &Plan) {
        match *plan {
            Plan::Ready => {}
            Plan::Fallback => {
                // Not on values a failed check made meaningless.
                let bad = self.b.use_var(self.bad);
                let status = self.b.ins().uextend(types::I32, bad);
                self.fail_if(status);
                self.status("ddn_jit_step", k);
            }
            Plan::Map { f, x, rows, cols, check } => {
                self.elementwise(k, &[x], rows, cols, &mut |e, v| {
                    e.check(check, v);
                    e.unary(f, v[0])
                });
            }
            Plan::Zip { f, a, b, rows, cols, check } => {
                self.elementwise(k, &[a, b], rows, cols, &mut |e, v| {
                    e.check(check, v);
                    e.binary(f, v[0], v[1])
                });
            }
            Plan::Fold { f, start, x, outer, inner, post } => self.fold(k, f, start, x, outer, inner, post),
        }
    }

    /// Flags the call when an entry with operand values `v` fails `check`.
    fn check(&mut self, check: Check, v: &[Value]) {
        let cmp = |e: &mut Self, cc: FloatCC, x: Value, c: f64| {
            let c = e.konst(c);
            e.b.ins().fcmp(cc, x, c)
        };
        let fails = match check {
            Check::None => return,
            Check::Negative => cmp(self, FloatCC::LessThan, v[0], 0.0),
            Check::NonPositive => cmp(self, FloatCC::LessThanOrEqual, v[0], 0.0),
            Check::ZeroDivisor => cmp(self, FloatCC::Equal, v[1], 0.0),
            Check::Pow(p) => {
                let int = p.fract() == 0.0;
                match (int, p < 0.0) {
                    (true, false) => return,
                    (true, true) => cmp(self, FloatCC::Equal, v[0], 0.0),
                    (false, false) => cmp(self, FloatCC::LessThan, v[0], 0.0),
                    // A negative fractional power: x < 0 or x == 0.
                    (false, true) => cmp(self, FloatCC::LessThanOrEqual, v[0], 0.0),
                }
            }
            Check::HuberM => {
                let nan = self.b.ins().fcmp(FloatCC::Unordered, v[1], v[1]);
                let negative = cmp(self, FloatCC::LessThan, v[1], 0.0);
                self.b.ins().bor(nan, negative)
            }
            Check::KlDiv => {
                let x = cmp(self, FloatCC::LessThan, v[0], 0.0);
                let y = cmp(self, FloatCC::LessThanOrEqual, v[1], 0.0);
                self.b.ins().bor(x, y)
            }
        };
        if self.lanes == 2 && self.batch_checks {
            self.failed = Some(match self.failed {
                Some(so_far) => self.b.ins().bor(so_far, fails),
                None => fails,
            });
            return;
        }
        let fails = if self.lanes == 1 { fails } else { self.b.ins().vany_true(fails) };
        let bad = self.b.use_var(self.bad);
        let bad = self.b.ins().bor(bad, fails);
        self.b.def_var(self.bad, bad);
    }

    /// Flags the call if a lane failed a batched check since the last flush.
    fn flush_checks(&mut self) {
        if let Some(failed) = self.failed.take() {
            let any = self.b.ins().vany_true(failed);
            let bad = self.b.use_var(self.bad);
            let bad = self.b.ins().bor(bad, any);
            self.b.def_var(self.bad, bad);
        }
    }

    /// The type of a value at the current width.
    fn ty(&self) -> Type {
        if self.lanes == 1 {
            types::F64
        } else {
            types::F64X2
        }
    }

    /// `c` in every lane (`0.0` in two lanes as one `xorpd`: the domain
    /// checks compare with it).
    fn konst(&mut self, c: f64) -> Value {
        if self.lanes == 2 && c.to_bits() == 0 {
            let zeros = self.b.func.dfg.constants.insert(vec![0u8; 16].into());
            return self.b.ins().vconst(types::F64X2, zeros);
        }
        let c = self.b.ins().f64const(c);
        if self.lanes == 1 {
            c
        } else {
            self.b.ins().splat(types::F64X2, c)
        }
    }

    /// `if cond { a } else { b }` in each lane (`cond` from `fcmp`).
    fn pick(&mut self, cond: Value, a: Value, b: Value) -> Value {
        if self.lanes == 1 {
            return self.b.ins().select(cond, a, b);
        }
        let mask = self.b.ins().bitcast(types::F64X2, MemFlagsData::new().with_endianness(Endianness::Little), cond);
        self.b.ins().bitselect(mask, a, b)
    }

    /// `f` on each lane's scalars (a shim call per lane).
    fn lanewise(&mut self, xs: &[Value], f: &mut dyn FnMut(&mut Self, &[Value]) -> Value) -> Value {
        if self.lanes == 1 {
            return f(self, xs);
        }
        let mut out = Vec::with_capacity(2);
        for l in 0..2u8 {
            let scalars: Vec<Value> = xs.iter().map(|&x| self.b.ins().extractlane(x, l)).collect();
            self.lanes = 1;
            out.push(f(self, &scalars));
            self.lanes = 2;
        }
        let v = self.b.ins().scalar_to_vector(types::F64X2, out[0]);
        self.b.ins().insertlane(v, out[1], 1)
    }

    /// `f` on each lane's scalar in turn (row `i`, then row `i + 1`).
    fn each_lane(&mut self, v: Value, f: &mut dyn FnMut(&mut Self, Value)) {
        let lanes = self.lanes;
        let scalars: Vec<Value> =
            if lanes == 1 { vec![v] } else { (0..2u8).map(|l| self.b.ins().extractlane(v, l)).collect() };
        self.lanes = 1;
        scalars.into_iter().for_each(|x| f(self, x));
        self.lanes = lanes;
    }

    /// The entry at `base + Σ index·stride` of each lane's row, the rows
    /// `stride` entries apart.
    fn load_rows(&mut self, (ptr, base): (Value, usize), terms: &[(Value, usize)], stride: usize) -> Value {
        let a = self.address_in(ptr, base, terms);
        let load = |e: &mut Self, (a, off): At| e.b.ins().load(types::F64, MemFlagsData::trusted(), a, off);
        match (self.lanes, stride) {
            (1, _) => load(self, a),
            (_, 0) => {
                let x = load(self, a);
                self.b.ins().splat(types::F64X2, x)
            }
            // Only 8-byte aligned: no `aligned` flag, which would let Cranelift
            // fold the load into an SSE instruction that needs 16.
            (_, 1) => self.b.ins().load(types::F64X2, MemFlagsData::new().with_notrap(), a.0, a.1),
            // A splat of a load is one `movddup` from memory (`scalar_to_vector`
            // of a loaded value was a load, a zeroing and a merge).
            (_, s) => {
                let x0 = load(self, a);
                let a1 = self.offset(a, 8 * s);
                let x1 = load(self, a1);
                let v = self.b.ins().splat(types::F64X2, x0);
                self.b.ins().insertlane(v, x1, 1)
            }
        }
    }

    /// Stores each lane's entry as [`Self::load_rows`] reads it.
    fn store_rows(&mut self, v: Value, base: usize, terms: &[(Value, usize)], stride: usize) {
        let a = self.address_at(base, terms);
        match (self.lanes, stride) {
            (1, _) => {
                self.b.ins().store(MemFlagsData::trusted(), v, a.0, a.1);
            }
            (_, 1) => {
                self.b.ins().store(MemFlagsData::new().with_notrap(), v, a.0, a.1);
            }
            (_, s) => {
                let a1 = self.offset(a, 8 * s);
                for (l, (a, off)) in [(0u8, a), (1, a1)] {
                    let x = self.b.ins().extractlane(v, l);
                    self.b.ins().store(MemFlagsData::trusted(), x, a, off);
                }
            }
        }
    }

    /// Returns `status` from the function if it is nonzero.
    fn fail_if(&mut self, status: Value) {
        let (fail, cont) = (self.b.create_block(), self.b.create_block());
        self.b.ins().brif(status, fail, &[], cont, &[]);
        self.b.seal_block(fail);
        self.b.seal_block(cont);
        self.switch_to(fail);
        self.b.ins().return_(&[status]);
        self.switch_to(cont);
    }

    /// Calls shim `name(call, arena, k)` and returns its status if nonzero.
    fn status(&mut self, name: &'static str, k: usize) {
        let f = self.import(name);
        let step = self.b.ins().iconst(types::I64, k as i64);
        let inst = self.b.ins().call(f, &[self.call, self.arena, step]);
        let status = self.b.inst_results(inst)[0];
        self.fail_if(status);
    }

    fn import(&mut self, name: &'static str) -> FuncRef {
        if let Some(&f) = self.refs.get(name) {
            return f;
        }
        let f = self.module.declare_func_in_func(self.imports.ids[name], self.b.func);
        self.refs.insert(name, f);
        f
    }

    /// Goes on emitting in `block` (whose addresses are its own).
    fn switch_to(&mut self, block: cranelift_codegen::ir::Block) {
        self.addresses.clear();
        self.b.switch_to_block(block);
    }

    /// `for i in 0..n { body(i) }`; for `n = 1` the body alone, with `i = 0`
    /// (a one-column nest's passes, a variable of length 1): no loop around
    /// it, so its values stay in registers and its addresses fold.
    fn counted(&mut self, n: usize, body: &mut dyn FnMut(&mut Self, Value)) {
        let zero = self.b.ins().iconst(types::I64, 0);
        if n == 1 {
            body(self, zero);
            return;
        }
        let i = self.b.declare_var(types::I64);
        self.b.def_var(i, zero);
        let (header, inner, exit) = (self.b.create_block(), self.b.create_block(), self.b.create_block());
        self.b.ins().jump(header, &[]);
        self.switch_to(header);
        let iv = self.b.use_var(i);
        let more = self.b.ins().icmp_imm_u(IntCC::UnsignedLessThan, iv, n as i64);
        self.b.ins().brif(more, inner, &[], exit, &[]);
        self.switch_to(inner);
        self.b.seal_block(inner);
        body(self, iv);
        let iv = self.b.use_var(i);
        let next = self.b.ins().iadd_imm_u(iv, 1);
        self.b.def_var(i, next);
        self.b.ins().jump(header, &[]);
        self.b.seal_block(header);
        self.switch_to(exit);
        self.b.seal_block(exit);
    }

    /// Where step `slot`'s entries start: the caller's for an input, else
    /// at an offset in the arena.
    fn origin(&self, slot: usize) -> (Value, usize) {
        match self.inputs.get(&slot) {
            Some(&p) => (p, 0),
            None => (self.arena, self.offsets[slot]),
        }
    }

    /// The address of entry `Σ index·stride` of step `slot`.
    fn address(&mut self, slot: usize, terms: &[(Value, usize)]) -> At {
        let (ptr, base) = self.origin(slot);
        self.address_in(ptr, base, terms)
    }

    /// The address of arena entry `base + Σ index·stride`.
    fn address_at(&mut self, base: usize, terms: &[(Value, usize)]) -> At {
        self.address_in(self.arena, base, terms)
    }

    /// The address of entry `base + Σ index·stride` from `ptr`: the indices'
    /// part computed, `base` as the access's constant offset (so x86 takes
    /// `[ptr + index·8 + 8·base]` in one addressing mode).
    fn address_in(&mut self, ptr: Value, base: usize, terms: &[(Value, usize)]) -> At {
        let terms: Vec<(Value, usize)> = terms.iter().copied().filter(|&(_, s)| s != 0).collect();
        if let Some(&at) = self.addresses.get(&(ptr, terms.clone())) {
            return self.offset((at, 0), 8 * base);
        }
        let mut idx = None;
        for &(v, s) in &terms {
            if s != 0 {
                let t = if s == 1 { v } else { self.b.ins().imul_imm_u(v, s as i64) };
                idx = Some(match idx {
                    Some(i) => self.b.ins().iadd(i, t),
                    None => t,
                });
            }
        }
        let at = match idx {
            Some(i) => {
                let bytes = self.b.ins().ishl_imm_u(i, 3);
                self.b.ins().iadd(ptr, bytes)
            }
            None => ptr,
        };
        self.addresses.insert((ptr, terms), at);
        self.offset((at, 0), 8 * base)
    }

    /// `bytes` further on than `a`: in the constant offset while it fits.
    fn offset(&mut self, (a, off): At, bytes: usize) -> At {
        match i32::try_from(bytes).ok().and_then(|b| off.checked_add(b)) {
            Some(off) => (a, off),
            None => (self.b.ins().iadd_imm_u(a, bytes as i64), off),
        }
    }

    fn load(&mut self, slot: usize, terms: &[(Value, usize)]) -> Value {
        let (a, off) = self.address(slot, terms);
        self.b.ins().load(types::F64, MemFlagsData::trusted(), a, off)
    }

    fn store(&mut self, v: Value, slot: usize, terms: &[(Value, usize)]) {
        self.store_at(v, self.offsets[slot], terms);
    }

    fn store_at(&mut self, v: Value, base: usize, terms: &[(Value, usize)]) {
        let (a, off) = self.address_at(base, terms);
        self.b.ins().store(MemFlagsData::trusted(), v, a, off);
    }

    /// `out[i, j] = f(args[i, j])`, one loop when there is one row or every
    /// operand is contiguous or constant along the rows (then `i * cols + j`
    /// is one index).
    fn elementwise(
        &mut self,
        k: usize,
        args: &[Operand],
        rows: usize,
        cols: usize,
        f: &mut dyn FnMut(&mut Self, &[Value]) -> Value,
    ) {
        if rows == 1 || args.iter().all(|a| a.s0 == a.s1 * cols) {
            self.counted(rows * cols, &mut |e, t| {
                let v: Vec<Value> = args.iter().map(|a| e.load(a.slot, &[(t, a.s1)])).collect();
                let r = f(e, &v);
                e.store(r, k, &[(t, 1)]);
            });
        } else {
            self.counted(rows, &mut |e, i| {
                e.counted(cols, &mut |e, j| {
                    let v: Vec<Value> = args.iter().map(|a| e.load(a.slot, &[(i, a.s0), (j, a.s1)])).collect();
                    let r = f(e, &v);
                    e.store(r, k, &[(i, cols), (j, 1)]);
                });
            });
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn fold(&mut self, k: usize, f: Fold, start: f64, x: Operand, outer: usize, inner: usize, post: Post) {
        self.counted(outer, &mut |e, o| {
            let acc: Variable = e.b.declare_var(types::F64);
            let s = e.b.ins().f64const(start);
            e.b.def_var(acc, s);
            e.counted(inner, &mut |e, i| {
                let v = e.load(x.slot, &[(o, x.s0), (i, x.s1)]);
                e.accumulate(f, acc, v);
            });
            let a = e.b.use_var(acc);
            let r = e.post(post, a);
            e.store(r, k, &[(o, 1)]);
        });
    }

    /// `acc = f(acc, v)`.
    fn accumulate(&mut self, f: Fold, acc: Variable, v: Value) {
        let a = self.b.use_var(acc);
        let r = self.fold_step(f, a, v);
        self.b.def_var(acc, r);
    }

    /// One step of a fold: `f(a, v)`.
    fn fold_step(&mut self, f: Fold, a: Value, v: Value) -> Value {
        match f {
            Fold::Add => self.b.ins().fadd(a, v),
            Fold::AddSquare => {
                let sq = self.b.ins().fmul(v, v);
                self.b.ins().fadd(a, sq)
            }
            Fold::AddAbs => {
                let ab = self.b.ins().fabs(v);
                self.b.ins().fadd(a, ab)
            }
            Fold::Max => self.binary(Binary::Max, a, v),
            Fold::Min => self.binary(Binary::Min, a, v),
            Fold::MaxAbs => {
                let ab = self.b.ins().fabs(v);
                self.binary(Binary::Max, a, ab)
            }
        }
    }

    fn post(&mut self, post: Post, a: Value) -> Value {
        match post {
            Post::None => a,
            Post::Div(c) => {
                let c = self.konst(c);
                self.b.ins().fdiv(a, c)
            }
            Post::Sqrt => self.b.ins().sqrt(a),
        }
    }

    /// A fused group: for each row, its passes over the columns and the row
    /// values after each (see `fuse.rs`); two rows at a time where every
    /// fold allows (a lane is a row, so folds along rows keep their order;
    /// a total over entries visits row `i` wholly before row `i + 1`).
    fn nest(&mut self, nest: &Nest, plans: &[Plan]) {
        let (rows, cols) = (nest.rows, nest.cols);
        // Column folds accumulate in place from their start; totals in a variable.
        let mut totals = HashMap::new();
        for m in &nest.members {
            match (m.role, &plans[m.k]) {
                (Role::ColumnFold, &Plan::Fold { start, .. }) => {
                    let s = self.b.ins().f64const(start);
                    self.counted(cols, &mut |e, j| e.store(s, m.k, &[(j, 1)]));
                }
                (Role::Total { .. }, &Plan::Fold { start, .. }) => {
                    let acc = self.b.declare_var(types::F64);
                    let s = self.b.ins().f64const(start);
                    self.b.def_var(acc, s);
                    totals.insert(m.k, acc);
                }
                _ => {}
            }
        }
        // A total over entries visits row `i` wholly before row `i + 1`: with two
        // rows a pass, only when a row is one entry.
        if cols == 1 || nest.members.iter().all(|m| m.role != Role::Total { of_entries: true }) {
            // `PAIRS` pairs of rows per iteration, then the rest one row at a time.
            let step = 2 * PAIRS;
            self.invariants(nest, plans, 2);
            self.batch_checks = true;
            self.counted(rows / step, &mut |e, t| {
                let i = e.b.ins().imul_imm_u(t, step as i64);
                e.rows(nest, plans, i, PAIRS, &totals);
            });
            self.batch_checks = false;
            let done = rows - rows % step;
            if done < rows {
                self.invariants(nest, plans, 1);
                self.counted(rows - done, &mut |e, t| {
                    let i = e.b.ins().iadd_imm_u(t, done as i64);
                    e.rows(nest, plans, i, 1, &totals);
                });
            }
        } else {
            self.invariants(nest, plans, 1);
            self.counted(rows, &mut |e, i| e.rows(nest, plans, i, 1, &totals));
        }
        self.invariant.clear();
        self.lanes = 1;
        for m in &nest.members {
            match (m.role, &plans[m.k]) {
                (Role::ColumnFold, &Plan::Fold { post, .. }) if post != Post::None => {
                    self.counted(cols, &mut |e, j| {
                        let a = e.load(m.k, &[(j, 1)]);
                        let r = e.post(post, a);
                        e.store(r, m.k, &[(j, 1)]);
                    });
                }
                (Role::Total { .. }, &Plan::Fold { post, .. }) => {
                    let a = self.b.use_var(totals[&m.k]);
                    let r = self.post(post, a);
                    self.store(r, m.k, &[]);
                }
                _ => {}
            }
        }
    }

    /// Sets the width to `lanes` and loads, before the rows that use them,
    /// the steps outside the nest that its rows read as scalars (a constant,
    /// `alpha`). Loaded anew for each width, where that width's rows start, so
    /// none is held in a register across the rows of the other.
    fn invariants(&mut self, nest: &Nest, plans: &[Plan], lanes: usize) {
        self.invariant.clear();
        self.lanes = lanes;
        for m in &nest.members {
            for x in operands(&plans[m.k]) {
                if (x.s0, x.s1) == (0, 0) && nest.member(x.slot).is_none() {
                    let v = self.load_rows(self.origin(x.slot), &[], 0);
                    self.invariant.insert((x.slot, lanes), v);
                }
            }
        }
    }

    /// The rows of `groups` groups of a nest from row `i`: group `g` is row
    /// `i + 2g` (with two lanes, rows `i + 2g` and `i + 2g + 1`). Each member
    /// is computed for every group before the next member, so the groups'
    /// chains (a row's sum, then its divisions and square root) are
    /// independent work side by side, not one after the other. A group's
    /// entries are its rows' offset from row `i` by a constant, so the groups
    /// share their address computations.
    fn rows(&mut self, nest: &Nest, plans: &[Plan], i: Value, groups: usize, totals: &HashMap<usize, Variable>) {
        let cols = nest.cols;
        // These rows' values, by step and group.
        let mut row: HashMap<(usize, usize), Value> = HashMap::new();
        for phase in 0..nest.phases() {
            let pass: Vec<_> = nest.members.iter().filter(|m| m.phase == phase && m.role.in_pass()).collect();
            let mut accs = HashMap::new();
            for m in pass.iter().filter(|m| m.role == Role::RowFold) {
                let Plan::Fold { start, .. } = plans[m.k] else { continue };
                for g in 0..groups {
                    let acc = self.b.declare_var(self.ty());
                    let s = self.konst(start);
                    self.b.def_var(acc, s);
                    accs.insert((m.k, g), acc);
                }
            }
            if !pass.is_empty() {
                self.counted(cols, &mut |e, j| {
                    let mut entry = HashMap::new();
                    for m in &pass {
                        e.pass_member(nest, m, (i, groups), j, &row, &mut entry, &accs, totals, plans);
                    }
                    e.flush_checks();
                });
            }
            for m in pass.iter().filter(|m| m.role == Role::RowFold) {
                let Plan::Fold { post, .. } = plans[m.k] else { continue };
                for g in 0..groups {
                    let a = self.b.use_var(accs[&(m.k, g)]);
                    let v = self.post(post, a);
                    if m.keep {
                        self.store_rows(v, self.offsets[m.k] + 2 * g, &[(i, 1)], 1);
                    }
                    row.insert((m.k, g), v);
                }
            }
            for m in nest.members.iter().filter(|m| m.phase == phase && !m.role.in_pass()) {
                for g in 0..groups {
                    match (m.role, &plans[m.k]) {
                        (Role::Total { .. }, &Plan::Fold { f, x, .. }) => {
                            let acc = totals[&m.k];
                            self.each_lane(row[&(x.slot, g)], &mut |e, v| e.accumulate(f, acc, v));
                        }
                        (_, plan) => {
                            let v = self.member_value(plan, &mut |e, x| match row.get(&(x.slot, g)) {
                                Some(&v) => v,
                                None => match e.invariant.get(&(x.slot, e.lanes)) {
                                    Some(&v) if (x.s0, x.s1) == (0, 0) => v,
                                    _ => {
                                        let (ptr, base) = e.origin(x.slot);
                                        e.load_rows((ptr, base + 2 * g * x.s1), &[(i, x.s1)], x.s1)
                                    }
                                },
                            });
                            if m.keep {
                                self.store_rows(v, self.offsets[m.k] + 2 * g, &[(i, 1)], 1);
                            }
                            row.insert((m.k, g), v);
                        }
                    }
                }
            }
            self.flush_checks();
        }
    }

    /// Member `m` (computed in a pass) at entries `(i + 2g, j)` for each
    /// group `g < groups`, group by group.
    #[allow(clippy::too_many_arguments)]
    fn pass_member(
        &mut self,
        nest: &Nest,
        m: &Member,
        (i, groups): (Value, usize),
        j: Value,
        row: &HashMap<(usize, usize), Value>,
        entry: &mut HashMap<(usize, usize), Value>,
        accs: &HashMap<(usize, usize), Variable>,
        totals: &HashMap<usize, Variable>,
        plans: &[Plan],
    ) {
        let (rows, cols, lanes) = (nest.rows, nest.cols, self.lanes);
        // Group `g`'s operand at entry `(s_i·(i + 2g) + s_j·j)` (the next row
        // `s_i` entries on): this pass's value, a row value, a value read
        // outside the rows, an earlier pass's entry (in the arena or its
        // scratch row), or the arena; an operand constant down the columns
        // (`y` in `x - y`) is loaded once for every group.
        let mut read = |e: &mut Self, g: usize, x: Operand, (s_i, s_j): (usize, usize)| {
            if let Some(&v) = entry.get(&(x.slot, g)).or_else(|| row.get(&(x.slot, g))) {
                return v;
            }
            match e.invariant.get(&(x.slot, e.lanes)) {
                Some(&v) if (x.s0, x.s1) == (0, 0) => return v,
                _ => {}
            }
            let every_group = usize::MAX;
            if s_i == 0 {
                if let Some(&v) = entry.get(&(x.slot, every_group)) {
                    return v;
                }
            }
            let v = match nest.member(x.slot) {
                // Loaded once per entry, however many members read it.
                Some(&Member { keep: false, scratch: Some(s), .. }) => {
                    let v = e.load_rows((e.arena, s + 2 * cols * g), &[(j, lanes)], 1);
                    entry.insert((x.slot, g), v);
                    v
                }
                _ => {
                    let (ptr, base) = e.origin(x.slot);
                    e.load_rows((ptr, base + 2 * g * s_i), &[(i, s_i), (j, s_j)], s_i)
                }
            };
            if s_i == 0 {
                entry.insert((x.slot, every_group), v);
            }
            v
        };
        let k = m.k;
        match (m.role, &plans[k]) {
            (Role::RowFold, &Plan::Fold { f, x, .. }) => {
                for g in 0..groups {
                    let v = read(self, g, x, (x.s0, x.s1));
                    self.accumulate(f, accs[&(k, g)], v);
                }
            }
            // Two-lane rows only in a one-column nest, where row-major order is
            // lane by lane, group by group.
            (Role::Total { .. }, &Plan::Fold { f, x, .. }) => {
                let acc = totals[&k];
                for g in 0..groups {
                    let v = read(self, g, x, (x.s0, x.s1));
                    self.each_lane(v, &mut |e, v| e.accumulate(f, acc, v));
                }
            }
            (Role::ColumnFold, &Plan::Fold { f, x, .. }) => {
                // The rows' entries in order into one load and one store of the
                // column's sum (a store and a reload between them would put the
                // store-to-load forwarding on the sum's chain).
                let vs: Vec<Value> = (0..groups).map(|g| read(self, g, x, (x.s1, x.s0))).collect();
                let a = self.load(k, &[(j, 1)]);
                let acc = self.b.declare_var(types::F64);
                self.b.def_var(acc, a);
                for v in vs {
                    self.each_lane(v, &mut |e, v| e.accumulate(f, acc, v));
                }
                let a = self.b.use_var(acc);
                self.store(a, k, &[(j, 1)]);
            }
            (Role::Transposed, plan) => {
                for g in 0..groups {
                    let v = self.member_value(plan, &mut |e, x| read(e, g, x, (x.s1, x.s0)));
                    self.store_rows(v, self.offsets[k] + 2 * g, &[(j, rows), (i, 1)], 1);
                }
            }
            (_, plan) => {
                let mut vs = Vec::with_capacity(groups);
                for g in 0..groups {
                    let v = self.member_value(plan, &mut |e, x| read(e, g, x, (x.s0, x.s1)));
                    if m.keep {
                        self.store_rows(v, self.offsets[k] + 2 * g * cols, &[(i, cols), (j, 1)], cols);
                    } else if let Some(s) = m.scratch {
                        self.store_rows(v, s + 2 * cols * g, &[(j, lanes)], 1);
                    }
                    vs.push(v);
                }
                vs.into_iter().enumerate().for_each(|(g, v)| {
                    entry.insert((k, g), v);
                });
            }
        }
    }

    /// An elementwise plan's value at one entry, its operands read by `read`.
    fn member_value(&mut self, plan: &Plan, read: &mut dyn FnMut(&mut Self, Operand) -> Value) -> Value {
        match *plan {
            Plan::Map { f, x, check, .. } => {
                let v = read(self, x);
                self.check(check, &[v]);
                self.unary(f, v)
            }
            Plan::Zip { f, a, b, check, .. } => {
                let (a, b) = (read(self, a), read(self, b));
                self.check(check, &[a, b]);
                self.binary(f, a, b)
            }
            // `fuse::Open::join` gives entry, row value and transposed roles to
            // `Map` and `Zip` plans only.
            _ => unreachable!("only elementwise plans compute entries"),
        }
    }

    fn unary(&mut self, f: Unary, x: Value) -> Value {
        match f {
            Unary::Copy => x,
            Unary::Neg => self.b.ins().fneg(x),
            Unary::Square => self.b.ins().fmul(x, x),
            Unary::Cube => {
                let sq = self.b.ins().fmul(x, x);
                self.b.ins().fmul(sq, x)
            }
            Unary::Abs => self.b.ins().fabs(x),
            Unary::Pos => {
                // `x.max(0.0)`: 0.0 unless x > 0 (NaN gives 0.0).
                let zero = self.konst(0.0);
                let gt = self.b.ins().fcmp(FloatCC::GreaterThan, x, zero);
                self.pick(gt, x, zero)
            }
            Unary::Sign => {
                let (zero, one, minus) = (self.konst(0.0), self.konst(1.0), self.konst(-1.0));
                let gt = self.b.ins().fcmp(FloatCC::GreaterThan, x, zero);
                let lt = self.b.ins().fcmp(FloatCC::LessThan, x, zero);
                let neg = self.pick(lt, minus, zero);
                self.pick(gt, one, neg)
            }
            Unary::Step => {
                let (zero, one) = (self.konst(0.0), self.konst(1.0));
                let gt = self.b.ins().fcmp(FloatCC::GreaterThan, x, zero);
                self.pick(gt, one, zero)
            }
            Unary::Sqrt => self.b.ins().sqrt(x),
            Unary::Recip => {
                let one = self.konst(1.0);
                self.b.ins().fdiv(one, x)
            }
            Unary::Call(name) => self.lanewise(&[x], &mut |e, x| {
                let f = e.import(name);
                let inst = e.b.ins().call(f, x);
                e.b.inst_results(inst)[0]
            }),
            Unary::Powf(p) => self.lanewise(&[x], &mut |e, x| {
                let f = e.import("powf");
                let p = e.b.ins().f64const(p);
                let inst = e.b.ins().call(f, &[x[0], p]);
                e.b.inst_results(inst)[0]
            }),
        }
    }

    fn binary(&mut self, f: Binary, a: Value, b: Value) -> Value {
        match f {
            Binary::Add => self.b.ins().fadd(a, b),
            Binary::Sub => self.b.ins().fsub(a, b),
            Binary::Mul => self.b.ins().fmul(a, b),
            Binary::Div => self.b.ins().fdiv(a, b),
            // `a.max(b)`: b if a is NaN, else b if b > a, else a.
            Binary::Max | Binary::Min => {
                let cc = if f == Binary::Max { FloatCC::GreaterThan } else { FloatCC::LessThan };
                let better = self.b.ins().fcmp(cc, b, a);
                let pick = self.pick(better, b, a);
                let nan = self.b.ins().fcmp(FloatCC::Unordered, a, a);
                self.pick(nan, b, pick)
            }
            Binary::Ge => {
                let (zero, one) = (self.konst(0.0), self.konst(1.0));
                let ge = self.b.ins().fcmp(FloatCC::GreaterThanOrEqual, a, b);
                self.pick(ge, one, zero)
            }
            Binary::Huber => {
                // `if x.abs() <= m { x * x } else { 2.0 * m * x.abs() - m * m }`
                let ax = self.b.ins().fabs(a);
                let inside = self.b.ins().fcmp(FloatCC::LessThanOrEqual, ax, b);
                let square = self.b.ins().fmul(a, a);
                let two = self.konst(2.0);
                let two_m = self.b.ins().fmul(two, b);
                let slope = self.b.ins().fmul(two_m, ax);
                let mm = self.b.ins().fmul(b, b);
                let linear = self.b.ins().fsub(slope, mm);
                self.pick(inside, square, linear)
            }
            Binary::Call(name) => self.lanewise(&[a, b], &mut |e, x| {
                let f = e.import(name);
                let inst = e.b.ins().call(f, x);
                e.b.inst_results(inst)[0]
            }),
        }
    }
}
