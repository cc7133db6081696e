//! Cranelift IR for one program: a loop nest per planned step, a shim call
//! per fallback or check, in the program's order.

use std::collections::HashMap;

use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::{types, AbiParam, FuncRef, InstBuilder, MemFlagsData, Signature, Value};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext, Variable};
use cranelift_jit::JITModule;
use cranelift_module::{FuncId, Module};

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
}

/// Fills `func` with the code of `plans`.
pub(super) fn function(
    module: &mut JITModule,
    imports: &Imports,
    func: &mut cranelift_codegen::ir::Function,
    fctx: &mut FunctionBuilderContext,
    plans: &[Plan],
    layout: &Layout,
) {
    let mut b = FunctionBuilder::new(func, fctx);
    let entry = b.create_block();
    b.append_block_params_for_function_params(entry);
    b.switch_to_block(entry);
    b.seal_block(entry);
    let (arena, call) = (b.block_params(entry)[0], b.block_params(entry)[1]);
    let mut e = Emitter { b, module, imports, refs: HashMap::new(), arena, call, offsets: &layout.offsets };
    for (k, plan) in plans.iter().enumerate() {
        e.step(k, plan);
    }
    let ok = e.b.ins().iconst(types::I32, 0);
    e.b.ins().return_(&[ok]);
    let config = e.module.target_config();
    e.b.finalize(config);
}

impl Emitter<'_, '_> {
    fn step(&mut self, k: usize, plan: &Plan) {
        match *plan {
            Plan::Ready => {}
            Plan::Fallback => self.status("ddn_jit_step", k),
            Plan::Map { f, x, rows, cols, check } => {
                if check == Check::Before {
                    self.status("ddn_jit_check", k);
                }
                self.elementwise(k, &[x], rows, cols, &mut |e, v| e.unary(f, v[0]));
            }
            Plan::Zip { f, a, b, rows, cols, check } => {
                if check == Check::Before {
                    self.status("ddn_jit_check", k);
                }
                self.elementwise(k, &[a, b], rows, cols, &mut |e, v| e.binary(f, v[0], v[1]));
                if check == Check::After {
                    self.status("ddn_jit_check", k);
                }
            }
            Plan::Fold { f, start, x, outer, inner, post } => self.fold(k, f, start, x, outer, inner, post),
        }
    }

    /// Calls shim `name(call, arena, k)` and returns its status if nonzero.
    fn status(&mut self, name: &'static str, k: usize) {
        let f = self.import(name);
        let step = self.b.ins().iconst(types::I64, k as i64);
        let inst = self.b.ins().call(f, &[self.call, self.arena, step]);
        let status = self.b.inst_results(inst)[0];
        let (fail, cont) = (self.b.create_block(), self.b.create_block());
        self.b.ins().brif(status, fail, &[], cont, &[]);
        self.b.seal_block(fail);
        self.b.seal_block(cont);
        self.b.switch_to_block(fail);
        self.b.ins().return_(&[status]);
        self.b.switch_to_block(cont);
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

    /// The address of entry `base + Σ index·stride` of step `slot`.
    fn address(&mut self, slot: usize, terms: &[(Value, usize)]) -> Value {
        let mut idx = self.b.ins().iconst(types::I64, self.offsets[slot] as i64);
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
        let a = self.address(slot, terms);
        self.b.ins().store(MemFlagsData::trusted(), v, a, 0);
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
                let a = e.b.use_var(acc);
                let r = match f {
                    Fold::Add => e.b.ins().fadd(a, v),
                    Fold::AddSquare => {
                        let sq = e.b.ins().fmul(v, v);
                        e.b.ins().fadd(a, sq)
                    }
                    Fold::AddAbs => {
                        let ab = e.b.ins().fabs(v);
                        e.b.ins().fadd(a, ab)
                    }
                    Fold::Max => e.binary(Binary::Max, a, v),
                    Fold::Min => e.binary(Binary::Min, a, v),
                    Fold::MaxAbs => {
                        let ab = e.b.ins().fabs(v);
                        e.binary(Binary::Max, a, ab)
                    }
                };
                e.b.def_var(acc, r);
            });
            let a = e.b.use_var(acc);
            let r = match post {
                Post::None => a,
                Post::Div(c) => {
                    let c = e.b.ins().f64const(c);
                    e.b.ins().fdiv(a, c)
                }
                Post::Sqrt => e.b.ins().sqrt(a),
            };
            e.store(r, k, &[(o, 1)]);
        });
    }

    fn unary(&mut self, f: Unary, x: Value) -> Value {
        match f {
            Unary::Copy => x,
            Unary::Neg => self.b.ins().fneg(x),
            Unary::Square => self.b.ins().fmul(x, x),
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
