//! The bottom-up analysis of a checked expression: sign, curvature, smoothness and
//! cone class, with the lowest subexpression where DCP (or smoothness) fails.
//!
//! **Smoothness from domains.** `sqrt`, `entr`, `xlogx`, `kl_div` and `x^p`
//! (0 < p < 2 not an integer) are defined at `x = 0` but smooth only on the open
//! domain `x > 0` (`log`, `inv_pos` and negative powers are defined only there,
//! so a solution never sits on their boundary). The analysis claims them smooth
//! only where it proves the argument strictly positive ([`Analysis::positive`]: a positive literal or
//! `pos` parameter or variable, `exp`, `sigmoid`, `inv_pos`, a sum of a positive
//! term and nonnegative ones, products, powers, roots and reductions of positive
//! expressions); elsewhere the atom reaches its boundary, a [`Smoothness::Barrier`]
//! or [`Smoothness::AttractingBoundary`] by its curvature, with the argument named
//! ([`Analysis::boundary`]). So `sqrt(1 + z^2)` is smooth and `sqrt(z^2)`, which
//! is `|z|`, is not.

use super::{ConeClass, Curvature, Mono, Sign, Smoothness};
use crate::atoms::{Atom, Domain};
use crate::diag::Span;
use crate::ir::{Arith, Expr, ExprKind};
use crate::syntax::ast::BaseType;

/// Where an analysis property first fails, and why, in words.
#[derive(Clone, Debug, PartialEq)]
pub struct Culprit {
    /// The subexpression where it fails.
    pub span: Span,
    /// Why, as a diagnostic label says it.
    pub reason: String,
    /// The argument that broke the rule, with what it is.
    pub arg: Option<(Span, String)>,
}

/// What is known of one expression.
#[derive(Clone, Debug, PartialEq)]
pub struct Analysis {
    /// Its sign, elementwise.
    pub sign: Sign,
    /// Its curvature in the variables, by the DCP composition rule.
    pub curvature: Curvature,
    /// How differentiable it is in the variables.
    pub smoothness: Smoothness,
    /// The cheapest cone family its reduction needs.
    pub cone: ConeClass,
    /// The lowest subexpression whose curvature DCP cannot determine.
    pub not_dcp: Option<Culprit>,
    /// The lowest subexpression that introduced a kink (of either kind).
    pub kink: Option<Culprit>,
    /// The lowest subexpression that made the expression non-smooth.
    pub nonsmooth: Option<Culprit>,
    /// Every entry is strictly positive wherever the expression is defined
    /// (proved from types and atoms; `false` means not proved).
    pub positive: bool,
    /// The lowest atom smooth only on an open domain whose argument the analysis
    /// cannot keep inside it.
    pub boundary: Option<Culprit>,
}

impl Analysis {
    fn leaf(sign: Sign, curvature: Curvature) -> Analysis {
        Analysis {
            sign,
            curvature,
            smoothness: Smoothness::Smooth,
            cone: ConeClass::Affine,
            not_dcp: None,
            kink: None,
            nonsmooth: None,
            positive: false,
            boundary: None,
        }
    }

    fn with_positive(mut self, positive: bool) -> Analysis {
        self.positive = positive;
        self
    }

    fn is_data(&self) -> bool {
        self.curvature == Curvature::Constant
    }
}

/// Analyses `e`, given the declared base types of the node's parameters and variables.
pub fn analyze(e: &Expr, params: &[BaseType], vars: &[BaseType]) -> Analysis {
    Analyzer { params, vars, syms: &[] }.go(e)
}

/// [`analyze`] with symbolic inputs standing for analysed subexpressions: `Sym`
/// number `k` is `syms[k]`. The rewrite stage applies the composition rule one
/// e-node at a time this way.
pub fn analyze_with(e: &Expr, params: &[BaseType], vars: &[BaseType], syms: &[Analysis]) -> Analysis {
    Analyzer { params, vars, syms }.go(e)
}

struct Analyzer<'a> {
    params: &'a [BaseType],
    vars: &'a [BaseType],
    syms: &'a [Analysis],
}

