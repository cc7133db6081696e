//! pest → [`ast`](super::ast). The only module that knows pest.
//!
//! Expression precedence, tightest first: postfix (`.T`, `x[i]`, calls), `^`
//! (right-associative), unary `-`, `*` `/`, `@`, `+` `-`. `^` binds tighter than a
//! unary minus on its left, so `-z^2` is `-(z^2)` as in mathematics and Python: the
//! contract's `welsch` penalty `1 - exp(-z^2 / (2 * alpha^2))` means what it says.

use std::num::NonZeroUsize;
use std::sync::OnceLock;

use pest::error::{ErrorVariant, InputLocation};
use pest::iterators::Pair;
use pest::pratt_parser::{Assoc, Op, PrattParser};
use pest::Parser as _;

use super::ast::*;
use super::layout::layout;
use crate::diag::{Diagnostic, FileId, Span};

#[derive(pest_derive::Parser)]
#[grammar = "../grammar/ddn.pest"]
struct DdnParser;

type Res<T> = Result<T, Diagnostic>;

/// A deterministic bound on parser work (pest rule calls): a grammar regression
/// that made parsing super-linear fails with a diagnostic instead of hanging.
/// Real files use a few hundred calls per line.
pub const CALL_LIMIT: usize = 50_000_000;

/// Parses one file. On failure returns every syntax error found (bracket errors
/// from the layout pass, or the parser's first error).
pub fn parse(src: &str, file: FileId) -> Result<File, Vec<Diagnostic>> {
    pest::set_error_detail(true);
    pest::set_call_limit(NonZeroUsize::new(CALL_LIMIT));
    let (text, bracket_errors) = layout(src, file);
    if !bracket_errors.is_empty() {
        return Err(bracket_errors);
    }
    let pairs = DdnParser::parse(Rule::file, &text).map_err(|e| vec![syntax_error(&text, file, e)])?;
    let b = Builder { file };
    let mut items = Vec::new();
    // `file` matched, so there is exactly one top-level pair.
    for pair in pairs.flatten().take(1).flat_map(|p| p.into_inner()) {
        match pair.as_rule() {
            Rule::def => items.push(Item::Def(b.def(pair).map_err(|d| vec![d])?)),
            Rule::node => items.push(Item::Node(b.node(pair).map_err(|d| vec![d])?)),
            _ => {}
        }
    }
    let file_ast = File { items };
    match too_deep(&file_ast, file) {
        Some(d) => Err(vec![d]),
        None => Ok(file_ast),
    }
}

/// Deepest expression nesting accepted (later stages recurse over expressions).
pub const MAX_DEPTH: usize = 512;

/// The first expression nested deeper than [`MAX_DEPTH`], found without recursion.
fn too_deep(f: &File, file: FileId) -> Option<Diagnostic> {
    let mut roots: Vec<&Expr> = Vec::new();
    for item in &f.items {
        match item {
            Item::Def(d) => roots.push(&d.body),
            Item::Node(n) => {
                for s in &n.body {
                    match s {
                        Stmt::Let { value, .. } | Stmt::Init { value, .. } => roots.push(value),
                        Stmt::Objective { expr, .. } => roots.push(expr),
                        Stmt::SubjectTo { constraints, .. } => {
                            constraints.iter().for_each(|c| roots.extend([&c.lhs, &c.rhs]));
                        }
                        Stmt::Solve { options, .. } => roots.extend(options.iter().map(|k| &k.value)),
                        Stmt::Var { .. } => {}
                    }
                }
            }
        }
    }
    let mut stack: Vec<(&Expr, usize)> = roots.into_iter().map(|e| (e, 1)).collect();
    while let Some((e, depth)) = stack.pop() {
        if depth > MAX_DEPTH {
            return Some(
                Diagnostic::error(format!("expression nested more than {MAX_DEPTH} deep"))
                    .at(Span { file, ..e.span }, "too deep")
                    .help("name intermediate results with `let`"),
            );
        }
        let d = depth + 1;
        match &e.kind {
            ExprKind::Number { .. } | ExprKind::Name(_) => {}
            ExprKind::Neg(a) | ExprKind::Transpose(a) => stack.push((a, d)),
            ExprKind::Binary { lhs, rhs, .. } => stack.extend([(lhs.as_ref(), d), (rhs.as_ref(), d)]),
            ExprKind::Index { base, indices } => {
                stack.push((base, d));
                for i in indices {
                    match i {
                        IndexArg::At(x) => stack.push((x, d)),
                        IndexArg::Slice { start, end, .. } => {
                            stack.extend(start.iter().chain(end.iter()).map(|x| (x, d)));
                        }
                    }
                }
            }
            ExprKind::Call { args, kwargs, .. } => {
                stack.extend(args.iter().map(|x| (x, d)));
                stack.extend(kwargs.iter().map(|k| (&k.value, d)));
            }
        }
    }
    None
}

