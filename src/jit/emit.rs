//! Cranelift IR for one program: a loop per planned step or loop nest per
//! fused group (`fuse.rs`), a shim call per fallback, in the schedule's order.
//! A domain check that fails sets a flag; the function then returns a nonzero
//! status before the next fallback call or at its end, and the caller runs the
//! interpreter.

use std::collections::HashMap;

use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::{types, AbiParam, FuncRef, InstBuilder, MemFlagsData, Signature, Value};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext, Variable};
use cranelift_jit::JITModule;
use cranelift_module::{FuncId, Module};

use super::fuse::{Member, Nest, Role, Unit};
use super::layout::Layout;
use super::plan::{Binary, Check, Fold, Operand, Plan, Post, Unary};

/// The shims a function may call, declared once in the module.
pub(super) struct Imports {
    pub ids: HashMap<&'static str, FuncId>,
}

/// The compiled function's signature: `(arena: *mut f64, call: *const Call) -> i32`.
pub(super) fn signature(module: &JITModule) -> Signature {
    let ptr = module.target_config().pointer_type();
    let mut sig = module.make_signature();
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
    /// Set (nonzero) once an entry fails a domain check.
    bad: Variable,
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
    let (arena, call) = (b.block_params(entry)[0], b.block_params(entry)[1]);
    let bad = b.declare_var(types::I8);
    let no = b.ins().iconst(types::I8, 0);
    b.def_var(bad, no);
    let mut e = Emitter { b, module, imports, refs: HashMap::new(), arena, call, offsets: &layout.offsets, bad };
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
            let c = e.b.ins().f64const(c);
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
            Check::HuberM => cmp(self, FloatCC::UnorderedOrLessThan, v[1], 0.0),
            Check::KlDiv => {
                let x = cmp(self, FloatCC::LessThan, v[0], 0.0);
                let y = cmp(self, FloatCC::LessThanOrEqual, v[1], 0.0);
                self.b.ins().bor(x, y)
            }
        };
        let bad = self.b.use_var(self.bad);
        let bad = self.b.ins().bor(bad, fails);
        self.b.def_var(self.bad, bad);
    }

    /// Returns `status` from the function if it is nonzero.
    fn fail_if(&mut self, status: Value) {
        let (fail, cont) = (self.b.create_block(), self.b.create_block());
        self.b.ins().brif(status, fail, &[], cont, &[]);
        self.b.seal_block(fail);
        self.b.seal_block(cont);
        self.b.switch_to_block(fail);
        self.b.ins().return_(&[status]);
        self.b.switch_to_block(cont);
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

    /// `for i in 0..n { body(i) }`.
    fn counted(&mut self, n: usize, body: &mut dyn FnMut(&mut Self, Value)) {
        let i = self.b.declare_var(types::I64);
        let zero = self.b.ins().iconst(types::I64, 0);
        self.b.def_var(i, zero);
        let (header, inner, exit) = (self.b.create_block(), self.b.create_block(), self.b.create_block());
        self.b.ins().jump(header, &[]);
        self.b.switch_to_block(header);
        let iv = self.b.use_var(i);
        let more = self.b.ins().icmp_imm_u(IntCC::UnsignedLessThan, iv, n as i64);
        self.b.ins().brif(more, inner, &[], exit, &[]);
        self.b.switch_to_block(inner);
        self.b.seal_block(inner);
        body(self, iv);
        let iv = self.b.use_var(i);
        let next = self.b.ins().iadd_imm_u(iv, 1);
        self.b.def_var(i, next);
        self.b.ins().jump(header, &[]);
        self.b.seal_block(header);
        self.b.switch_to_block(exit);
        self.b.seal_block(exit);
    }

    /// The address of entry `Σ index·stride` of step `slot`.
    fn address(&mut self, slot: usize, terms: &[(Value, usize)]) -> Value {
        self.address_at(self.offsets[slot], terms)
    }

    /// The address of arena entry `base + Σ index·stride`.
    fn address_at(&mut self, base: usize, terms: &[(Value, usize)]) -> Value {
        let mut idx = self.b.ins().iconst(types::I64, base as i64);
        for &(v, s) in terms {
            if s != 0 {
                let t = if s == 1 { v } else { self.b.ins().imul_imm_u(v, s as i64) };
                idx = self.b.ins().iadd(idx, t);
            }
        }
        let bytes = self.b.ins().ishl_imm_u(idx, 3);
        self.b.ins().iadd(self.arena, bytes)
    }

    fn load(&mut self, slot: usize, terms: &[(Value, usize)]) -> Value {
        let a = self.address(slot, terms);
        self.b.ins().load(types::F64, MemFlagsData::trusted(), a, 0)
    }

    fn store(&mut self, v: Value, slot: usize, terms: &[(Value, usize)]) {
        self.store_at(v, self.offsets[slot], terms);
    }

    fn store_at(&mut self, v: Value, base: usize, terms: &[(Value, usize)]) {
        let a = self.address_at(base, terms);
        self.b.ins().store(MemFlagsData::trusted(), v, a, 0);
    }

    fn load_at(&mut self, base: usize, terms: &[(Value, usize)]) -> Value {
        let a = self.address_at(base, terms);
        self.b.ins().load(types::F64, MemFlagsData::trusted(), a, 0)
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
                let c = self.b.ins().f64const(c);
                self.b.ins().fdiv(a, c)
            }
            Post::Sqrt => self.b.ins().sqrt(a),
        }
    }

    /// A fused group: for each row, its passes over the columns and the row
    /// values after each (see `fuse.rs`).
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
        self.counted(rows, &mut |e, i| {
            // This row's values, by step.
            let mut row: HashMap<usize, Value> = HashMap::new();
            for phase in 0..nest.phases() {
                let pass: Vec<_> = nest.members.iter().filter(|m| m.phase == phase && m.role.in_pass()).collect();
                let mut accs = HashMap::new();
                for m in pass.iter().filter(|m| m.role == Role::RowFold) {
                    let Plan::Fold { start, .. } = plans[m.k] else { continue };
                    let acc = e.b.declare_var(types::F64);
                    let s = e.b.ins().f64const(start);
                    e.b.def_var(acc, s);
                    accs.insert(m.k, acc);
                }
                if !pass.is_empty() {
                    e.counted(cols, &mut |e, j| {
                        let mut entry: HashMap<usize, Value> = HashMap::new();
                        for m in &pass {
                            e.pass_member(nest, m.k, m.role, i, j, &row, &mut entry, &accs, &totals, plans);
                        }
                    });
                }
                for m in pass.iter().filter(|m| m.role == Role::RowFold) {
                    let Plan::Fold { post, .. } = plans[m.k] else { continue };
                    let a = e.b.use_var(accs[&m.k]);
                    let v = e.post(post, a);
                    if m.keep {
                        e.store(v, m.k, &[(i, 1)]);
                    }
                    row.insert(m.k, v);
                }
                for m in nest.members.iter().filter(|m| m.phase == phase && !m.role.in_pass()) {
                    match (m.role, &plans[m.k]) {
                        (Role::Total { .. }, &Plan::Fold { f, x, .. }) => {
                            let v = row[&x.slot];
                            e.accumulate(f, totals[&m.k], v);
                        }
                        (_, plan) => {
                            let v = e.member_value(plan, &mut |e, x| match row.get(&x.slot) {
                                Some(&v) => v,
                                None => e.load(x.slot, &[(i, x.s1)]),
                            });
                            if m.keep {
                                e.store(v, m.k, &[(i, 1)]);
                            }
                            row.insert(m.k, v);
                        }
                    }
                }
            }
        });
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

    /// Member `k` (of role `role`, computed in a pass) at entry `(i, j)`.
    #[allow(clippy::too_many_arguments)]
    fn pass_member(
        &mut self,
        nest: &Nest,
        k: usize,
        role: Role,
        i: Value,
        j: Value,
        row: &HashMap<usize, Value>,
        entry: &mut HashMap<usize, Value>,
        accs: &HashMap<usize, Variable>,
        totals: &HashMap<usize, Variable>,
        plans: &[Plan],
    ) {
        let (rows, cols) = (nest.rows, nest.cols);
        // An operand at (i, j): this pass's value, a row value, an earlier
        // pass's entry (in the arena or its scratch row), or the arena.
        let read = |e: &mut Self, x: Operand, at: [(Value, usize); 2]| {
            if let Some(&v) = entry.get(&x.slot).or_else(|| row.get(&x.slot)) {
                return v;
            }
            match nest.member(x.slot) {
                Some(&Member { keep: false, scratch: Some(at), .. }) => e.load_at(at, &[(j, 1)]),
                _ => e.load(x.slot, &at),
            }
        };
        let v = match (role, &plans[k]) {
            (Role::RowFold | Role::Total { .. }, &Plan::Fold { f, x, .. }) => {
                let v = read(self, x, [(i, x.s0), (j, x.s1)]);
                let acc = if role == Role::RowFold { accs[&k] } else { totals[&k] };
                self.accumulate(f, acc, v);
                return;
            }
            (Role::ColumnFold, &Plan::Fold { f, x, .. }) => {
                let v = read(self, x, [(j, x.s0), (i, x.s1)]);
                let a = self.load(k, &[(j, 1)]);
                let r = self.fold_step(f, a, v);
                self.store(r, k, &[(j, 1)]);
                return;
            }
            (Role::Transposed, plan) => {
                let v = self.member_value(plan, &mut |e, x| read(e, x, [(j, x.s0), (i, x.s1)]));
                self.store(v, k, &[(j, rows), (i, 1)]);
                return;
            }
            (_, plan) => self.member_value(plan, &mut |e, x| read(e, x, [(i, x.s0), (j, x.s1)])),
        };
        match nest.member(k) {
            Some(m) if m.keep => self.store(v, k, &[(i, cols), (j, 1)]),
            Some(&Member { scratch: Some(at), .. }) => self.store_at(v, at, &[(j, 1)]),
            _ => {}
        }
        entry.insert(k, v);
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
                let zero = self.b.ins().f64const(0.0);
                let gt = self.b.ins().fcmp(FloatCC::GreaterThan, x, zero);
                self.b.ins().select(gt, x, zero)
            }
            Unary::Sign => {
                let (zero, one, minus) =
                    (self.b.ins().f64const(0.0), self.b.ins().f64const(1.0), self.b.ins().f64const(-1.0));
                let gt = self.b.ins().fcmp(FloatCC::GreaterThan, x, zero);
                let lt = self.b.ins().fcmp(FloatCC::LessThan, x, zero);
                let neg = self.b.ins().select(lt, minus, zero);
                self.b.ins().select(gt, one, neg)
            }
            Unary::Step => {
                let (zero, one) = (self.b.ins().f64const(0.0), self.b.ins().f64const(1.0));
                let gt = self.b.ins().fcmp(FloatCC::GreaterThan, x, zero);
                self.b.ins().select(gt, one, zero)
            }
            Unary::Sqrt => self.b.ins().sqrt(x),
            Unary::Recip => {
                let one = self.b.ins().f64const(1.0);
                self.b.ins().fdiv(one, x)
            }
            Unary::Call(name) => {
                let f = self.import(name);
                let inst = self.b.ins().call(f, &[x]);
                self.b.inst_results(inst)[0]
            }
            Unary::Powf(p) => {
                let f = self.import("powf");
                let p = self.b.ins().f64const(p);
                let inst = self.b.ins().call(f, &[x, p]);
                self.b.inst_results(inst)[0]
            }
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
                let pick = self.b.ins().select(better, b, a);
                let nan = self.b.ins().fcmp(FloatCC::Unordered, a, a);
                self.b.ins().select(nan, b, pick)
            }
            Binary::Ge => {
                let (zero, one) = (self.b.ins().f64const(0.0), self.b.ins().f64const(1.0));
                let ge = self.b.ins().fcmp(FloatCC::GreaterThanOrEqual, a, b);
                self.b.ins().select(ge, one, zero)
            }
            Binary::Huber => {
                // `if x.abs() <= m { x * x } else { 2.0 * m * x.abs() - m * m }`
                let ax = self.b.ins().fabs(a);
                let inside = self.b.ins().fcmp(FloatCC::LessThanOrEqual, ax, b);
                let square = self.b.ins().fmul(a, a);
                let two = self.b.ins().f64const(2.0);
                let two_m = self.b.ins().fmul(two, b);
                let slope = self.b.ins().fmul(two_m, ax);
                let mm = self.b.ins().fmul(b, b);
                let linear = self.b.ins().fsub(slope, mm);
                self.b.ins().select(inside, square, linear)
            }
            Binary::Call(name) => {
                let f = self.import(name);
                let inst = self.b.ins().call(f, &[a, b]);
                self.b.inst_results(inst)[0]
            }
        }
    }
}