fn base_sign(b: Option<&BaseType>) -> Sign {
    match b {
        Some(BaseType::Nonneg | BaseType::Pos) => Sign::Nonneg,
        _ => Sign::Unknown,
    }
}

fn base_positive(b: Option<&BaseType>) -> bool {
    b == Some(&BaseType::Pos)
}

/// One argument of an operation: its analysis, monotonicity of the operation in it,
/// and its span.
struct Arg<'x> {
    a: &'x Analysis,
    mono: Mono,
    span: Span,
}

impl Analyzer<'_> {
    fn go(&self, e: &Expr) -> Analysis {
        match &e.kind {
            ExprKind::Const(c) => Analysis::leaf(Sign::of(*c), Curvature::Constant).with_positive(*c > 0.0),
            ExprKind::Dim(_) => Analysis::leaf(Sign::Nonneg, Curvature::Constant),
            ExprKind::Param(p) => {
                let b = self.params.get(p.0 as usize);
                Analysis::leaf(base_sign(b), Curvature::Constant).with_positive(base_positive(b))
            }
            ExprKind::Var(v) => {
                let b = self.vars.get(v.0 as usize);
                Analysis::leaf(base_sign(b), Curvature::Affine).with_positive(base_positive(b))
            }
            // a symbolic input: an analysed subexpression, else (a derived
            // expression's input) data of unknown sign
            ExprKind::Sym { id, .. } => self
                .syms
                .get(id.0 as usize)
                .cloned()
                .unwrap_or_else(|| Analysis::leaf(Sign::Unknown, Curvature::Constant)),
            ExprKind::Neg(x) => {
                let a = self.go(x);
                let sign = -a.sign;
                self.compose(
                    e,
                    "negation",
                    Curvature::Affine,
                    sign,
                    Smoothness::Smooth,
                    ConeClass::Affine,
                    &[Arg { a: &a, mono: Mono::Decreasing, span: x.span }],
                )
            }
            ExprKind::Transpose(x) | ExprKind::Index { base: x, .. } => self.go(x),
            ExprKind::Binary { op, lhs, rhs } => self.binary(e, *op, lhs, rhs),
            ExprKind::MatMul(lhs, rhs) => self.product(e, "@", lhs, rhs),
            ExprKind::Pow { base, p } => self.pow(e, base, *p),
            ExprKind::Atom { atom, args, .. } => self.atom(e, *atom, args),
        }
    }

    fn binary(&self, e: &Expr, op: Arith, lhs: &Expr, rhs: &Expr) -> Analysis {
        match op {
            Arith::Add | Arith::Sub => {
                let (a, b) = (self.go(lhs), self.go(rhs));
                let (mono_b, sign_b) =
                    if op == Arith::Add { (Mono::Increasing, b.sign) } else { (Mono::Decreasing, -b.sign) };
                let args = [
                    Arg { a: &a, mono: Mono::Increasing, span: lhs.span },
                    Arg { a: &b, mono: mono_b, span: rhs.span },
                ];
                // A positive term plus nonnegative ones is positive.
                let positive =
                    (a.positive && sign_b.is_nonneg()) || (op == Arith::Add && b.positive && a.sign.is_nonneg());
                self.compose(
                    e,
                    op.symbol(),
                    Curvature::Affine,
                    a.sign + sign_b,
                    Smoothness::Smooth,
                    ConeClass::Affine,
                    &args,
                )
                .with_positive(positive)
            }
            Arith::Mul => self.product(e, "*", lhs, rhs),
            Arith::Div => {
                let (a, b) = (self.go(lhs), self.go(rhs));
                let sign = a.sign * b.sign;
                let positive = a.positive && b.positive;
                if b.is_data() {
                    // x / c is x scaled by 1/c, which has the sign of c.
                    let args = [
                        Arg { a: &a, mono: Mono::scale(b.sign), span: lhs.span },
                        Arg { a: &b, mono: Mono::None, span: rhs.span },
                    ];
                    return self
                        .compose(
                            e,
                            "division by data",
                            Curvature::Affine,
                            sign,
                            Smoothness::Smooth,
                            ConeClass::Affine,
                            &args,
                        )
                        .with_positive(positive);
                }
                let mut out = self.nonlinear(e, &[(&a, lhs.span), (&b, rhs.span)], sign).with_positive(positive);
                if out.not_dcp.is_none() && out.curvature == Curvature::Unknown {
                    out.not_dcp = Some(Culprit {
                        span: e.span,
                        reason: "dividing by an expression of the variables is not DCP".into(),
                        arg: Some((rhs.span, format!("this divisor is {}", b.curvature.name()))),
                    });
                }
                out
            }
        }
    }

    /// `a * b` and `a @ b`: linear when one side is data, otherwise not DCP.
    fn product(&self, e: &Expr, what: &str, lhs: &Expr, rhs: &Expr) -> Analysis {
        let (a, b) = (self.go(lhs), self.go(rhs));
        let positive = what == "*" && a.positive && b.positive;
        self.product_of(e, what, (lhs, a), (rhs, b)).with_positive(positive)
    }

    fn product_of(&self, e: &Expr, what: &str, (lhs, a): (&Expr, Analysis), (rhs, b): (&Expr, Analysis)) -> Analysis {
        let sign = a.sign * b.sign;
        if a.is_data() || b.is_data() {
            let (ma, mb) = (Mono::scale(b.sign), Mono::scale(a.sign));
            let args = [Arg { a: &a, mono: ma, span: lhs.span }, Arg { a: &b, mono: mb, span: rhs.span }];
            return self.compose(
                e,
                "scaling by data",
                Curvature::Affine,
                sign,
                Smoothness::Smooth,
                ConeClass::Affine,
                &args,
            );
        }
        let mut out = self.nonlinear(e, &[(&a, lhs.span), (&b, rhs.span)], sign);
        if out.not_dcp.is_none() {
            let hint = if what == "@" { "; for xᵀPx write `quad_form(x, P)` with `P` a `psd` parameter" } else { "" };
            out.not_dcp = Some(Culprit {
                span: e.span,
                reason: format!("`{what}` of two expressions that both depend on variables is not DCP{hint}"),
                arg: None,
            });
        }
        out
    }

    /// A smooth but non-DCP combination (product, quotient) of its arguments.
    fn nonlinear(&self, e: &Expr, args: &[(&Analysis, Span)], sign: Sign) -> Analysis {
        let all_smooth = args.iter().all(|(a, _)| matches!(a.smoothness, Smoothness::Smooth | Smoothness::C1));
        let smoothness = if all_smooth {
            args.iter().map(|(a, _)| a.smoothness).fold(Smoothness::Smooth, Smoothness::join)
        } else {
            Smoothness::Nonsmooth
        };
        let first = |f: fn(&Analysis) -> &Option<Culprit>| args.iter().find_map(|(a, _)| f(a).clone());
        let mut nonsmooth = first(|a| &a.nonsmooth);
        if nonsmooth.is_none() && smoothness == Smoothness::Nonsmooth {
            nonsmooth = Some(Culprit {
                span: e.span,
                reason: "a product involving a non-differentiable expression of the variables is not differentiable"
                    .into(),
                arg: args
                    .iter()
                    .find(|(a, _)| !matches!(a.smoothness, Smoothness::Smooth | Smoothness::C1))
                    .map(|(a, s)| (*s, format!("this has kinks ({})", kink_word(a.smoothness)))),
            });
        }
        Analysis {
            sign,
            curvature: Curvature::Unknown,
            smoothness,
            cone: ConeClass::Other,
            not_dcp: first(|a| &a.not_dcp),
            kink: first(|a| &a.kink),
            nonsmooth,
            positive: false,
            boundary: first(|a| &a.boundary),
        }
    }

    fn pow(&self, e: &Expr, base: &Expr, p: f64) -> Analysis {
        let a = self.go(base);
        let is_int = p.fract() == 0.0;
        let even = is_int && (p / 2.0).fract() == 0.0;
        let sign = if even || a.sign.is_nonneg() { Sign::Nonneg } else { Sign::Unknown };
        let (curv, mono, cone) = if p == 1.0 {
            (Curvature::Affine, Mono::Increasing, ConeClass::Affine)
        } else if p == 0.0 {
            return Analysis::leaf(Sign::Nonneg, Curvature::Constant).with_positive(true);
        } else if even && p > 0.0 {
            (
                Curvature::Convex,
                Mono::by_sign(a.sign),
                if p == 2.0 { ConeClass::Quadratic } else { ConeClass::SecondOrder },
            )
        } else if p > 1.0 && (!is_int || a.sign.is_nonneg()) {
            // Non-integer powers are defined for x ≥ 0 only, where x^p is convex.
            (Curvature::Convex, Mono::Increasing, ConeClass::SecondOrder)
        } else if p > 1.0 {
            (Curvature::Unknown, Mono::Increasing, ConeClass::Other)
        } else if p > 0.0 {
            (Curvature::Concave, Mono::Increasing, ConeClass::SecondOrder)
        } else {
            // x^p, p < 0, on x > 0: convex and decreasing.
            (Curvature::Convex, Mono::Decreasing, ConeClass::SecondOrder)
        };
        // x^p for a non-integer 0 < p < 2 is defined at 0 but not twice
        // differentiable there; minimisers are drawn to it (|z|^1.5 = (z^2)^0.75).
        let boundary = (!is_int && p > 0.0 && p < 2.0).then_some(Smoothness::AttractingBoundary);
        let (own, boundary) = self.domain(e, "^", Smoothness::Smooth, boundary, &[(&a, base.span)]);
        let mut out = self.compose(e, "^", curv, sign, own, cone, &[Arg { a: &a, mono, span: base.span }]);
        out.positive = a.positive;
        out.boundary = out.boundary.or(boundary);
        if curv == Curvature::Unknown && out.not_dcp.is_none() && !a.is_data() {
            out.not_dcp = Some(Culprit {
                span: e.span,
                reason: format!("x^{p} is neither convex nor concave where x can be negative"),
                arg: Some((base.span, "not known to be nonnegative".into())),
            });
        }
        out
    }

    fn atom(&self, e: &Expr, atom: Atom, args: &[Expr]) -> Analysis {
        let info = atom.info();
        let an: Vec<Analysis> = args.iter().map(|a| self.go(a)).collect();
        let signs: Vec<Sign> = an.iter().map(|a| a.sign).collect();
        let data: Vec<bool> = an.iter().map(Analysis::is_data).collect();
        let list: Vec<Arg> = an
            .iter()
            .zip(args)
            .enumerate()
            .map(|(i, (a, x))| Arg { a, mono: (info.mono)(i, &signs), span: x.span })
            .collect();
        let mut curvature = info.curvature;
        let mut psd_culprit = None;
        if atom == Atom::QuadForm
            && !data.first().copied().unwrap_or(true)
            && !args.get(1).is_some_and(|p| self.is_psd(p))
        {
            curvature = Curvature::Unknown;
            psd_culprit = Some(Culprit {
                span: e.span,
                reason: "`quad_form(x, P)` is convex only for positive semidefinite `P`".into(),
                arg: args.get(1).map(|p| (p.span, "declare this parameter `psd`".to_string())),
            });
        }
        let spanned: Vec<(&Analysis, Span)> = an.iter().zip(args).map(|(a, x)| (a, x.span)).collect();
        // An atom defined at 0 but smooth only for x > 0 (an atom whose domain is
        // x > 0 is smooth wherever it is defined, so a solution never sits on its boundary).
        let boundary = (info.domain == Domain::Nonneg).then(|| Smoothness::boundary_of(info.curvature));
        let (own, boundary) = self.domain(e, info.name, info.smoothness, boundary, &spanned);
        let mut out = self.compose(e, info.name, curvature, (info.sign)(&signs), own, (info.cone)(&data), &list);
        if out.not_dcp.is_none() || out.not_dcp.as_ref().is_some_and(|c| c.span == e.span) {
            if let Some(c) = psd_culprit {
                out.not_dcp = Some(c);
            }
        }
        out.positive = positive(atom, &an);
        out.boundary = out.boundary.or(boundary);
        out
    }

    /// An operation with smoothness `own`, and smooth only for arguments
    /// `x > 0` when `boundary` (the smoothness it has at `x = 0`) is given: `own`
    /// when every argument that depends on the variables is proved positive,
    /// else joined with the boundary, which is named with the argument.
    fn domain(
        &self,
        e: &Expr,
        what: &str,
        own: Smoothness,
        boundary: Option<Smoothness>,
        args: &[(&Analysis, Span)],
    ) -> (Smoothness, Option<Culprit>) {
        let reaches = args.iter().find(|(a, _)| !a.is_data() && !a.positive);
        match (boundary, reaches) {
            (Some(b), Some((_, span))) => (
                own.join(b),
                Some(Culprit {
                    span: e.span,
                    reason: format!(
                        "`{what}` is smooth only where its argument is positive, and this argument can reach 0"
                    ),
                    arg: Some((*span, "nothing proves this positive".into())),
                }),
            ),
            _ => (own, None),
        }
    }

    /// Whether a data expression is known positive semidefinite.
    fn is_psd(&self, e: &Expr) -> bool {
        match &e.kind {
            ExprKind::Param(p) => self.params.get(p.0 as usize) == Some(&BaseType::Psd),
            ExprKind::Atom { atom: Atom::Eye, .. } => true,
            ExprKind::Atom { atom: Atom::Diag, args, .. } => args.first().is_some_and(|x| self.go(x).sign.is_nonneg()),
            ExprKind::Binary { op: Arith::Add, lhs, rhs } => self.is_psd(lhs) && self.is_psd(rhs),
            ExprKind::Binary { op: Arith::Mul, lhs, rhs } => {
                (self.is_psd(lhs) && self.go(rhs).sign.is_nonneg() && rhs.shape.is_scalar())
                    || (self.is_psd(rhs) && self.go(lhs).sign.is_nonneg() && lhs.shape.is_scalar())
            }
            ExprKind::Binary { op: Arith::Div, lhs, rhs } => {
                self.is_psd(lhs) && self.go(rhs).sign.is_nonneg() && rhs.shape.is_scalar()
            }
            _ => false,
        }
    }

    /// The composition rule, once for every operation: `f` has curvature `curv`,
    /// smoothness `smooth` and cone class `cone` as a function; `args` carry the
    /// monotonicity of `f` in each.
    #[allow(clippy::too_many_arguments)]
    fn compose(
        &self,
        e: &Expr,
        what: &str,
        curv: Curvature,
        sign: Sign,
        smooth: Smoothness,
        cone: ConeClass,
        args: &[Arg],
    ) -> Analysis {
        let first = |f: fn(&Analysis) -> &Option<Culprit>| args.iter().find_map(|x| f(x.a).clone());
        let live: Vec<&Arg> = args.iter().filter(|x| !x.a.is_data()).collect();
        if live.is_empty() {
            let mut out = Analysis::leaf(sign, Curvature::Constant);
            out.not_dcp = first(|a| &a.not_dcp);
            return out;
        }
        // Curvature: f convex and each argument affine, or convex under an
        // increasing slot, or concave under a decreasing one (and dually).
        let ok = |want_convex: bool, x: &Arg| {
            let c = x.a.curvature;
            c.is_affine()
                || match (x.mono, want_convex) {
                    (Mono::Increasing, true) | (Mono::Decreasing, false) => c == Curvature::Convex,
                    (Mono::Increasing, false) | (Mono::Decreasing, true) => c == Curvature::Concave,
                    (Mono::None, _) => false,
                }
        };
        let convex = matches!(curv, Curvature::Affine | Curvature::Convex) && live.iter().all(|x| ok(true, x));
        let concave = matches!(curv, Curvature::Affine | Curvature::Concave) && live.iter().all(|x| ok(false, x));
        let curvature = Curvature::from_flags(false, convex, concave);
        let mut not_dcp = first(|a| &a.not_dcp);
        if curvature == Curvature::Unknown && not_dcp.is_none() && curv != Curvature::Unknown {
            let bad = live.iter().find(|x| !ok(curv == Curvature::Convex || curv == Curvature::Affine, x));
            let need = match curv {
                Curvature::Convex => "convex",
                Curvature::Concave => "concave",
                _ => "affine",
            };
            let reason = match bad {
                Some(x) => format!(
                    "`{what}` is {} and {}, so this argument must be {}",
                    curv.name(),
                    x.mono.name(),
                    match (x.mono, need) {
                        (Mono::Increasing, n) => n.to_string(),
                        (Mono::Decreasing, "convex") => "concave".into(),
                        (Mono::Decreasing, "concave") => "convex".into(),
                        _ => "affine".into(),
                    }
                ),
                None => format!("`{what}` is not DCP here"),
            };
            not_dcp = Some(Culprit {
                span: e.span,
                reason,
                arg: bad.map(|x| (x.span, format!("this is {}", x.a.curvature.name()))),
            });
        } else if curvature == Curvature::Unknown && not_dcp.is_none() {
            not_dcp = Some(Culprit {
                span: e.span,
                reason: format!("`{what}` has no fixed curvature (neither convex nor concave)"),
                arg: None,
            });
        }
        // Smoothness: the function's own kinks, joined with each argument's kinks
        // carried through the function's monotonicity.
        let mut smoothness = smooth;
        for x in &live {
            smoothness = smoothness.join(x.a.smoothness.through(x.mono));
        }
        let mut kink = first(|a| &a.kink);
        if kink.is_none() && matches!(smooth, Smoothness::ConcaveKink | Smoothness::ConvexKink | Smoothness::Nonsmooth)
        {
            kink = Some(Culprit { span: e.span, reason: format!("`{what}` has {}", kink_word(smooth)), arg: None });
        }
        let mut nonsmooth = first(|a| &a.nonsmooth);
        if nonsmooth.is_none() && smoothness == Smoothness::Nonsmooth {
            let bad = live.iter().find(|x| x.a.smoothness.through(x.mono) == Smoothness::Nonsmooth);
            nonsmooth = Some(Culprit {
                span: e.span,
                reason: match bad {
                    Some(x) => format!(
                        "`{what}` is {} in an argument with kinks, so the kinks lose their direction",
                        x.mono.name()
                    ),
                    None => format!("`{what}` combines convex and concave kinks"),
                },
                arg: bad.map(|x| (x.span, format!("this has {}", kink_word(x.a.smoothness)))),
            });
        }
        // The arguments' classes joined first (the lattice's max, so the order
        // of terms does not matter: `x^2 + abs(x)` and `abs(x) + x^2` are both
        // QPs), then composed with the function's own.
        let cone = cone.compose(live.iter().map(|x| x.a.cone).max().unwrap_or(ConeClass::Affine));
        let boundary = first(|a| &a.boundary);
        Analysis { sign, curvature, smoothness, cone, not_dcp, kink, nonsmooth, positive: false, boundary }
    }
}

