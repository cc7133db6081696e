//! The lattices an atom declares itself in (sign, curvature, monotonicity,
//! smoothness, cone class): the vocabulary of the atom table, here below it, and of
//! the DCP rule that combines the declarations ([`crate::dcp`], which re-exports them).

/// What is known of an expression's sign, elementwise.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Sign {
    /// Every entry is 0.
    Zero,
    /// Every entry is ≥ 0.
    Nonneg,
    /// Every entry is ≤ 0.
    Nonpos,
    /// Nothing is known.
    Unknown,
}

impl Sign {
    /// Known ≥ 0 (`Zero` or `Nonneg`).
    pub fn is_nonneg(self) -> bool {
        matches!(self, Sign::Zero | Sign::Nonneg)
    }

    /// Known ≤ 0 (`Zero` or `Nonpos`).
    pub fn is_nonpos(self) -> bool {
        matches!(self, Sign::Zero | Sign::Nonpos)
    }

    /// The sign of the constant `c` (`Unknown` for NaN).
    pub fn of(c: f64) -> Sign {
        if c == 0.0 {
            Sign::Zero
        } else if c > 0.0 {
            Sign::Nonneg
        } else if c < 0.0 {
            Sign::Nonpos
        } else {
            Sign::Unknown
        }
    }

    /// The least upper bound: what is known of a value that is one or the other.
    /// On this lattice (`Zero` below both signs, `Unknown` above) it is the
    /// sign of a sum.
    pub fn join(self, o: Sign) -> Sign {
        self + o
    }
}

impl std::ops::Neg for Sign {
    type Output = Sign;

    fn neg(self) -> Sign {
        match self {
            Sign::Nonneg => Sign::Nonpos,
            Sign::Nonpos => Sign::Nonneg,
            s => s,
        }
    }
}

/// Sign of a sum.
impl std::ops::Add for Sign {
    type Output = Sign;

    fn add(self, o: Sign) -> Sign {
        match (self, o) {
            (Sign::Zero, s) | (s, Sign::Zero) => s,
            (a, b) if a == b => a,
            _ => Sign::Unknown,
        }
    }
}

/// Sign of a product (or quotient).
impl std::ops::Mul for Sign {
    type Output = Sign;

    fn mul(self, o: Sign) -> Sign {
        match (self, o) {
            (Sign::Zero, _) | (_, Sign::Zero) => Sign::Zero,
            (Sign::Unknown, _) | (_, Sign::Unknown) => Sign::Unknown,
            (a, b) if a == b => Sign::Nonneg,
            _ => Sign::Nonpos,
        }
    }
}

/// DCP curvature. `Constant` means "data": no variable occurs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Curvature {
    /// No variable occurs: data (parameters and literals).
    Constant,
    /// Affine in the variables: both convex and concave.
    Affine,
    /// Convex in the variables.
    Convex,
    /// Concave in the variables.
    Concave,
    /// Not shown convex or concave by the DCP rules.
    Unknown,
}

impl Curvature {
    /// Convex under DCP (constant and affine included).
    pub fn is_convex(self) -> bool {
        matches!(self, Curvature::Constant | Curvature::Affine | Curvature::Convex)
    }

    /// Concave under DCP (constant and affine included).
    pub fn is_concave(self) -> bool {
        matches!(self, Curvature::Constant | Curvature::Affine | Curvature::Concave)
    }

    /// Affine or constant.
    pub fn is_affine(self) -> bool {
        matches!(self, Curvature::Constant | Curvature::Affine)
    }

    /// The curvature of `-f`.
    pub fn negated(self) -> Curvature {
        match self {
            Curvature::Convex => Curvature::Concave,
            Curvature::Concave => Curvature::Convex,
            c => c,
        }
    }

