//! A compiled program, and the module that owns its machine code.

use std::cell::RefCell;
use std::collections::HashMap;
use std::panic::resume_unwind;
use std::sync::{Arc, Mutex};

use cranelift_codegen::control::ControlPlane;
use cranelift_codegen::ir::{types, AbiParam};
use cranelift_codegen::isa::OwnedTargetIsa;
use cranelift_codegen::settings::{self, Configurable};
use cranelift_frontend::FunctionBuilderContext;
use cranelift_jit::{JITBuilder, JITModule};
use cranelift_module::{default_libcall_names, Linkage, Module, ModuleReloc};

use super::emit::{self, Imports};
use super::fuse::{schedule, Unit};
use super::layout::Layout;
use super::plan::{plan, Plan};
use super::shims::{Call, Failure, BINARY, STATUS, UNARY};
use super::JitError;
use crate::eval::{overwrite_tensors, same_shape, Env, EvalError, Op, Tensor};
use crate::kernel::Tape;

/// The JIT module of one compilation; its code is freed when the last
/// [`JitProgram`] compiled in it is dropped.
struct Code(Option<JITModule>);

// SAFETY: after `finalize_definitions` the module is never touched again
// except to free its memory on drop; the functions in it are plain code.
unsafe impl Send for Code {}
unsafe impl Sync for Code {}

impl Drop for Code {
    fn drop(&mut self) {
        if let Some(m) = self.0.take() {
            // SAFETY: every function pointer into the module is held by a
            // `JitProgram` next to an `Arc<Code>`, so none is left to call.
            unsafe { m.free_memory() }
        }
    }
}