/// Whether `atom` of arguments `args` is proved strictly positive.
fn positive(atom: Atom, args: &[Analysis]) -> bool {
    let all = || args.iter().all(|a| a.positive);
    match atom {
        Atom::Exp | Atom::Sigmoid | Atom::Logistic | Atom::InvPos => true,
        // Of positive entries (over no entries, the result is constant in the variables).
        Atom::Sqrt
        | Atom::Square
        | Atom::SumSquares
        | Atom::Sum
        | Atom::Mean
        | Atom::Trace
        | Atom::Max
        | Atom::Min
        | Atom::Minimum
        | Atom::Abs
        | Atom::Pos
        | Atom::Norm
        | Atom::Norm1
        | Atom::NormInf
        | Atom::Tanh
        | Atom::QuadOverLin
        | Atom::Hstack
        | Atom::Vstack => all(),
        Atom::Maximum => args.iter().any(|a| a.positive),
        Atom::Hypot => args.first().is_some_and(|a| a.positive),
        _ => false,
    }
}

fn kink_word(s: Smoothness) -> &'static str {
    match s {
        Smoothness::Smooth => "no kinks",
        Smoothness::C1 => "a discontinuous second derivative",
        Smoothness::ConcaveKink => "concave kinks (it is a minimum of smooth pieces)",
        Smoothness::ConvexKink => "convex kinks (it is a maximum of smooth pieces, like |x|)",
        Smoothness::Barrier => "a domain boundary where its slope is unbounded (it repels minimisers)",
        Smoothness::AttractingBoundary => "a domain boundary where its slope is unbounded (it attracts minimisers)",
        Smoothness::Nonsmooth => "kinks",
    }
}
