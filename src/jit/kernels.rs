//! A node's kernels run as machine code, compiled on first use per set of
//! dimension sizes.

use std::sync::{Arc, RwLock};

use super::program::compile_all;
use super::{JitError, JitProgram};
use crate::eval::{same_shape, Env, EvalError, Tensor};
use crate::kernel::{no_kernel, KernelId, KernelSet, Kernels};

/// [`Kernels`] by the JIT: bit for bit the interpreter's outputs. A program
/// the JIT cannot compile (its dry run fails) runs in the interpreter.
pub struct JitKernels {
    set: Arc<KernelSet>,
    /// Per dimension sizes (a failed module too, so it is not retried per
    /// call), most recently compiled first: a linear scan of at most
    /// [`MAX_SIZES`] short slices, cheaper per kernel call than hashing the
    /// sizes, and a node usually runs at one or two sizes.
    cache: RwLock<Vec<Entry>>,
}

/// How many sets of dimension sizes keep their machine code at once. A node fed
/// ever new sizes (a varying batch dimension) would otherwise keep a module per
/// size forever; past this the cache starts afresh (modules still in use stay
/// alive through their `Arc`s until their callers finish).
const MAX_SIZES: usize = 32;

/// Each kernel's compiled program (or why it was not compiled), in the set's order.
pub type Compiled = Arc<Vec<Result<JitProgram, JitError>>>;

/// A cache entry: the dimension sizes and what was compiled for them.
type Entry = (Vec<usize>, Result<Compiled, JitError>);

impl JitKernels {
    /// The kernels of `set`, compiled on first use at each set of sizes.
    pub fn new(set: Arc<KernelSet>) -> JitKernels {
        JitKernels { set, cache: RwLock::new(Vec::new()) }
    }

    /// Every kernel compiled for `dims` (cached).
    pub fn compiled(&self, dims: &[usize]) -> Result<Compiled, JitError> {
        let find = |cache: &[Entry]| cache.iter().find(|(d, _)| same_shape(d, dims)).map(|(_, c)| c.clone());
        if let Some(c) = find(&self.cache.read().unwrap_or_else(|e| e.into_inner())) {
            return c;
        }
        // With a Hessian kernel the solvers never run the Hessian–vector product:
        // it is left to the interpreter (same numbers) rather than compiled.
        let skip = |id: KernelId| id == KernelId::Hvp && self.set.index(KernelId::Hessian).is_some();
        let empty = crate::kernel::Tape::default();
        let programs: Vec<_> = self.set.kernels.iter().map(|k| if skip(k.id) { &empty } else { &k.program }).collect();
        let compiled = compile_all(&programs, dims).map(|c| {
            let skipped = || Err(JitError("not compiled: the Hessian kernel replaces it".into()));
            Arc::new(
                c.into_iter().zip(&self.set.kernels).map(|(p, k)| if skip(k.id) { skipped() } else { p }).collect(),
            )
        });
        let mut cache = self.cache.write().unwrap_or_else(|e| e.into_inner());
        // Another thread may have compiled the same sizes meanwhile: its
        // module is the one kept (and returned to every caller).
        if let Some(c) = find(&cache) {
            return c;
        }
        if cache.len() >= MAX_SIZES {
            cache.clear();
        }
        cache.insert(0, (dims.to_vec(), compiled.clone()));
        compiled
    }
}

impl Kernels for JitKernels {
    fn run(&self, id: KernelId, env: &Env) -> Result<Vec<Tensor>, EvalError> {
        let mut out = Vec::new();
        self.run_into(id, env, &mut out)?;
        Ok(out)
    }

    fn run_into(&self, id: KernelId, env: &Env, out: &mut Vec<Tensor>) -> Result<(), EvalError> {
        let Some(k) = self.set.index(id) else {
            return Err(no_kernel(id));
        };
        match self.compiled(env.dims).as_deref().map(|c| &c[k]) {
            Ok(Ok(p)) => p.run_into(env, out),
            _ => {
                *out = self.set.kernels[k].program.run(env)?;
                Ok(())
            }
        }
    }

    fn prepare(&self, dims: &[usize]) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        Ok(self.compiled(dims).map(|_| ())?)
    }
}
