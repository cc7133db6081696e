//! Smooth atoms of no fixed curvature: allowed in smooth nodes, never DCP.

use super::*;

fn sigmoid_sign(_: &[Sign]) -> Sign {
    Sign::Nonneg
}

const fn smooth(
    atom: Atom,
    name: &'static str,
    doc: &'static str,
    sign: fn(&[Sign]) -> Sign,
    mono: fn(usize, &[Sign]) -> Mono,
) -> AtomInfo {
    AtomInfo {
        atom,
        name,
        doc,
        sig: values(&["x"]),
        defaults: &[],
        shape: same_shape,
        sign,
        curvature: Curvature::Unknown,
        mono,
        smoothness: Smoothness::Smooth,
        cone: cone_other,
        domain: Domain::All,
        barrier: false,
    }
}

pub(super) const ATOMS: &[AtomInfo] = &[
    smooth(Atom::Sin, "sin", "sin x elementwise", unknown_sign, not_monotone),
    smooth(Atom::Cos, "cos", "cos x elementwise", unknown_sign, not_monotone),
    smooth(Atom::Tanh, "tanh", "tanh x elementwise", first_sign, increasing),
    smooth(Atom::Sigmoid, "sigmoid", "1 / (1 + e⁻ˣ) elementwise", sigmoid_sign, increasing),
];
