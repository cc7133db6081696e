//! A `.ddn` file loaded at run time: compiled, each node's kernels ready to run
//! on one of the back ends, forward and backward over named tensors.
//!
//! This is the library side of `ddnc run` and `ddnc bench`, and what a program
//! that reads `.ddn` source at run time calls ([`crate::load`] for the
//! JIT). The back ends agree bit for bit (`kernel`'s module docs), so the
//! choice is one of speed: the evaluator walks expression trees, the
//! interpreter runs the lowered programs, the JIT runs them as machine code.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use crate::analysis::{Analysed, Analysis};
use crate::diag::Color;
use crate::eval::Tensor;
use crate::ir::Node;
use crate::kernel::{Evaluated, Interpreted, Kernels};
use crate::runtime::{bind, kernel_set, Bound, Prepared, RunError, Solved, Threads};
use crate::Compiled;

/// Which back end runs a node's kernels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// The tree-walking evaluator: the reference.
    Evaluator,
    /// The lowered programs, interpreted step by step.
    Interpreter,
    /// The lowered programs compiled by Cranelift ([`crate::jit`]).
    Jit,
}

/// A compiled file whose nodes can be run.
pub struct Module {
    compiled: Compiled,
    backend: Backend,
}

/// Why a file could not be loaded: its rendered diagnostics.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct LoadError(pub String);

impl Module {
    /// Compiles `source` (named `name` in diagnostics); any error fails the load.
    pub fn load(name: &str, source: &str, backend: Backend) -> Result<Module, LoadError> {
        let compiled = crate::compile(name, source);
        if compiled.has_errors() {
            return Err(LoadError(compiled.diagnostics_text(Color::Never)));
        }
        Ok(Module { compiled, backend })
    }

    /// The compiled file (its nodes, and any warnings).
    pub fn compiled(&self) -> &Compiled {
        &self.compiled
    }

    /// The node called `name`, its kernels prepared (derived, lowered, and
    /// for the JIT compiled on first use per set of dimension sizes).
    pub fn node(&self, name: &str) -> Result<LoadedNode<'_>, RunError> {
        let nodes = &self.compiled.program.nodes;
        let Some(node) = self.compiled.node(name) else {
            let names: Vec<&str> = nodes.iter().map(|n| n.name.as_str()).collect();
            return Err(RunError::Invalid(format!("no node `{name}`; the file has `{}`", names.join("`, `"))));
        };
        LoadedNode::new(&node, self.backend)
    }
}

/// One node with its kernels on a back end, and the node prepared per set of
/// dimension sizes it has been called with ([`Prepared`]).
pub struct LoadedNode<'m> {
    node: &'m Node,
    analysis: &'m Analysis,
    kernels: Arc<dyn Kernels>,
    prepared: Mutex<Vec<Arc<Prepared<'m>>>>,
}

/// How many sizes a loaded node keeps prepared; past it, it starts afresh (as
/// the JIT's per-size cache does).
const MAX_SIZES: usize = 32;

/// A forward solve, with what its backward pass needs.
pub struct Forward {
    /// The outputs, status and solver facts.
    pub solved: Solved,
    bound: Bound,
}

impl<'m> LoadedNode<'m> {
    /// `node`'s kernels on `backend`.
    pub fn new(node: &Analysed<'m>, backend: Backend) -> Result<LoadedNode<'m>, RunError> {
        let set = kernel_set(node)?;
        let kernels: Arc<dyn Kernels> = match backend {
            Backend::Evaluator => Arc::new(Evaluated(set)),
            Backend::Interpreter => Arc::new(Interpreted(set)),
            Backend::Jit => Arc::new(crate::jit::JitKernels::new(set)),
        };
        let Analysed { node, analysis } = node;
        Ok(LoadedNode { node, analysis, kernels, prepared: Mutex::new(Vec::new()) })
    }

    /// `node` with its kernels run by `kernels` (a generated module's) and
    /// already prepared for some sizes (the recordings it was built with).
    pub fn with_kernels(node: &Analysed<'m>, kernels: Arc<dyn Kernels>, prepared: Vec<Prepared<'m>>) -> LoadedNode<'m> {
        let Analysed { node, analysis } = node;
        LoadedNode { node, analysis, kernels, prepared: Mutex::new(prepared.into_iter().map(Arc::new).collect()) }
    }

