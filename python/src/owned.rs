//! A node of a compiled file with its kernels and the node prepared per set of
//! dimension sizes ([`LoadedNode`]), owning the file they borrow: what a Python
//! object, which cannot carry a lifetime, holds from call to call.
//!
//! A [`LoadedNode`] borrows its IR node (`LoadedNode<'m>`, its [`Prepared`]
//! nodes `Prepared<'m>`); here the borrow is of a node inside an `Arc` that the
//! same value keeps. The lifetime it is stored with, `'static`, never leaves this
//! module: everything lent out is lent for the borrow of the [`OwnedNode`].

use std::sync::Arc;

use ddn::analysis::Analysed;
use ddn::ir::Node;
use ddn::loaded::{Backend, LoadedNode};
use ddn::runtime::{Bound, Prepared, RunError, Solved, Threads};
use ddn::Compiled;

pub struct OwnedNode {
    /// Borrows `compiled`'s node; declared before it, so dropped before it.
    loaded: LoadedNode<'static>,
    compiled: Arc<Compiled>,
}

impl OwnedNode {
    /// Node `index` of `compiled`, its kernels on `backend` (for a smooth node,
    /// derived and lowered now: run it on a thread with a large stack).
    pub fn new(compiled: Arc<Compiled>, index: usize, backend: Backend) -> Result<OwnedNode, RunError> {
        let Some(node) = compiled.analysed(index) else {
            return Err(RunError::Invalid(format!("no node number {index} in the compiled file")));
        };
        let node: *const Analysed<'_> = &node;
        // SAFETY: `node` borrows the node and its analysis inside the heap
        // allocation behind `compiled`, an `Arc` this value keeps in a private
        // field, so the allocation outlives `loaded` (dropped first: fields are
        // dropped in declaration order). Neither is moved nor written while it
        // is borrowed: the `Compiled` is only ever reached through `Arc`s,
        // never mutably (this module calls neither `Arc::get_mut` nor
        // `Arc::make_mut`, and lends `compiled` only as `&Arc`), so its vectors
        // are not reallocated, and a shared reference is what the analysis's
        // interior mutability (its `OnceLock`s) is made for. The `'static`
        // lifetime cannot escape: `loaded` is private and each method below
        // returns what it lends with the lifetime of `&self` (`Prepared<'n>` is
        // covariant in `'n`, so `Arc<Prepared<'static>>` shortens to
        // `Arc<Prepared<'_>>`).
        let node: Analysed<'static> = unsafe { *node.cast::<Analysed<'static>>() };
        Ok(OwnedNode { loaded: LoadedNode::new(&node, backend)?, compiled })
    }

    pub fn node(&self) -> &Node {
        self.loaded.node()
    }

    /// The node with its analysis.
    pub fn analysed(&self) -> Analysed<'_> {
        self.loaded.analysed()
    }

    pub fn compiled(&self) -> &Arc<Compiled> {
        &self.compiled
    }

    /// The node prepared for `bound`'s sizes: made at its values on the first
    /// call with these sizes, then kept ([`LoadedNode::prepared`]).
    pub fn prepared(&self, bound: &Bound) -> Result<Arc<Prepared<'_>>, RunError> {
        self.loaded.prepared(bound)
    }

    /// [`LoadedNode::forward_batch`]: every instance on `threads`.
    pub fn forward_batch(&self, bounds: &[Bound], threads: Threads) -> Vec<Result<Solved, RunError>> {
        self.loaded.forward_batch(bounds, threads)
    }
}