/// Parses a standalone expression (used by tests and tools).
pub fn parse_expr(src: &str, file: FileId) -> Result<Expr, Vec<Diagnostic>> {
    let wrapped = format!("def __e() = {src}");
    let f = parse(&wrapped, file)?;
    match f.items.into_iter().next() {
        Some(Item::Def(d)) => Ok(shift(d.body, 12)),
        _ => Err(vec![Diagnostic::error("expected an expression")]),
    }
}

/// Moves every span of `e` left by `by` bytes (undoing the wrapper of [`parse_expr`]).
fn shift(mut e: Expr, by: u32) -> Expr {
    fn s(sp: &mut Span, by: u32) {
        sp.start = sp.start.saturating_sub(by);
        sp.end = sp.end.saturating_sub(by);
    }
    fn go(e: &mut Expr, by: u32) {
        s(&mut e.span, by);
        match &mut e.kind {
            ExprKind::Number { .. } | ExprKind::Name(_) => {}
            ExprKind::Neg(a) | ExprKind::Transpose(a) => go(a, by),
            ExprKind::Binary { lhs, rhs, .. } => {
                go(lhs, by);
                go(rhs, by);
            }
            ExprKind::Index { base, indices } => {
                go(base, by);
                for i in indices {
                    match i {
                        IndexArg::At(e) => go(e, by),
                        IndexArg::Slice { start, end, span } => {
                            s(span, by);
                            start.iter_mut().chain(end.iter_mut()).for_each(|e| go(e, by));
                        }
                    }
                }
            }
            ExprKind::Call { func, args, kwargs } => {
                s(&mut func.span, by);
                args.iter_mut().for_each(|a| go(a, by));
                for k in kwargs {
                    s(&mut k.name.span, by);
                    go(&mut k.value, by);
                }
            }
        }
    }
    go(&mut e, by);
    e
}

fn pratt() -> &'static PrattParser<Rule> {
    static P: OnceLock<PrattParser<Rule>> = OnceLock::new();
    P.get_or_init(|| {
        PrattParser::new()
            .op(Op::infix(Rule::add, Assoc::Left) | Op::infix(Rule::sub, Assoc::Left))
            .op(Op::infix(Rule::matmul, Assoc::Left))
            .op(Op::infix(Rule::mul, Assoc::Left) | Op::infix(Rule::div, Assoc::Left))
            .op(Op::prefix(Rule::neg))
            .op(Op::infix(Rule::pow, Assoc::Right))
            .op(Op::postfix(Rule::transpose) | Op::postfix(Rule::index))
    })
}

struct Builder {
    file: FileId,
}

impl Builder {
    fn span(&self, p: &Pair<Rule>) -> Span {
        let s = p.as_span();
        Span::new(self.file, s.start(), s.end())
    }

    fn ident(&self, p: Pair<Rule>) -> Ident {
        Ident { name: p.as_str().to_string(), span: self.span(&p) }
    }

    fn def(&self, p: Pair<Rule>) -> Res<Def> {
        let span = self.span(&p);
        let mut it = p.into_inner().filter(|p| p.as_rule() != Rule::kw_def);
        let name = self.ident(next(&mut it)?);
        let mut params = Vec::new();
        let mut body = None;
        for q in it {
            match q.as_rule() {
                Rule::def_params => params = q.into_inner().map(|i| self.ident(i)).collect(),
                Rule::expr => body = Some(self.expr(q)?),
                _ => {}
            }
        }
        Ok(Def { name, params, body: body.ok_or_else(internal)?, span })
    }

