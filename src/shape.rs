//! Shapes: scalars, vectors and matrices whose sizes are literals or dimension names.
//! Below the IR and the atom table alike (an atom's shape rule maps argument shapes
//! to a result shape); `ir` re-exports them.

/// A node's dimension name, by its index in the node's dimension table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DimId(pub u32);

/// One axis length: known now, or named and bound when the node is called.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dim {
    /// A literal length.
    Fixed(u64),
    /// A dimension name, bound by a parameter's axis at run time.
    Named(DimId),
}

impl Dim {
    /// Known to be 1 (the length that broadcasts).
    pub fn is_one(self) -> bool {
        self == Dim::Fixed(1)
    }
}

/// The shape of a value: `[]` scalar, `[n]` vector, `[m, n]` matrix (row-major).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct Shape(pub Vec<Dim>);

impl Shape {
    /// `[]`.
    pub fn scalar() -> Shape {
        Shape(Vec::new())
    }

    /// `[n]`.
    pub fn vector(n: Dim) -> Shape {
        Shape(vec![n])
    }

    /// `[m, n]`: `m` rows, `n` columns.
    pub fn matrix(m: Dim, n: Dim) -> Shape {
        Shape(vec![m, n])
    }

    /// The number of axes (0, 1 or 2 in the language).
    pub fn rank(&self) -> usize {
        self.0.len()
    }

    /// No axes (a `real[1]` is not a scalar here; see [`Self::is_unit`]).
    pub fn is_scalar(&self) -> bool {
        self.0.is_empty()
    }

    /// True when every axis has length 1 (a scalar in disguise).
    pub fn is_unit(&self) -> bool {
        self.0.iter().all(|d| d.is_one())
    }

    /// numpy broadcasting: align trailing axes; equal lengths match, length 1
    /// stretches. Distinct dimension names never match (they may differ at run time).
    pub fn broadcast(&self, other: &Shape) -> Option<Shape> {
        let r = self.rank().max(other.rank());
        let mut out = Vec::with_capacity(r);
        for i in 0..r {
            let a = (i + self.rank()).checked_sub(r).map(|k| self.0[k]);
            let b = (i + other.rank()).checked_sub(r).map(|k| other.0[k]);
            out.push(match (a, b) {
                (Some(a), None) => a,
                (None, Some(b)) => b,
                (Some(a), Some(b)) if a == b => a,
                (Some(a), Some(b)) if a.is_one() => b,
                (Some(a), Some(b)) if b.is_one() => a,
                _ => return None,
            });
        }
        Some(Shape(out))
    }

    /// The transposed shape (vectors and scalars are unchanged, as in numpy).
    pub fn transpose(&self) -> Shape {
        let mut d = self.0.clone();
        d.reverse();
        Shape(d)
    }
}

impl AsRef<[Dim]> for Shape {
    fn as_ref(&self) -> &[Dim] {
        &self.0
    }
}