    /// From what is known: `constant` wins, then convex and concave together are affine.
    pub fn from_flags(constant: bool, convex: bool, concave: bool) -> Curvature {
        match (constant, convex, concave) {
            (true, _, _) => Curvature::Constant,
            (_, true, true) => Curvature::Affine,
            (_, true, false) => Curvature::Convex,
            (_, false, true) => Curvature::Concave,
            _ => Curvature::Unknown,
        }
    }

    /// The word for it in a diagnostic ("convex", "of unknown curvature").
    pub fn name(self) -> &'static str {
        match self {
            Curvature::Constant => "constant",
            Curvature::Affine => "affine",
            Curvature::Convex => "convex",
            Curvature::Concave => "concave",
            Curvature::Unknown => "of unknown curvature",
        }
    }
}

/// Monotonicity of a function in one argument (possibly depending on its sign).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mono {
    /// Nondecreasing.
    Increasing,
    /// Nonincreasing.
    Decreasing,
    /// Neither (or not known to be either).
    None,
}

impl Mono {
    /// Increasing where the argument is nonnegative, decreasing where nonpositive
    /// (|x|, x², ‖x‖, …).
    pub fn by_sign(s: Sign) -> Mono {
        match s {
            s if s.is_nonneg() => Mono::Increasing,
            s if s.is_nonpos() => Mono::Decreasing,
            _ => Mono::None,
        }
    }

    /// Monotonicity of `c * x` in `x`, for data `c` of sign `s`.
    pub fn scale(s: Sign) -> Mono {
        Mono::by_sign(s)
    }

    /// The word for it in a diagnostic ("nondecreasing", "not monotone").
    pub fn name(self) -> &'static str {
        match self {
            Mono::Increasing => "nondecreasing",
            Mono::Decreasing => "nonincreasing",
            Mono::None => "not monotone",
        }
    }
}

/// How differentiable an expression is in the variables.
///
/// Kinks are told apart by which way they bend. A *concave* kink (a minimum of
/// smooth pieces, like `minimum(z^2, a)`) can never hold a local minimiser except
/// in degenerate cases, so a node minimising it is locally one smooth piece and the
/// implicit function theorem applies there; a *convex* kink (a maximum, like `abs`)
/// attracts minimisers, so differentiating through it is not possible.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Smoothness {
    /// Twice continuously differentiable on its domain.
    Smooth,
    /// Continuously differentiable with a bounded, piecewise-continuous second
    /// derivative (Huber): Newton and the IFT work except on a null set.
    C1,
    /// Smooth pieces joined by concave kinks (minimum of smooth functions).
    ConcaveKink,
    /// Smooth pieces joined by convex kinks (maximum of smooth functions).
    ConvexKink,
    /// Smooth except on the boundary of its domain, which the expression can
    /// reach and where its slope is unbounded towards the inside (`xlogx`,
    /// `kl_div`, `−sqrt`, `−entr` at 0): like a concave kink, the boundary never
    /// holds a local minimiser, so a node minimising it is smooth around its solution.
    Barrier,
    /// The same boundary seen from the other side (`sqrt`, `entr` at 0
    /// minimised; `sqrt(z^2)` is `|z|`): it draws minimisers to a point with no
    /// second (or first) derivative, as a convex kink does.
    AttractingBoundary,
    /// None of the above: kinks of both kinds, or not differentiable at all
    /// (`lambda_max`, the indicators).
    Nonsmooth,
}

impl Smoothness {
    /// The smoothness of a sum of two expressions.
    pub fn join(self, o: Smoothness) -> Smoothness {
        use Smoothness::*;
        match (self, o) {
            (a, b) if a == b => a,
            (Smooth, x) | (x, Smooth) => x,
            (C1, x) | (x, C1) => x,
            // Neither holds a minimiser.
            (Barrier, ConcaveKink) | (ConcaveKink, Barrier) => ConcaveKink,
            _ => Nonsmooth,
        }
    }