    fn node(&self, p: Pair<Rule>) -> Res<Node> {
        let span = self.span(&p);
        let mut it = p.into_inner().filter(|p| p.as_rule() != Rule::kw_node);
        let name = self.ident(next(&mut it)?);
        let mut params = Vec::new();
        let mut outputs = Vec::new();
        let mut tuple_outputs = false;
        let mut body = Vec::new();
        for q in it {
            match q.as_rule() {
                Rule::params => {
                    for param in q.into_inner() {
                        let mut pi = param.into_inner();
                        let name = self.ident(next(&mut pi)?);
                        let ty = self.ty(next(&mut pi)?)?;
                        params.push(Param { name, ty });
                    }
                }
                Rule::outputs => {
                    let inner = next(&mut q.into_inner())?;
                    let outs: Vec<Pair<Rule>> = if inner.as_rule() == Rule::output_tuple {
                        tuple_outputs = true;
                        inner.into_inner().collect()
                    } else {
                        vec![inner]
                    };
                    for o in outs {
                        outputs.push(self.output(o)?);
                    }
                }
                Rule::body => {
                    for s in q.into_inner() {
                        body.push(self.stmt(s)?);
                    }
                }
                _ => {}
            }
        }
        Ok(Node { name, params, outputs, tuple_outputs, body, span })
    }

    fn output(&self, o: Pair<Rule>) -> Res<Output> {
        let span = self.span(&o);
        let rule = o.as_rule();
        let mut it = o.into_inner().filter(|p| p.as_rule() != Rule::kw_dual);
        let name = self.ident(next(&mut it)?);
        Ok(match rule {
            Rule::dual_output => Output::Dual { name, span },
            _ => Output::Var { name, ty: self.ty(next(&mut it)?)? },
        })
    }

    fn ty(&self, p: Pair<Rule>) -> Res<Type> {
        let span = self.span(&p);
        let mut it = p.into_inner();
        let base_pair = next(&mut it)?;
        let base_span = self.span(&base_pair);
        let base = BaseType::from_name(base_pair.as_str()).ok_or_else(|| {
            Diagnostic::error(format!("unknown type `{}`", base_pair.as_str()))
                .at(base_span, "not a type")
                .help("the types are `real`, `nonneg`, `pos`, `sym` and `psd`, e.g. `real[m, n]`")
        })?;
        let mut dims = Vec::new();
        if let Some(d) = it.next() {
            for dim in d.into_inner() {
                let dspan = self.span(&dim);
                dims.push(match dim.as_rule() {
                    Rule::dim_lit => {
                        let v = dim
                            .as_str()
                            .parse::<u64>()
                            .map_err(|_| Diagnostic::error("dimension is too large").at(dspan, "here"))?;
                        DimExpr::Lit(v, dspan)
                    }
                    _ => DimExpr::Name(self.ident(dim)),
                });
            }
        }
        if dims.len() > 2 {
            return Err(Diagnostic::error(format!("a type has at most 2 dimensions, found {}", dims.len()))
                .at(span, "too many dimensions")
                .help("ddn works with scalars, vectors and matrices"));
        }
        Ok(Type { base, base_span, dims, span })
    }

    fn stmt(&self, p: Pair<Rule>) -> Res<Stmt> {
        let span = self.span(&p);
        let rule = p.as_rule();
        let mut it = p.into_inner().filter(|q| !is_keyword(q.as_rule()));
        Ok(match rule {
            Rule::var_stmt => {
                let name = self.ident(next(&mut it)?);
                Stmt::Var { name, ty: self.ty(next(&mut it)?)?, span }
            }
            Rule::let_stmt => {
                let name = self.ident(next(&mut it)?);
                Stmt::Let { name, value: self.expr(next(&mut it)?)?, span }
            }
            Rule::init => {
                let name = self.ident(next(&mut it)?);
                Stmt::Init { name, value: self.expr(next(&mut it)?)?, span }
            }
            Rule::objective => {
                let sense_pair = next(&mut it)?;
                let sense = match sense_pair.into_inner().next().map(|k| k.as_rule()) {
                    Some(Rule::kw_maximize) => Sense::Maximize,
                    _ => Sense::Minimize,
                };
                Stmt::Objective { sense, expr: self.expr(next(&mut it)?)?, span }
            }
            Rule::subject_to => {
                let constraints = it.map(|c| self.constraint(c)).collect::<Res<Vec<_>>>()?;
                Stmt::SubjectTo { constraints, span }
            }
            Rule::solve => {
                let method = self.ident(next(&mut it)?);
                let options = match it.next() {
                    Some(k) => k.into_inner().map(|kw| self.kwarg(kw)).collect::<Res<Vec<_>>>()?,
                    None => Vec::new(),
                };
                Stmt::Solve { method, options, span }
            }
            _ => return Err(internal()),
        })
    }

