//! Classification: which family a checked node belongs to, and why.
//!
//! 1. DCP: the objective must be convex to minimise (concave to maximise); each
//!    `lhs <= rhs` needs convex ≤ concave, each `==` affine on both sides. When that
//!    holds and every cone needed is one ddn has, the node is an LP, QP or SOCP
//!    ([`ConeClass`] decides which).
//! 2. Otherwise, if the objective is smooth (or has only concave kinks, or domain
//!    boundaries that repel minimisers, see [`Smoothness`]) and the constraints
//!    are smooth (an atom smooth only on an open domain, like `sqrt`, counts only
//!    where its argument is proved inside it), it is a smooth node, solved
//!    locally and differentiated through its first-order conditions — also when
//!    it is DCP with exponential cones: Newton and the smooth interior method
//!    are the faster path there (entropic OT, logistic regression), so a node
//!    both smooth and conic keeps it, unless it asks for the cone program
//!    (`solve using ipm`, [`Parts::cone_program`]).
//! 3. Otherwise a DCP node needing exponential cones is an EXP cone program.
//! 4. Otherwise it is an error that names the lowest offending subexpression.
//!
//! A node that is not DCP as written goes through the rewrite stage
//! ([`crate::dcp::rewrite`]) first, and is classified again from what it finds
//! ([`classify_rewriting`]).

use crate::dcp::{analyze, rewrite, Analysis, ConeClass, Culprit, Curvature, Smoothness};
use crate::diag::Diagnostic;
use crate::ir::{
    Arith, Classification, Constraint, ConstraintOrigin, Expr, ExprKind, Family, Objective, Output, Param, Relation,
    SolveMethod, SolveSpec, Var, VarId,
};
use crate::syntax::ast::{self, BaseType, CmpOp, Sense};

/// The parts of a checked node the classifier (and `recognise`) read.
pub struct Parts<'a> {
    /// The node's name, for messages.
    pub name: &'a ast::Ident,
    /// Its parameters, by [`crate::ir::ParamId`].
    pub params: &'a [Param],
    /// Its variables, by [`VarId`].
    pub vars: &'a [Var],
    /// What it returns.
    pub outputs: &'a [Output],
    /// Its objective.
    pub objective: &'a Objective,
    /// Its constraints, the type-implied ones included.
    pub constraints: &'a [Constraint],
    /// The expressions came from the rewrite stage, not from the text.
    pub rewritten: bool,
    /// `solve using ipm`: a DCP node needing exponential cones is its cone
    /// program even when it is smooth (set by [`classify_rewriting`]).
    pub cone_program: bool,
}

struct Checked {
    dcp: bool,
    cone: ConeClass,
    smooth: bool,
    culprit_dcp: Option<Culprit>,
    culprit_smooth: Option<Culprit>,
}