    /// The IR node.
    pub fn node(&self) -> &'m Node {
        self.node
    }

    /// The node with its analysis.
    pub fn analysed(&self) -> Analysed<'m> {
        Analysed::new(self.node, self.analysis)
    }

    /// The node's kernels on its back end, to share with
    /// [`crate::runtime::forward_batch`] (with [`crate::runtime::Options::kernels`]) or to keep beyond this borrow (the
    /// Python package holds them for the life of a layer, so the JIT's
    /// compiled code is reused across calls).
    pub fn kernels(&self) -> Arc<dyn Kernels> {
        self.kernels.clone()
    }

    /// Binds `inputs` and readies the kernels for their sizes (the JIT
    /// compiles), so that a first `forward` costs what later ones do.
    pub fn prepare(&self, inputs: &BTreeMap<String, Tensor>) -> Result<(), RunError> {
        let bound = bind(self.node, inputs).map_err(RunError::Inputs)?;
        self.kernels.prepare(&bound.dims).map_err(|e| RunError::Internal(e.to_string()))
    }

    /// Solves the node at the named parameter values.
    pub fn forward(&self, inputs: &BTreeMap<String, Tensor>) -> Result<Forward, RunError> {
        let bound = bind(self.node, inputs).map_err(RunError::Inputs)?;
        let solved = self.prepared(&bound)?.forward(&bound)?;
        Ok(Forward { solved, bound })
    }

    /// The node prepared for `bound`'s sizes (prepared now, at its values, if new).
    pub fn prepared(&self, bound: &Bound) -> Result<Arc<Prepared<'m>>, RunError> {
        let poisoned = || RunError::Internal("internal: a forward panicked while preparing this node".into());
        let mut prepared = self.prepared.lock().map_err(|_| poisoned())?;
        if let Some(p) = prepared.iter().find(|p| p.dims() == bound.dims.as_slice()) {
            return Ok(p.clone());
        }
        if prepared.len() >= MAX_SIZES {
            // Sizes recorded at build time stay (they cost nothing to keep).
            prepared.retain(|p| p.recorded().is_some_and(|r| r.compiled.is_some()));
        }
        let p = Arc::new(Prepared::new(&self.analysed(), bound, self.kernels.clone())?);
        prepared.push(p.clone());
        Ok(p)
    }

    /// Solves every instance of a batch on `threads`, the instances of one size
    /// sharing the node prepared for it and kept here: a later batch at the same
    /// sizes records nothing and reuses the workspaces
    /// ([`crate::runtime::Prepared::forward_batch`]). Results in input order.
    pub fn forward_batch(&self, bounds: &[Bound], threads: Threads) -> Vec<Result<Solved, RunError>> {
        crate::runtime::batch::forward_batch_by_size(bounds, threads, |b| self.prepared(b))
    }

    /// dL/dparameters, by name, for the named cotangents dL/doutputs (a missing
    /// output's cotangent is zero).
    pub fn backward(
        &self,
        forward: &mut Forward,
        cotangents: &BTreeMap<String, Tensor>,
    ) -> Result<BTreeMap<String, Tensor>, RunError> {
        let cot: Vec<(String, Tensor)> = cotangents.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        let grads = crate::diff::backward(self.node, &forward.bound, &mut forward.solved, &cot)?;
        Ok(self.node.params.iter().map(|p| p.name.clone()).zip(grads).collect())
    }

    /// The tangent of every output, by name, for the named tangents of the
    /// parameters (a missing parameter's tangent is zero): forward mode
    /// ([`crate::diff::jvp`]).
    pub fn jvp(
        &self,
        forward: &mut Forward,
        tangents: &BTreeMap<String, Tensor>,
    ) -> Result<BTreeMap<String, Tensor>, RunError> {
        let dots: Vec<(String, Tensor)> = tangents.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        Ok(crate::diff::jvp(self.node, &forward.bound, &mut forward.solved, &dots)?.into_iter().collect())
    }
}