    fn constraint(&self, p: Pair<Rule>) -> Res<Constraint> {
        let span = self.span(&p);
        let mut name = None;
        let mut exprs = Vec::new();
        let mut op = CmpOp::Eq;
        for q in p.into_inner() {
            match q.as_rule() {
                Rule::ident => name = Some(self.ident(q)),
                Rule::expr => exprs.push(self.expr(q)?),
                Rule::cmp => {
                    op = match q.as_str() {
                        "<=" => CmpOp::Le,
                        ">=" => CmpOp::Ge,
                        ">>" => CmpOp::PsdGe,
                        "<<" => CmpOp::PsdLe,
                        _ => CmpOp::Eq,
                    }
                }
                _ => {}
            }
        }
        let rhs = exprs.pop().ok_or_else(internal)?;
        let lhs = exprs.pop().ok_or_else(internal)?;
        Ok(Constraint { name, lhs, op, rhs, span })
    }

    fn kwarg(&self, p: Pair<Rule>) -> Res<KwArg> {
        let mut it = p.into_inner();
        let name = self.ident(next(&mut it)?);
        Ok(KwArg { name, value: self.expr(next(&mut it)?)? })
    }

    fn expr(&self, p: Pair<Rule>) -> Res<Expr> {
        pratt()
            .map_primary(|q| self.primary(q))
            .map_prefix(|op, rhs| {
                let rhs = rhs?;
                let span = self.span(&op).to(rhs.span);
                Ok(Expr { kind: ExprKind::Neg(Box::new(rhs)), span })
            })
            .map_infix(|lhs, op, rhs| {
                let (lhs, rhs) = (lhs?, rhs?);
                let op = match op.as_rule() {
                    Rule::add => BinOp::Add,
                    Rule::sub => BinOp::Sub,
                    Rule::mul => BinOp::Mul,
                    Rule::div => BinOp::Div,
                    Rule::matmul => BinOp::MatMul,
                    _ => BinOp::Pow,
                };
                let span = lhs.span.to(rhs.span);
                Ok(Expr { kind: ExprKind::Binary { op, lhs: Box::new(lhs), rhs: Box::new(rhs) }, span })
            })
            .map_postfix(|lhs, op| {
                let lhs = lhs?;
                let span = lhs.span.to(self.span(&op));
                let kind = match op.as_rule() {
                    Rule::transpose => ExprKind::Transpose(Box::new(lhs)),
                    _ => {
                        let indices = op.into_inner().map(|i| self.index_arg(i)).collect::<Res<Vec<_>>>()?;
                        ExprKind::Index { base: Box::new(lhs), indices }
                    }
                };
                Ok(Expr { kind, span })
            })
            .parse(p.into_inner())
    }

    fn index_arg(&self, p: Pair<Rule>) -> Res<IndexArg> {
        let span = self.span(&p);
        let mut start = None;
        let mut tail = None;
        for q in p.into_inner() {
            match q.as_rule() {
                Rule::expr => start = Some(self.expr(q)?),
                _ => tail = Some(q.into_inner().next().map(|e| self.expr(e)).transpose()?),
            }
        }
        Ok(match (start, tail) {
            (Some(e), None) => IndexArg::At(e),
            (start, Some(end)) => IndexArg::Slice { start, end, span },
            (None, None) => return Err(internal()),
        })
    }