/// The node's family and convexity verdict from the DCP analysis of what is
/// written; the error when it is neither a cone program ddn solves nor smooth.
pub fn classify(p: &Parts) -> Result<Classification, Diagnostic> {
    let pb: Vec<BaseType> = p.params.iter().map(|x| x.base).collect();
    let vb: Vec<BaseType> = p.vars.iter().map(|x| x.base).collect();
    let an = |e: &Expr| analyze(e, &pb, &vb);

    // The objective in minimisation form.
    let mut obj = an(&p.objective.expr);
    if p.objective.sense == Sense::Maximize {
        obj.curvature = obj.curvature.negated();
        obj.smoothness = obj.smoothness.flip();
    }
    let verb = p.objective.sense.keyword();
    let obj_dcp = obj.curvature.is_convex();
    let mut notes = Vec::new();

    if obj.curvature == Curvature::Concave && p.constraints.is_empty() {
        let (want, opposite) =
            if p.objective.sense == Sense::Minimize { ("concave", "maximize") } else { ("convex", "minimize") };
        return Err(Diagnostic::error(format!("{verb}ing a {want} objective with no constraints: it has no optimum"))
            .at(p.objective.expr.span, format!("this is {want}"))
            .note("an unconstrained concave function has no local minimum (a convex one no local maximum)")
            .help(format!("did you mean `{opposite}`?")));
    }

    let cons: Vec<(&Constraint, Analysis, Analysis)> =
        p.constraints.iter().map(|c| (c, an(&c.lhs), an(&c.rhs))).collect();
    let mut all = Checked {
        dcp: obj_dcp,
        cone: obj.cone,
        smooth: matches!(
            obj.smoothness,
            Smoothness::Smooth | Smoothness::C1 | Smoothness::ConcaveKink | Smoothness::Barrier
        ),
        culprit_dcp: if obj_dcp { None } else { obj_culprit(&obj, p.objective, verb) },
        culprit_smooth: if matches!(
            obj.smoothness,
            Smoothness::ConvexKink | Smoothness::AttractingBoundary | Smoothness::Nonsmooth
        ) {
            obj.nonsmooth.clone().or_else(|| obj.kink.clone()).or_else(|| obj.boundary.clone())
        } else {
            None
        },
    };
    for (c, l, r) in &cons {
        let ok = match c.op {
            CmpOp::Le => l.curvature.is_convex() && r.curvature.is_concave(),
            CmpOp::Ge => l.curvature.is_concave() && r.curvature.is_convex(),
            CmpOp::Eq | CmpOp::PsdGe | CmpOp::PsdLe => l.curvature.is_affine() && r.curvature.is_affine(),
        };
        if !ok && all.culprit_dcp.is_none() {
            all.culprit_dcp = l.not_dcp.clone().or_else(|| r.not_dcp.clone()).or(Some(Culprit {
                span: c.span,
                reason: match c.op {
                    CmpOp::Eq => "an `==` constraint is DCP only between affine expressions".into(),
                    CmpOp::PsdGe | CmpOp::PsdLe => {
                        format!("a `{}` constraint is DCP only between affine expressions", c.op.symbol())
                    }
                    _ => "a `<=` constraint is DCP only as convex <= concave (`>=`: concave >= convex)".into(),
                },
                arg: None,
            }));
        }
        all.dcp &= ok;
        let cone = l.cone.compose(ConeClass::Affine).max(r.cone);
        // A semidefinite constraint is a PSD cone, and not smooth.
        let cone = if c.op.is_psd() { cone.max(ConeClass::Semidefinite) } else { cone };
        if c.op.is_psd() {
            all.smooth = false;
            if all.culprit_smooth.is_none() {
                all.culprit_smooth = Some(Culprit {
                    span: c.span,
                    reason: format!("a `{}` constraint is a semidefinite cone", c.op.symbol()),
                    arg: None,
                });
            }
        }
        // A convex quadratic bounded in a constraint is a second-order cone.
        all.cone = all.cone.max(if cone == ConeClass::Quadratic { ConeClass::SecondOrder } else { cone });
        let smooth = |a: &Analysis| matches!(a.smoothness, Smoothness::Smooth | Smoothness::C1);
        if !(smooth(l) && smooth(r)) {
            all.smooth = false;
            if all.culprit_smooth.is_none() {
                all.culprit_smooth = [l, r]
                    .iter()
                    .find_map(|a| a.nonsmooth.clone().or_else(|| a.kink.clone()).or_else(|| a.boundary.clone()));
            }
        }
    }

    let dcp = if p.rewritten { rewrite::VERDICT } else { "DCP-convex" };
    if all.dcp && all.cone <= ConeClass::SecondOrder {
        let family = match all.cone {
            ConeClass::Affine | ConeClass::PiecewiseLinear => Family::Lp,
            ConeClass::Quadratic => Family::Qp,
            _ => Family::Socp,
        };
        let objective = match obj.cone {
            ConeClass::Affine | ConeClass::PiecewiseLinear => "a (piecewise-)linear objective",
            ConeClass::Quadratic => "a convex quadratic objective",
            _ => "an objective that needs second-order cones",
        };
        let constraints = match cons.iter().map(|(_, l, r)| l.cone.max(r.cone)).max() {
            None => "no constraints",
            Some(ConeClass::Affine | ConeClass::PiecewiseLinear) => "(piecewise-)linear constraints",
            Some(_) => "second-order cone constraints",
        };
        return Ok(Classification {
            family,
            convex: true,
            reason: format!("{dcp}, with {objective} and {constraints}"),
            notes,
            culprit: None,
        });
    }

    if (!all.smooth || p.cone_program) && all.dcp && all.cone == ConeClass::Exponential {
        let objective = match obj.cone {
            ConeClass::Affine | ConeClass::PiecewiseLinear => "a (piecewise-)linear objective",
            ConeClass::Quadratic => "a convex quadratic objective",
            ConeClass::SecondOrder => "an objective that needs second-order cones",
            _ => "an objective that needs exponential cones",
        };
        let constraints = match cons.iter().map(|(_, l, r)| l.cone.max(r.cone)).max() {
            None => "no constraints",
            Some(ConeClass::Affine | ConeClass::PiecewiseLinear) => "(piecewise-)linear constraints",
            Some(ConeClass::Quadratic | ConeClass::SecondOrder) => "second-order cone constraints",
            Some(_) => "exponential cone constraints",
        };
        let why = if all.smooth { "`solve using ipm`" } else { "not smooth" };
        return Ok(Classification {
            family: Family::Exp,
            convex: true,
            reason: format!("{dcp}, with {objective} and {constraints}; {why}, so solved as a cone program"),
            notes,
            culprit: None,
        });
    }

    if all.dcp && all.cone == ConeClass::Semidefinite {
        return Ok(Classification {
            family: Family::Sdp,
            convex: true,
            reason: "DCP-convex, with positive semidefinite cone constraints: a semidefinite program".into(),
            notes,
            culprit: None,
        });
    }

    if !all.smooth {
        let mut d =
            Diagnostic::error(format!("node `{}` is neither DCP-representable (LP/QP/SOCP) nor smooth", p.name.name))
                .at(p.objective.expr.span, "in this problem");
        if let Some(c) = &all.culprit_dcp {
            d = d.also(c.span, format!("not DCP: {}", c.reason));
        } else if all.dcp {
            d = d.note("it is DCP-convex, but needs a cone ddn does not have (power), and so must be smooth");
        }
        if let Some(c) = &all.culprit_smooth {
            d = d.also(c.span, format!("not smooth: {}", c.reason));
            if let Some((s, m)) = &c.arg {
                d = d.also(*s, m.clone());
            }
        }
        return Err(d
            .note("a smooth node needs a twice-differentiable objective (concave kinks, like `minimum`, are fine) and smooth constraints")
            .help("rewrite it in DCP form (e.g. with epigraph `var`s) or with smooth atoms"));
    }

    // Smooth families. Bounds that a barrier-like atom keeps strict do not count.
    let implied = implied_bounds(p.objective, &pb);
    let mut inequality = false;
    let mut equality = false;
    for (c, _, _) in &cons {
        match (c.origin, c.relation()) {
            (ConstraintOrigin::VarType(v), Relation::Le) => {
                let var = &p.vars[v.0 as usize];
                if var.base == BaseType::Pos {
                    notes.push(format!("`{}` > 0 is a domain condition, kept by the line search", var.name));
                } else if let Some((_, atom)) = implied.iter().find(|(w, _)| *w == v) {
                    notes.push(format!(
                        "the bound `{} >= 0` is implied by the domain of `{atom}` and is never active",
                        var.name
                    ));
                } else {
                    inequality = true;
                }
            }
            (_, Relation::Le) => inequality = true,
            (_, Relation::Eq) => equality = true,
        }
    }
    let family = if inequality {
        Family::SmoothInequality
    } else if equality {
        Family::SmoothEquality
    } else {
        Family::SmoothUnconstrained
    };
    match obj.smoothness {
        Smoothness::ConcaveKink => notes.push(format!(
            "piecewise smooth: {}; a local minimum lies on one smooth piece except in degenerate cases, and the backward pass differentiates that piece",
            obj.kink.as_ref().map_or("the objective has concave kinks".to_string(), |k| k.reason.clone())
        )),
        Smoothness::C1 => notes.push(
            "the objective is C¹ with a piecewise-continuous Hessian (e.g. `huber`): the backward pass uses the Hessian of the active piece".into(),
        ),
        _ => {}
    }
    let reason = if all.dcp {
        "DCP-convex, but it needs the exponential cone; solved as a smooth node, whose local solution is global"
            .to_string()
    } else {
        let why = all.culprit_dcp.as_ref().map_or("it is not DCP".to_string(), |c| format!("not DCP ({})", c.reason));
        format!("{why}; smooth, so solved locally and differentiated through its first-order conditions")
    };
    let culprit = all.culprit_dcp.as_ref().filter(|_| !all.dcp).map(|c| c.span);
    Ok(Classification { family, convex: all.dcp, reason, notes, culprit })
}