type Entry = unsafe extern "C" fn(*mut f64, *const Call<'static>, *const *const f64) -> i32;

/// One program compiled for fixed dimension sizes. [`JitProgram::run`] agrees
/// bit for bit with [`Tape::run`].
pub struct JitProgram {
    entry: Entry,
    program: Tape,
    dims: Vec<usize>,
    layout: Layout,
    plans: Vec<Plan>,
    /// How many steps run inside fused loop nests.
    fused: usize,
    /// `(step, where its value comes from)` for each input step, in the
    /// order of the table of inputs (`Layout::input`).
    inputs: Vec<(usize, Op)>,
    /// Arenas of earlier calls, reused: every step the code computes
    /// overwrites its whole value (loops store each entry, folds keep their
    /// accumulator in a register, the fallback copies `apply`'s value in), and
    /// inputs are read in place, so only the folded constants of the
    /// template must survive, and no step writes there. A call then neither
    /// allocates nor copies the template.
    spare: Mutex<Vec<Vec<f64>>>,
    _code: Arc<Code>,
}

/// How many idle arenas a program keeps (one per concurrent caller is enough).
const SPARE_ARENAS: usize = 8;

/// Up to this many inputs, a call's tables of them live on its stack (a
/// kernel reads the node's parameters, variables and a few symbols: the
/// pooling nodes' at most four), so a call allocates nothing but new outputs.
const STACK_INPUTS: usize = 8;

impl JitProgram {
    /// The outputs' values in `env`; the interpreter's answer, computed by the
    /// compiled code (or by the interpreter when `env`'s dimension sizes or an
    /// input's shape are not the ones compiled for).
    pub fn run(&self, env: &Env) -> Result<Vec<Tensor>, EvalError> {
        let mut out = Vec::new();
        self.run_into(env, &mut out)?;
        Ok(out)
    }

    /// [`Self::run`]'s outputs written into `out` (see
    /// [`crate::kernel::Kernels::run_into`]): its tensors are overwritten in
    /// place, so a call at the sizes of the last allocates no outputs.
    pub fn run_into(&self, env: &Env, out: &mut Vec<Tensor>) -> Result<(), EvalError> {
        if !same_shape(env.dims, &self.dims) {
            return self.interpreted(env, out);
        }
        let spare = self.spare.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let mut arena = spare.unwrap_or_else(|| self.layout.template.clone());
        let done = self.run_in(&mut arena, env, out);
        let mut spare = self.spare.lock().unwrap_or_else(|e| e.into_inner());
        if spare.len() < SPARE_ARENAS {
            spare.push(arena);
        }
        done
    }

    /// [`Self::run_into`] in `arena`, which holds the template's folded
    /// constants; the inputs are read where `env` keeps them.
    fn run_in(&self, arena: &mut [f64], env: &Env, out: &mut Vec<Tensor>) -> Result<(), EvalError> {
        // The inputs' entries (for the shims) and their addresses (the
        // compiled code's table): on the stack for up to `STACK_INPUTS`.
        let n = self.inputs.len();
        let (mut inputs_stack, mut table_stack) = ([&[][..]; STACK_INPUTS], [std::ptr::null(); STACK_INPUTS]);
        let (mut inputs_heap, mut table_heap) = (Vec::new(), Vec::new());
        let (inputs, table): (&mut [&[f64]], &mut [*const f64]) = if n <= STACK_INPUTS {
            (&mut inputs_stack[..n], &mut table_stack[..n])
        } else {
            inputs_heap.resize(n, &[][..]);
            table_heap.resize(n, std::ptr::null());
            (&mut inputs_heap, &mut table_heap)
        };
        for ((k, op), (input, address)) in self.inputs.iter().zip(inputs.iter_mut().zip(table.iter_mut())) {
            let value = match op {
                Op::Param(p) => env.params.get(p.0 as usize),
                Op::Var(v) => env.vars.get(v.0 as usize),
                Op::Sym { id, .. } => env.syms.get(id.0 as usize),
                _ => None,
            };
            match value {
                Some(t) if same_shape(&t.shape, &self.layout.shapes[*k]) && t.data.len() == self.layout.len(*k) => {
                    *input = &t.data;
                    *address = t.data.as_ptr();
                }
                // A missing value or another shape: the interpreter says what `apply` says.
                _ => return self.interpreted(env, out),
            }
        }
        let inputs = &*inputs;
        let call = Call { program: &self.program, layout: &self.layout, env, inputs, failure: RefCell::new(None) };
        // SAFETY: the arena has the layout's size, each input the entries its
        // shape says (checked above); `call` and the table outlive the call.
        clean_upper_state();
        let status = unsafe { (self.entry)(arena.as_mut_ptr(), (&call as *const Call).cast(), table.as_ptr()) };
        if status != 0 {
            // A failed check, a failed step or another shape: fused steps run out
            // of program order, so the interpreter says which error comes first.
            match call.failure.into_inner() {
                Some(Failure::Panic(p)) => resume_unwind(p),
                Some(Failure::Step) | None => return self.interpreted(env, out),
            }
        }
        let arena = &*arena;
        let parts = self.program.outputs.iter().map(|o| {
            let k = o.index();
            (&self.layout.shapes[k][..], self.layout.slice(arena, inputs, k))
        });
        overwrite_tensors(out, parts);
        Ok(())
    }

    /// The interpreter's outputs into `out` (a call the compiled code does not serve).
    fn interpreted(&self, env: &Env, out: &mut Vec<Tensor>) -> Result<(), EvalError> {
        *out = self.program.run(env)?;
        Ok(())
    }

    /// How many steps run as compiled loops (the rest are inputs, folded
    /// constants or fallback calls).
    pub fn inlined(&self) -> usize {
        self.plans.iter().filter(|p| !matches!(p, Plan::Ready | Plan::Fallback)).count()
    }

    /// How many steps run inside fused loop nests (`fuse.rs`).
    pub fn fused(&self) -> usize {
        self.fused
    }

    /// How many steps call `apply` through the fallback shim.
    pub fn fallbacks(&self) -> usize {
        self.plans.iter().filter(|p| matches!(p, Plan::Fallback)).count()
    }
}

/// Zeroes the upper halves of the vector registers (`vzeroupper`) before
/// compiled code runs.
///
/// Cranelift encodes some instructions (spills and reloads among them) as
/// legacy SSE, and on this project's Xeon a legacy SSE instruction issued
/// while the upper halves are dirty (left so by AVX-512 code elsewhere in the
/// process: faer's kernels, the C library) pays a state transition each time:
/// a nest that spilled ran its forward 30× slower (6.7 ms against 0.19 ms per
/// call) until a `vzeroupper` before the call restored its speed. The
/// instruction costs a cycle, and nothing live is lost: the caller is
/// compiled without AVX, so no value of it lives in an upper half.
pub(super) fn clean_upper_state() {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx") {
        // SAFETY: the host has AVX (checked just above).
        unsafe { zero_upper() }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
unsafe fn zero_upper() {
    std::arch::x86_64::_mm256_zeroupper();
}

fn err(what: &str) -> impl Fn(String) -> JitError + '_ {
    move |e| JitError(format!("{what}: {e}"))
}

/// Functions longer than this (Cranelift IR instructions) have their registers
/// allocated by Cranelift's single-pass allocator, the rest by its backtracking
/// one. The backtracking allocator's time grows faster than a function's
/// length: the three kernels of `weighted_pnp` above this size (1120–1715
/// instructions, many short loops) took most of its 21–24 ms compile, and
/// 9.4–12.4 ms with them allocated in one pass (`cargo bench --bench jit`,
/// same run, loaded machine). The pooling kernels (at most ≈ 500
/// instructions: their nests loop over rows and columns rather than unroll)
/// keep the better allocation, with which they run ≈ 25% faster.
const QUICK_ALLOCATION_ABOVE: usize = 1000;

/// A JIT module for the host, with the shims' symbols, and the host's ISA set
/// for single-pass register allocation (see [`QUICK_ALLOCATION_ABOVE`]).
fn module() -> Result<(JITModule, Imports, OwnedTargetIsa), JitError> {
    let mut flags = settings::builder();
    // No mid-end optimisation: the emitter already places each value where it
    // is to be computed (a row's values between the passes over its entries,
    // constants and addresses where they are used), and Cranelift's e-graph
    // elaboration undid that: in the machine code of the pooling kernels it
    // recomputed a row's values (divisions, square roots) inside the next
    // pass's loop, once per entry instead of once per row, and its loop-
    // invariant code motion did not hoist them back out. Without it the
    // pooling node's forward + backward ran 1.25× faster (`ddnc bench`), and
    // compiling is quicker.
    flags.set("opt_level", "none").map_err(|e| err("cranelift flags")(e.to_string()))?;
    // The IR verifier re-checks every function Cranelift is given (a fifth of
    // the compile time); what it would catch, the bit-for-bit tests against
    // the interpreter catch too (tests/suite/jit.rs), as wasmtime does by default.
    flags.set("enable_verifier", "false").map_err(|e| err("cranelift flags")(e.to_string()))?;
    let host = |flags: settings::Builder| {
        cranelift_native::builder()
            .map_err(|e| err("host")(e.to_string()))?
            .finish(settings::Flags::new(flags))
            .map_err(|e| err("host")(e.to_string()))
    };
    let mut quick = flags.clone();
    quick.set("regalloc_algorithm", "single_pass").map_err(|e| err("cranelift flags")(e.to_string()))?;
    let isa = host(flags)?;
    let quick = host(quick)?;
    let mut builder = JITBuilder::with_isa(isa, default_libcall_names());
    for (name, f) in UNARY {
        builder.symbol(format!("ddn_jit_{name}"), f as *const u8);
    }
    for (name, f) in BINARY {
        builder.symbol(format!("ddn_jit_{name}"), f as *const u8);
    }
    for (name, f) in STATUS {
        builder.symbol(name, f as *const u8);
    }
    let mut module = JITModule::new(builder);
    let ptr = module.target_config().pointer_type();
    if ptr != types::I64 {
        return Err(JitError("the JIT needs a 64-bit host".into()));
    }
    let mut ids = HashMap::new();
    let f64s = |n: usize| {
        let mut sig = module.make_signature();
        sig.params.extend((0..n).map(|_| AbiParam::new(types::F64)));
        sig.returns.push(AbiParam::new(types::F64));
        sig
    };
    let (one, two) = (f64s(1), f64s(2));
    let declare = |module: &mut JITModule, name: String, sig| {
        module.declare_function(&name, Linkage::Import, sig).map_err(|e| err("declare")(e.to_string()))
    };
    for (name, _) in UNARY {
        ids.insert(name, declare(&mut module, format!("ddn_jit_{name}"), &one)?);
    }
    for (name, _) in BINARY {
        ids.insert(name, declare(&mut module, format!("ddn_jit_{name}"), &two)?);
    }
    let mut status = module.make_signature();
    status.params.extend([AbiParam::new(ptr), AbiParam::new(ptr), AbiParam::new(types::I64)]);
    status.returns.push(AbiParam::new(types::I32));
    for (name, _) in STATUS {
        ids.insert(name, declare(&mut module, name.to_string(), &status)?);
    }
    Ok((module, Imports { ids }, quick))
}

/// Compiles `programs` into one module: each program's own result (a program
/// whose dry run fails is not compiled), or an error for the whole module.
pub(super) fn compile_all(programs: &[&Tape], dims: &[usize]) -> Result<Vec<Result<JitProgram, JitError>>, JitError> {
    compile_all_with(programs, dims, QUICK_ALLOCATION_ABOVE)
}

/// [`compile_all`] with functions of more than `quick_above` instructions
/// given the single-pass register allocator (the tests set it to 0, so every
/// function takes that path).
fn compile_all_with(
    programs: &[&Tape],
    dims: &[usize],
    quick_above: usize,
) -> Result<Vec<Result<JitProgram, JitError>>, JitError> {
    let (mut module, imports, quick) = module()?;
    let mut ctx = module.make_context();
    let mut fctx = FunctionBuilderContext::new();
    let mut pending = Vec::new();
    for (i, program) in programs.iter().enumerate() {
        let mut layout = match Layout::new(program, dims) {
            Ok(l) => l,
            Err(e) => {
                pending.push(Err(e));
                continue;
            }
        };
        let plans: Vec<Plan> = program.steps.iter().enumerate().map(|(k, s)| plan(k, s, &layout)).collect();
        // Scratch rows of fused loops go after the steps' values.
        let (units, scratch) = schedule(program, &plans, layout.template.len());
        layout.template.resize(layout.template.len() + scratch, 0.0);
        ctx.func.signature = emit::signature(&module);
        emit::function(&mut module, &imports, &mut ctx.func, &mut fctx, &units, &plans, &layout);
        let id = module
            .declare_function(&format!("kernel{i}"), Linkage::Local, &ctx.func.signature)
            .map_err(|e| err("declare")(e.to_string()))?;
        if ctx.func.dfg.num_insts() <= quick_above {
            module.define_function(id, &mut ctx).map_err(|e| err("cranelift")(format!("{e:?}")))?;
        } else {
            let align = ctx
                .compile(&*quick, &mut ControlPlane::default())
                .map_err(|e| err("cranelift")(format!("{:?}", e.inner)))?
                .buffer
                .alignment as u64;
            let code = ctx.compiled_code().ok_or_else(|| JitError("internal: no code".into()))?;
            let align = align.max(quick.function_alignment().minimum as u64).max(quick.symbol_alignment());
            let relocs: Vec<_> =
                code.buffer.relocs().iter().map(|r| ModuleReloc::from_mach_reloc(r, &ctx.func, id)).collect();
            module
                .define_function_bytes(id, align, code.code_buffer(), &relocs)
                .map_err(|e| err("cranelift")(format!("{e:?}")))?;
        }
        module.clear_context(&mut ctx);
        let fused = units.iter().map(|u| if let Unit::Nest(n) = u { n.members.len() } else { 0 }).sum();
        pending.push(Ok((id, layout, plans, fused, (*program).clone())));
    }
    module.finalize_definitions().map_err(|e| err("finalize")(e.to_string()))?;
    let entries: Vec<_> =
        pending.iter().map(|p| p.as_ref().ok().map(|(id, ..)| module.get_finalized_function(*id))).collect();
    let code = Arc::new(Code(Some(module)));
    Ok(pending
        .into_iter()
        .zip(entries)
        .map(|(p, entry)| {
            let (_, layout, plans, fused, program) = p?;
            let entry = entry.ok_or_else(|| JitError("internal: no entry".into()))?;
            let inputs = program
                .steps
                .iter()
                .enumerate()
                .filter(|(_, s)| super::layout::is_input(&s.op))
                .map(|(k, s)| (k, s.op.clone()))
                .collect();
            Ok(JitProgram {
                // SAFETY: the function was defined with `emit::signature`.
                entry: unsafe { std::mem::transmute::<*const u8, Entry>(entry) },
                program,
                dims: dims.to_vec(),
                layout,
                plans,
                fused,
                inputs,
                spare: Mutex::new(Vec::new()),
                _code: code.clone(),
            })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The single-pass allocator's path gives the interpreter's bits: every
    /// kernel of the stdlib's pooling and PnP nodes (the latter the largest
    /// functions, which take this path at the default threshold) compiled with
    /// the threshold at 0, on seeded inputs inside every atom's domain.
    #[test]
    fn single_pass_allocation_agrees_with_the_interpreter() {
        let files = [
            ("robust_pooling.ddn", include_str!("../../stdlib/robust_pooling.ddn")),
            ("pnp.ddn", include_str!("../../stdlib/pnp.ddn")),
        ];
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut positive = |len: usize| -> Vec<f64> {
            (0..len)
                .map(|_| {
                    state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
                    0.5 + 1.5 * ((state >> 11) as f64 / (1u64 << 53) as f64)
                })
                .collect()
        };
        let mut compared = 0;
        for (name, text) in files {
            let compiled = crate::compile(name, text);
            assert!(!compiled.has_errors(), "{name}: {}", compiled.diagnostics_text(crate::diag::Color::Never));
            for node in &compiled.program.nodes {
                let derived = crate::symbolic::derive(node).ok();
                let set = crate::kernel::KernelSet::new(node, derived.as_ref());
                let dims = vec![3; node.dims.len()];
                let mut make = |s: &crate::ir::Shape| {
                    let shape = crate::eval::concrete(s, &dims);
                    let data = positive(shape.iter().product());
                    Tensor { shape, data }
                };
                let params: Vec<Tensor> = node.params.iter().map(|p| make(&p.shape)).collect();
                let vars: Vec<Tensor> = node.vars.iter().map(|v| make(&v.shape)).collect();
                let syms: Vec<Tensor> = derived.iter().flat_map(|d| d.syms.iter()).map(|s| make(&s.shape)).collect();
                let env = Env { params: &params, vars: &vars, dims: &dims, syms: &syms };
                for k in &set.kernels {
                    let what = format!("{name} `{}` {:?}", node.name, k.id);
                    let Ok(expected) = k.program.run(&env) else { continue };
                    let jitted = compile_all_with(&[&k.program], &dims, 0)
                        .expect("module")
                        .pop()
                        .expect("one program")
                        .unwrap_or_else(|e| panic!("{what}: not compiled: {e}"));
                    let got = jitted.run(&env).unwrap_or_else(|e| panic!("{what}: {e:?}"));
                    let bits = |ts: &[Tensor]| -> Vec<Vec<u64>> {
                        ts.iter().map(|t| t.data.iter().map(|x| x.to_bits()).collect()).collect()
                    };
                    assert_eq!(bits(&expected), bits(&got), "{what}");
                    compared += 1;
                }
            }
        }
        assert!(compared >= 20, "only {compared} kernels compared");
    }
}