    fn primary(&self, p: Pair<Rule>) -> Res<Expr> {
        let span = self.span(&p);
        let kind = match p.as_rule() {
            Rule::number => {
                let text = p.as_str().to_string();
                let value: f64 = text.parse().map_err(|_| internal())?;
                if !value.is_finite() {
                    return Err(Diagnostic::error("number literal is not finite")
                        .at(span, "overflows a 64-bit float")
                        .help("the largest double is about 1.8e308"));
                }
                ExprKind::Number { value, text }
            }
            Rule::name => ExprKind::Name(p.as_str().to_string()),
            Rule::paren => {
                let mut e = self.expr(next(&mut p.into_inner())?)?;
                e.span = span;
                return Ok(e);
            }
            Rule::call => {
                let mut it = p.into_inner();
                let func = self.ident(next(&mut it)?);
                let mut args = Vec::new();
                let mut kwargs = Vec::new();
                for a in it.flat_map(|a| a.into_inner()) {
                    match a.as_rule() {
                        Rule::kwarg => kwargs.push(self.kwarg(a)?),
                        _ => {
                            if let Some(k) = kwargs.last() {
                                return Err(Diagnostic::error("positional argument after a keyword argument")
                                    .at(self.span(&a), "positional")
                                    .also(k.name.span, "keyword argument before it")
                                    .help("put positional arguments first"));
                            }
                            args.push(self.expr(a)?)
                        }
                    }
                }
                ExprKind::Call { func, args, kwargs }
            }
            _ => return Err(internal()),
        };
        Ok(Expr { kind, span })
    }
}

fn is_keyword(r: Rule) -> bool {
    matches!(
        r,
        Rule::kw_var | Rule::kw_let | Rule::kw_init | Rule::kw_subject | Rule::kw_to | Rule::kw_solve | Rule::kw_using
    )
}

fn next<'i>(it: &mut impl Iterator<Item = Pair<'i, Rule>>) -> Res<Pair<'i, Rule>> {
    it.next().ok_or_else(internal)
}

/// The grammar guarantees the shapes the builder walks; reaching this is a bug in
/// the builder, reported as a diagnostic rather than a panic.
fn internal() -> Diagnostic {
    Diagnostic::error("internal error: unexpected parse tree (please report this)")
}

fn describe(r: Rule) -> Option<&'static str> {
    Some(match r {
        Rule::expr => "an expression",
        Rule::ident | Rule::name => "a name",
        Rule::number => "a number",
        Rule::call => "a function call",
        Rule::paren => "`(`",
        Rule::ty => "a type",
        Rule::dim_lit => "a dimension",
        Rule::def | Rule::kw_def => "`def`",
        Rule::node | Rule::kw_node => "`node`",
        Rule::params | Rule::param => "a parameter",
        Rule::def_params => "an argument name",
        Rule::outputs | Rule::output_tuple | Rule::var_output | Rule::dual_output => "an output",
        Rule::body => "`{`",
        Rule::var_stmt | Rule::kw_var => "`var`",
        Rule::let_stmt | Rule::kw_let => "`let`",
        Rule::objective | Rule::sense | Rule::kw_minimize | Rule::kw_maximize => "`minimize` or `maximize`",
        Rule::subject_to | Rule::kw_subject => "`subject to`",
        Rule::kw_to => "`to`",
        Rule::solve | Rule::kw_solve => "`solve using`",
        Rule::kw_using => "`using`",
        Rule::init | Rule::kw_init => "`init`",
        Rule::constraint => "a constraint",
        Rule::cmp => "`<=`, `>=` or `==`",
        Rule::kwargs | Rule::kwarg => "`key = value`",
        Rule::args => "an argument",
        Rule::add | Rule::sub | Rule::mul | Rule::div | Rule::matmul | Rule::pow => "an operator",
        Rule::neg => "`-`",
        Rule::transpose => "`.T`",
        Rule::index | Rule::dims => "`[`",
        Rule::index_arg | Rule::slice_tail => "an index",
        Rule::EOI => "end of file",
        _ => return None,
    })
}