/// A node's expressions when the rewrite stage replaced them.
pub struct Replaced {
    /// The rewritten objective.
    pub objective: Objective,
    /// The constraints with their sides rewritten, in the node's order.
    pub constraints: Vec<Constraint>,
}

/// [`classify`], with the rewrite stage for a node that is not DCP as written:
/// its objective and constraint sides are rewritten by equality saturation and,
/// when that gives a DCP form, the node is classified from it — convex, "DCP
/// after rewriting", with the family of that form. Which forward solves it:
///
/// - not smooth as written (`sqrt(x^2)` is `abs(x)`: an LP): the rewritten
///   expressions replace the written ones (returned in [`Replaced`]), so
///   canonicalisation, the interior point method and the conic backward pass
///   see them;
/// - smooth as written (pseudo-Huber pooling): the smooth forward (Newton, or
///   the smooth interior method under constraints) on the text as written, by
///   default, because it is the faster path there ([`rewrite::SMOOTH_FORWARD`]);
///   the same global minimum either way. `solve using ipm` asks for the cone
///   program instead (an exponential-cone one too: [`Parts::cone_program`]).
///
/// Not DCP after rewriting: the verdict on the text as written stands.
pub fn classify_rewriting(
    p: &Parts,
    solve: Option<&SolveSpec>,
) -> Result<(Classification, Option<Replaced>), Diagnostic> {
    let ipm = solve.is_some_and(|s| matches!(s.method, SolveMethod::Ipm(_)));
    let p = &Parts { cone_program: ipm, ..*p };
    let written = classify(p);
    if written.as_ref().is_ok_and(|c| c.convex) {
        return Ok((written?, None));
    }
    let pb: Vec<BaseType> = p.params.iter().map(|x| x.base).collect();
    let vb: Vec<BaseType> = p.vars.iter().map(|x| x.base).collect();
    let mut exprs = vec![&p.objective.expr];
    exprs.extend(p.constraints.iter().flat_map(|c| [&c.lhs, &c.rhs]));
    let out = rewrite::rewrite(&exprs, &pb, &vb);
    let mut it = out.exprs.into_iter();
    let objective = Objective { expr: it.next().unwrap_or_else(|| p.objective.expr.clone()), ..p.objective.clone() };
    let constraints: Vec<Constraint> = p
        .constraints
        .iter()
        .map(|c| {
            let lhs = it.next().unwrap_or_else(|| c.lhs.clone());
            let rhs = it.next().unwrap_or_else(|| c.rhs.clone());
            Constraint { lhs, rhs, ..c.clone() }
        })
        .collect();
    let parts = Parts { objective: &objective, constraints: &constraints, rewritten: true, ..*p };
    let rewritten = match classify(&parts) {
        Ok(c) if c.convex && !out.rules.is_empty() => c,
        _ => {
            let mut written = written?;
            if !out.stop.starts_with("saturated") {
                written.notes.push(format!("{}(egg: {})", rewrite::NO_FORM, out.stop));
            }
            return Ok((written, None));
        }
    };
    let rules = format!("{}{} (egg: {})", rewrite::RULES, out.rules.join(", "), out.stop);
    match written {
        Ok(mut w) if !(ipm && rewritten.family.is_conic()) => {
            let forward = match w.family {
                Family::SmoothUnconstrained => "Newton",
                _ => "the smooth interior point method",
            };
            w.reason = if rewritten.family.is_conic() {
                format!(
                    "{}, its DCP form {}; smooth as written, so solved by {forward} on the text as written, the \
                     faster path (`solve using ipm` solves the cone program)",
                    rewrite::VERDICT,
                    rewritten.family.name(),
                )
            } else {
                format!(
                    "{}, needing the exponential cone; smooth as written, so solved by {forward} on the text as written \
                     (`solve using ipm` solves the cone program)",
                    rewrite::VERDICT
                )
            };
            w.convex = true;
            w.culprit = None;
            w.notes.push(rules);
            Ok((w, None))
        }
        _ => {
            let mut c = rewritten;
            c.notes.push(rules);
            Ok((c, Some(Replaced { objective, constraints })))
        }
    }
}

