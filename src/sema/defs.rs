//! The `def` table: prelude and file definitions, checked once where they are
//! written (names, arity of parameters, recursion) and inlined at each call.

use std::collections::HashMap;

use crate::atoms;
use crate::diag::Diagnostic;
use crate::syntax::ast::{self, ExprKind, IndexArg};

/// Definitions by name. A `def` that failed its own checks stays in the table
/// but is marked broken ([`DefTable::is_broken`]): calls to it are skipped
/// without a second diagnostic (its error is already reported).
pub struct DefTable<'a> {
    defs: HashMap<&'a str, &'a ast::Def>,
    broken: Vec<&'a str>,
}

/// Built-in names that are not atoms but are lowered directly.
pub const SUGAR: &[&str] = &["dot"];

impl<'a> DefTable<'a> {
    /// The prelude's `def`s, then the file's (which may shadow them), each checked
    /// once; errors (a redefined atom, a duplicate, a bad body) go to `diags`.
    pub fn build(file: &'a ast::File, prelude: &'a ast::File, diags: &mut Vec<Diagnostic>) -> Self {
        let mut defs: HashMap<&str, &ast::Def> = HashMap::new();
        let mut ours: HashMap<&str, &ast::Def> = HashMap::new();
        for d in prelude.items.iter().filter_map(def_of) {
            defs.insert(&d.name.name, d);
        }
        for d in file.items.iter().filter_map(def_of) {
            if atoms::lookup(&d.name.name).is_some() || SUGAR.contains(&d.name.name.as_str()) {
                diags.push(
                    Diagnostic::error(format!("`{}` is a built-in atom", d.name.name))
                        .at(d.name.span, "cannot be redefined")
                        .help("choose another name for this `def`"),
                );
                continue;
            }
            if let Some(prev) = ours.insert(&d.name.name, d) {
                diags.push(
                    Diagnostic::error(format!("`def {}` is defined twice", d.name.name))
                        .at(d.name.span, "defined again here")
                        .also(prev.name.span, "first defined here"),
                );
            }
            defs.insert(&d.name.name, d);
        }
        let mut table = DefTable { defs, broken: Vec::new() };
        let mut names: Vec<&str> = table.defs.keys().copied().collect();
        names.sort_unstable();
        for name in names {
            let d = table.defs[name];
            if !table.check_def(d, diags) {
                table.broken.push(name);
            }
        }
        table
    }

    /// The `def` called `name`, if any (broken ones included).
    pub fn get(&self, name: &str) -> Option<&'a ast::Def> {
        self.defs.get(name).copied()
    }

    /// Whether `def name` failed its own checks (its calls are then skipped).
    pub fn is_broken(&self, name: &str) -> bool {
        self.broken.contains(&name)
    }

    /// Checks a body's names and calls, and that no call chain returns to `d`.
    fn check_def(&self, d: &ast::Def, diags: &mut Vec<Diagnostic>) -> bool {
        let mut ok = true;
        for (i, p) in d.params.iter().enumerate() {
            if d.params[..i].iter().any(|q| q.name == p.name) {
                diags.push(
                    Diagnostic::error(format!("parameter `{}` is defined twice", p.name))
                        .at(p.span, "again here")
                        .also(d.name.span, format!("in `def {}`", d.name.name)),
                );
                ok = false;
            }
        }
        walk(&d.body, &mut |e| match &e.kind {
            ExprKind::Name(n) if !d.params.iter().any(|p| &p.name == n) => {
                let params: Vec<&str> = d.params.iter().map(|p| p.name.as_str()).collect();
                diags.push(
                    Diagnostic::error(format!("unknown name `{n}`"))
                        .at(e.span, "not a parameter of this `def`")
                        .help(format!("a `def` body can use only its parameters ({})", params.join(", "))),
                );
                ok = false;
            }
            ExprKind::Call { func, .. } => {
                if func.name == d.name.name || self.reaches(&func.name, &d.name.name, &mut Vec::new()) {
                    diags.push(
                        Diagnostic::error(format!("`def {}` is recursive", d.name.name))
                            .at(func.span, "this call leads back to the definition")
                            .note("a `def` is inlined at each call, so it cannot call itself"),
                    );
                    ok = false;
                } else if self.get(&func.name).is_none()
                    && atoms::lookup(&func.name).is_none()
                    && !SUGAR.contains(&func.name.as_str())
                {
                    diags.push(unknown_function(&func.name, func.span));
                    ok = false;
                }
            }
            _ => {}
        });
        ok
    }

    /// Whether `from`'s body (transitively) calls `target`.
    fn reaches(&self, from: &str, target: &str, seen: &mut Vec<String>) -> bool {
        if seen.iter().any(|s| s == from) {
            return false;
        }
        seen.push(from.to_string());
        let Some(d) = self.get(from) else { return false };
        let mut found = false;
        walk(&d.body, &mut |e| {
            if let ExprKind::Call { func, .. } = &e.kind {
                found |= func.name == target || self.reaches(&func.name, target, seen);
            }
        });
        found
    }
}

fn def_of(i: &ast::Item) -> Option<&ast::Def> {
    match i {
        ast::Item::Def(d) => Some(d),
        ast::Item::Node(_) => None,
    }
}

/// "unknown function `name`", with the closest built-in name (edit distance ≤ 2) as help.
pub fn unknown_function(name: &str, span: crate::diag::Span) -> Diagnostic {
    let mut d = Diagnostic::error(format!("unknown function `{name}`")).at(span, "no atom or `def` has this name");
    let names = atoms::all().map(|a| a.name).chain(SUGAR.iter().copied());
    if let Some(best) = closest(name, names) {
        d = d.help(format!("did you mean `{best}`?"));
    }
    d
}

/// The candidate within edit distance 2 of `name`, if any.
pub fn closest<'n>(name: &str, candidates: impl Iterator<Item = &'n str>) -> Option<&'n str> {
    candidates.map(|c| (edit_distance(name, c), c)).filter(|(d, _)| *d <= 2 && *d < name.len()).min().map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for j in 0..b.len() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != b[j])).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

/// Calls `f` on every subexpression, parents first.
pub fn walk(e: &ast::Expr, f: &mut impl FnMut(&ast::Expr)) {
    f(e);
    match &e.kind {
        ExprKind::Number { .. } | ExprKind::Name(_) => {}
        ExprKind::Neg(a) | ExprKind::Transpose(a) => walk(a, f),
        ExprKind::Binary { lhs, rhs, .. } => {
            walk(lhs, f);
            walk(rhs, f);
        }
        ExprKind::Index { base, indices } => {
            walk(base, f);
            for i in indices {
                match i {
                    IndexArg::At(x) => walk(x, f),
                    IndexArg::Slice { start, end, .. } => {
                        start.iter().chain(end.iter()).for_each(|x| walk(x, f));
                    }
                }
            }
        }
        ExprKind::Call { args, kwargs, .. } => {
            args.iter().for_each(|a| walk(a, f));
            kwargs.iter().for_each(|k| walk(&k.value, f));
        }
    }
}