/// What the parser stopped at: a word, a symbol, or the end of a line or file.
fn found_at(text: &str, pos: usize) -> String {
    let rest = &text[pos.min(text.len())..];
    let rest = rest.trim_start_matches([' ', '\t', '\r']);
    match rest.chars().next() {
        None => "end of file".into(),
        Some('\n') => "end of line".into(),
        Some(c) if c.is_alphanumeric() || c == '_' || c == '.' => {
            let w: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_' || *c == '.').collect();
            format!("`{w}`")
        }
        Some(c) => {
            let two: String = rest.chars().take(2).collect();
            if ["<=", ">=", "==", "->"].contains(&two.as_str()) {
                format!("`{two}`")
            } else {
                format!("`{c}`")
            }
        }
    }
}

/// Folds the raw token list into words: operand starts into "an expression",
/// operator symbols into "an operator"; drops characters internal to names.
fn tidy(expected: &mut Vec<String>) {
    let has = |v: &Vec<String>, t: &str| v.iter().any(|x| x == t);
    expected.retain(|t| t != "`_`" && t != "`.`");
    let ops = ["`+`", "`*`", "`/`", "`@`", "`^`"];
    if ops.iter().any(|o| has(expected, o)) {
        expected.retain(|t| !ops.contains(&t.as_str()) && t != "`-`" && t != "`=`");
        expected.push("an operator".into());
    }
    if has(expected, "`(`") && (has(expected, "`-`") || has(expected, "an expression")) {
        expected.retain(|t| t != "`(`" && t != "`-`");
        expected.push("an expression".into());
    }
}

fn syntax_error(text: &str, file: FileId, e: pest::error::Error<Rule>) -> Diagnostic {
    if let ErrorVariant::CustomError { message } = &e.variant {
        if message.contains("limit reached") {
            let whole = Span::new(file, 0, text.len().min(1));
            return Diagnostic::error(format!("the input is too complex to parse ({message})"))
                .at(whole, "in this file")
                .help("split deeply nested expressions with `let`");
        }
    }
    let mut pos = match e.location {
        InputLocation::Pos(p) => p,
        InputLocation::Span((s, _)) => s,
    };
    let mut expected: Vec<String> = Vec::new();
    if let Some(attempts) = e.parse_attempts() {
        // The farthest position any alternative reached, and what it wanted there:
        // literal tokens (`:`, `->`) and the rules that were waiting.
        pos = attempts.max_position;
        for t in attempts.expected_tokens() {
            // `ParsingToken` is not exported; its Display is the literal itself
            // (character ranges print as `a..z`, built-ins as `BUILTIN_RULE`).
            let token = t.to_string();
            let noise = token.trim().is_empty() || token == ";" || token.contains("..") || token == "BUILTIN_RULE";
            if !noise {
                expected.push(format!("`{token}`"));
            }
        }
        for stack in &attempts.call_stacks {
            let leaf =
                stack.deepest.get_rule().filter(|r| matches!(r, Rule::expr | Rule::ident | Rule::ty | Rule::cmp));
            if let Some(d) = leaf.and_then(|r| describe(*r)) {
                expected.push(d.to_string());
            }
        }
        tidy(&mut expected);
    }
    if expected.is_empty() {
        if let ErrorVariant::ParsingError { positives, .. } = &e.variant {
            expected.extend(positives.iter().filter_map(|r| describe(*r)).map(String::from));
        }
    }
    expected.sort_unstable();
    expected.dedup();
    // Point at the offending token, not at the whitespace before it.
    let pos = pos.min(text.len());
    let at = pos + (text[pos..].len() - text[pos..].trim_start_matches([' ', '\t', '\r']).len());
    let found = found_at(text, pos);
    let message = match expected.len() {
        0 => format!("unexpected {found}"),
        1 => format!("expected {}, found {found}", expected[0]),
        n => format!("expected {} or {}, found {found}", expected[..n - 1].join(", "), expected[n - 1]),
    };
    let end = (at + 1).min(text.len()).max(at);
    let mut d = Diagnostic::error(message).at(Span::new(file, at, end), "here");
    if found == "end of line" && expected.iter().any(|x| x == "an expression") {
        d = d.help("an expression cannot end a line here; did you leave out an operand?");
    }
    d
}