    /// After negation (or composition with a decreasing function) kinks flip,
    /// and a boundary that repelled minimisers attracts them.
    pub fn flip(self) -> Smoothness {
        match self {
            Smoothness::ConcaveKink => Smoothness::ConvexKink,
            Smoothness::ConvexKink => Smoothness::ConcaveKink,
            Smoothness::Barrier => Smoothness::AttractingBoundary,
            Smoothness::AttractingBoundary => Smoothness::Barrier,
            s => s,
        }
    }

    /// The boundary `x = 0` of an atom defined for `x ≥ 0` and smooth for `x > 0`
    /// (`sqrt`, `entr`, `xlogx`, `kl_div`), for an atom of curvature `c`: a convex
    /// atom's slope goes to −∞ there, which repels minimisers; a concave atom's
    /// goes to +∞, which attracts them.
    pub fn boundary_of(c: super::Curvature) -> Smoothness {
        if c == super::Curvature::Convex {
            Smoothness::Barrier
        } else {
            Smoothness::AttractingBoundary
        }
    }

    /// Passing through a function with the given monotonicity.
    pub fn through(self, m: Mono) -> Smoothness {
        match (self, m) {
            (Smoothness::Smooth | Smoothness::C1, _) => self,
            (_, Mono::Increasing) => self,
            (_, Mono::Decreasing) => self.flip(),
            (_, Mono::None) => Smoothness::Nonsmooth,
        }
    }
}

/// Which cone a DCP expression needs (a lattice, cheapest first).
///
/// `Quadratic` is a convex quadratic: free in a QP objective, a second-order cone
/// in a constraint. `Exponential` needs exponential cones, `Semidefinite`
/// positive semidefinite ones; `Other` a cone ddn does not have (power).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ConeClass {
    /// Affine: linear equalities and inequalities only.
    Affine,
    /// Piecewise linear (`abs`, `max`, `norm1`, ...): an LP with epigraph variables.
    PiecewiseLinear,
    /// A convex quadratic (see above).
    Quadratic,
    /// Second-order cones.
    SecondOrder,
    /// Exponential cones.
    Exponential,
    /// Positive semidefinite cones.
    Semidefinite,
    /// A cone ddn does not have: not reducible to a conic program here.
    Other,
}

impl ConeClass {
    /// Composing an atom of class `self` with an argument of class `arg`.
    pub fn compose(self, arg: ConeClass) -> ConeClass {
        use ConeClass::*;
        match (self, arg) {
            (Other, _) | (_, Other) => Other,
            // x² of a PWL expression: a QP with an epigraph variable.
            (Quadratic, Affine | PiecewiseLinear) => Quadratic,
            // A quadratic under anything but an affine map needs a cone.
            (Quadratic, b) => SecondOrder.max(b),
            (PiecewiseLinear, Quadratic) => SecondOrder,
            (a, b) => a.max(b),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Domain boundaries compose as kinks do: flipped by negation, absorbed by
    /// smooth terms, a repelling one joined with a concave kink still holds no
    /// minimiser, and boundaries of opposite directions are non-smooth together.
    #[test]
    fn boundaries_flip_and_join_like_kinks() {
        use Smoothness::*;
        for s in [Smooth, C1, ConcaveKink, ConvexKink, Barrier, AttractingBoundary, Nonsmooth] {
            assert_eq!(s.flip().flip(), s);
        }
        assert_eq!(Barrier.join(Smooth), Barrier);
        assert_eq!(Barrier.join(ConcaveKink), ConcaveKink);
        assert_eq!(Barrier.join(AttractingBoundary), Nonsmooth);
        assert_eq!(Barrier.through(Mono::Decreasing), AttractingBoundary);
        assert_eq!(Barrier.through(Mono::None), Nonsmooth);
        assert_eq!(Smoothness::boundary_of(Curvature::Convex), Barrier);
        assert_eq!(Smoothness::boundary_of(Curvature::Concave), AttractingBoundary);
    }
}
