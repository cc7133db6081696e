//! Expressions → a [`Tape`], sharing equal subexpressions.

use std::collections::HashMap;

use super::{Slot, Step, Tape};
use crate::eval::Op;
use crate::ir::{Expr, Shape};

/// What makes two steps the same computation: the operation (constants by
/// their bits, through `Debug`, which prints every distinct `f64` distinctly),
/// the arguments and the shape (`zeros`, `ones`, `eye` take no argument).
type Key = (String, Vec<Slot>, Shape);

struct Lowering {
    program: Tape,
    seen: HashMap<Key, Slot>,
}

impl Lowering {
    fn expr(&mut self, e: &Expr) -> Slot {
        let args: Vec<Slot> = e.children().into_iter().map(|c| self.expr(c)).collect();
        let op = Op::of(&e.kind);
        let key = (format!("{op:?}"), args.clone(), e.shape.clone());
        if let Some(&slot) = self.seen.get(&key) {
            return slot;
        }
        let slot = Slot(self.program.steps.len() as u32);
        self.program.steps.push(Step { op, args, shape: e.shape.clone(), span: e.span });
        self.seen.insert(key, slot);
        slot
    }
}

/// One program computing every expression of `exprs`, in order, as its outputs.
pub fn lower<'e>(exprs: impl IntoIterator<Item = &'e Expr>) -> Tape {
    let mut l = Lowering { program: Tape::default(), seen: HashMap::new() };
    let outputs = exprs.into_iter().map(|e| l.expr(e)).collect();
    l.program.outputs = outputs;
    l.program
}
