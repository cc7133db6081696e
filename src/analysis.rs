//! What is derived from a checked node once and kept beside it, never in it:
//! a smooth node's symbolic derivation ([`crate::symbolic::derive`], egg's runs)
//! and the node's kernels ([`KernelSet`]), each made on first use.
//!
//! The IR is a value; its analyses live in an [`Analysis`] that the compiled
//! file keeps per node ([`crate::Compiled::analysed`]), as naga's back ends
//! receive a `ModuleInfo` beside the module. The runtime, the backward passes'
//! callers and `ddnc build` take an [`Analysed`] node (the node and its
//! analysis), so a node compiled once and solved many times derives and lowers
//! once: a later call finds the result kept.

use std::sync::{Arc, OnceLock};

use crate::ir::Node;
use crate::kernel::KernelSet;
use crate::symbolic::{DeriveError, Derived};

/// One node's analyses, each filled on first use and then kept.
#[derive(Debug, Default)]
pub struct Analysis {
    /// A smooth node's symbolic derivatives (a node is compiled once and solved
    /// many times; egg's runs are the expensive part of a smooth forward otherwise).
    derived: OnceLock<Result<Arc<Derived>, DeriveError>>,
    /// The node's kernels, lowered after the derivation.
    kernels: OnceLock<Arc<KernelSet>>,
}

impl Analysis {
    /// An analysis whose derivation was made ahead of time (a generated
    /// module's, `ddnc build`): the node is never derived again.
    pub fn with_derivation(derived: Derived) -> Analysis {
        Analysis { derived: OnceLock::from(Ok(Arc::new(derived))), kernels: OnceLock::new() }
    }

    /// The derivation, if one has been made (nothing is derived now).
    pub fn derivation(&self) -> Option<&Result<Arc<Derived>, DeriveError>> {
        self.derived.get()
    }
}

/// A checked node with its [`Analysis`]: what every entry that needs a node's
/// derivatives or kernels takes. It is a reference to the node that carries
/// the node's analysis along, and dereferences to the node.
#[derive(Clone, Copy, Debug)]
pub struct Analysed<'n> {
    /// The checked node.
    pub node: &'n Node,
    /// Its analyses (derivation and kernels), made on first use.
    pub analysis: &'n Analysis,
}

impl std::ops::Deref for Analysed<'_> {
    type Target = Node;

    fn deref(&self) -> &Node {
        self.node
    }
}

impl<'n> Analysed<'n> {
    /// `node` with `analysis`, which must be the node's own (or a fresh one).
    pub fn new(node: &'n Node, analysis: &'n Analysis) -> Analysed<'n> {
        Analysed { node, analysis }
    }

    /// Whether the node is solved through its derived expressions (a smooth
    /// node without a specialised forward).
    pub fn uses_derivation(self) -> bool {
        let node = self.node;
        !node.class.family.is_conic() && !node.solve.as_ref().is_some_and(|s| s.method.is_specialised())
    }

    /// The node's derived expressions, derived on first use and kept.
    pub fn derived(self) -> Result<Arc<Derived>, DeriveError> {
        self.analysis.derived.get_or_init(|| crate::symbolic::derive(self.node).map(Arc::new)).clone()
    }

    /// The node's kernels, lowered on first use and kept: for a smooth node
    /// after its symbolic derivation (egg).
    pub fn kernels(self) -> Result<Arc<KernelSet>, DeriveError> {
        if let Some(k) = self.analysis.kernels.get() {
            return Ok(k.clone());
        }
        let derived = if self.uses_derivation() { Some(self.derived()?) } else { None };
        Ok(self.analysis.kernels.get_or_init(|| Arc::new(KernelSet::new(self.node, derived.as_deref()))).clone())
    }
}