fn obj_culprit(obj: &Analysis, o: &Objective, verb: &str) -> Option<Culprit> {
    obj.not_dcp.clone().or_else(|| {
        let want = if o.sense == Sense::Minimize { "convex" } else { "concave" };
        Some(Culprit { span: o.expr.span, reason: format!("DCP can {verb} only a {want} expression"), arg: None })
    })
}

/// Variables whose `>= 0` bound can never bind: a barrier atom (`xlogx`, `log`,
/// `entr`, `inv_pos`, `kl_div`) applied to the whole variable, entering the
/// minimised objective on its convex side (its slope → −∞ at 0 pushes away).
fn implied_bounds(o: &Objective, params: &[BaseType]) -> Vec<(VarId, &'static str)> {
    let mut out = Vec::new();
    let s = if o.sense == Sense::Minimize { 1.0 } else { -1.0 };
    Signed { params, out: &mut out }.walk(&o.expr, s);
    out
}

/// Walks a sum of terms, tracking the sign each term enters with.
struct Signed<'a> {
    params: &'a [BaseType],
    out: &'a mut Vec<(VarId, &'static str)>,
}

impl Signed<'_> {
    fn walk(&mut self, e: &Expr, s: f64) {
        match &e.kind {
            ExprKind::Binary { op: Arith::Add, lhs, rhs } => {
                self.walk(lhs, s);
                self.walk(rhs, s);
            }
            ExprKind::Binary { op: Arith::Sub, lhs, rhs } => {
                self.walk(lhs, s);
                self.walk(rhs, -s);
            }
            ExprKind::Neg(a) => self.walk(a, -s),
            ExprKind::Binary { op: Arith::Mul, lhs, rhs } if lhs.is_data() => {
                if let Some(c) = self.sign(lhs) {
                    self.walk(rhs, s * c);
                }
            }
            ExprKind::Binary { op: Arith::Mul | Arith::Div, lhs, rhs } if rhs.is_data() => {
                if let Some(c) = self.sign(rhs) {
                    self.walk(lhs, s * c);
                }
            }
            ExprKind::Atom { atom, args, .. } => {
                let info = atom.info();
                if matches!(atom, crate::atoms::Atom::Sum | crate::atoms::Atom::Mean) {
                    args.iter().for_each(|a| self.walk(a, s));
                } else if info.barrier {
                    if let Some(ExprKind::Var(v)) = args.first().map(|a| &a.kind) {
                        let convex_side = match info.curvature {
                            Curvature::Convex => s > 0.0,
                            Curvature::Concave => s < 0.0,
                            _ => false,
                        };
                        if convex_side {
                            self.out.push((*v, info.name));
                        }
                    }
                }
            }
            _ => {}
        }
    }

    /// +1 or −1 for data of known strict sign (literals, `pos` parameters, `1/gamma`).
    fn sign(&self, e: &Expr) -> Option<f64> {
        match &e.kind {
            ExprKind::Const(c) if *c > 0.0 => Some(1.0),
            ExprKind::Const(c) if *c < 0.0 => Some(-1.0),
            ExprKind::Dim(_) => Some(1.0),
            ExprKind::Param(p) if self.params.get(p.0 as usize) == Some(&BaseType::Pos) => Some(1.0),
            ExprKind::Neg(a) => self.sign(a).map(|s| -s),
            ExprKind::Binary { op: Arith::Mul | Arith::Div, lhs, rhs } => Some(self.sign(lhs)? * self.sign(rhs)?),
            ExprKind::Binary { op: Arith::Add, lhs, rhs } => {
                let (a, b) = (self.sign(lhs)?, self.sign(rhs)?);
                (a == b).then_some(a)
            }
            _ => None,
        }
    }
}
