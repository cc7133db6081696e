//! Property tests (proptest) of the front end:
//!
//! 1. `ddn::compile` never panics, whatever the text: arbitrary strings, token soup
//!    over the language's own words, and one-character mutations of a valid file;
//!    rendering what it returns (diagnostics, `check` text and JSON) never panics;
//!    and deep nesting stays within the parser's work budget and depth limits.
//! 2. The printer round-trips random expression trees: `Style::Pretty` puts exactly
//!    the parentheses precedence needs, so parsing it back gives the same tree
//!    (compared through `Style::Explicit`, which spells out every grouping).
//! 3. Printing whole files is stable: every stdlib file and every parseable ```ddn
//!    block of the contract prints, reparses and prints identically; random trees
//!    placed in every expression position of a file round-trip too.
//! 4. Hostile run-time input never panics and never passes silently: arbitrary
//!    JSON as a node's inputs and cotangents through bind, forward and backward
//!    (every gradient returned has its parameter's shape), and byte-level
//!    mutations of MPS and CBF files through the readers and their conversions.
//!
//! Case counts are fixed and modest so the file runs in a few seconds, and failures
//! are not persisted (no `proptest-regressions/` files are written): a failing case
//! is reported, shrunk, in the test output.

use ddn::diag::{Color, FileId, Span};
use ddn::syntax::ast::*;
use ddn::syntax::printer::{print_expr, print_file, Style};
use ddn::syntax::{parse, parse_expr};
use proptest::prelude::*;
use proptest::test_runner::Config;

use super::{ddn_files, root, shared};

fn config(cases: u32) -> Config {
    Config { cases, failure_persistence: None, ..Config::default() }
}

// ---- 1. never panics -----------------------------------------------------------

/// Compiles `text` and renders everything a caller could ask for.
fn compile_and_render(text: &str) {
    let c = ddn::compile("prop.ddn", text);
    let _ = c.diagnostics_text(Color::Never);
    let _ = c.diagnostics_text(Color::Always);
    let _ = ddn::report::check_text(&c);
    let _ = ddn::report::check_json(&c).to_string();
    let _ = c.has_errors();
}

/// Pieces of `.ddn` text: keywords, punctuation, names, types and literals.
const TOKENS: &[&str] = &[
    "node ",
    "def ",
    "var ",
    "let ",
    "init ",
    "minimize ",
    "maximize ",
    "subject to {",
    "solve using ",
    "ipm",
    "newton(",
    "tol = ",
    "{",
    "}",
    "(",
    ")",
    "[",
    "]",
    "x",
    "y",
    "A",
    "n",
    " ",
    "@",
    "^",
    "-",
    "*",
    "/",
    "+",
    ",",
    ":",
    "=",
    "real[n]",
    "real[m, n]",
    "pos",
    "psd[n, n]",
    "sym[2, 2]",
    "nonneg",
    "real[n, n, n]",
    "\n",
    "sum(",
    "norm(",
    "mean(x, axis = 0)",
    "pseudo_huber(",
    "huber(",
    "exp(",
    "log(",
    "quad_form(",
    "1e-3",
    "0",
    "2",
    "2.5",
    ".5",
    "1e999",
    "99999999999999999999999",
    "#",
    ";",
    "==",
    "<=",
    ">=",
    "->",
    "dual ",
    ".T",
    "let r = ",
    ":",
    "é",
    "\t",
    "\r\n",
];

fn token_soup() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(TOKENS), 0..60).prop_map(|v| v.concat())
}

/// Token soup inside a well-formed node, so that more of it gets past the parser
/// and into the checker.
fn soup_in_node() -> impl Strategy<Value = String> {
    (token_soup(), token_soup()).prop_map(|(a, b)| {
        format!("node k(x: real[n], A: real[m, n], alpha: pos) -> y: real[n] {{\n    minimize {a}\n    {b}\n}}\n")
    })
}

fn robust_pooling() -> String {
    let path = root().join("stdlib/robust_pooling.ddn");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// A one-character edit of a text: delete the character at a position, or insert one.
#[derive(Clone, Debug)]
enum Edit {
    Delete(prop::sample::Index),
    Insert(prop::sample::Index, char),
}

fn edit() -> impl Strategy<Value = Edit> {
    let language_char = prop::sample::select(
        "abcdefghijklmnopqrstuvwxyzATXn0123456789_.,:;=<>-+*/@^()[]{}# \t\n\r".chars().collect::<Vec<_>>(),
    );
    prop_oneof![
        any::<prop::sample::Index>().prop_map(Edit::Delete),
        (any::<prop::sample::Index>(), language_char).prop_map(|(i, c)| Edit::Insert(i, c)),
        (any::<prop::sample::Index>(), any::<char>()).prop_map(|(i, c)| Edit::Insert(i, c)),
    ]
}

fn apply(text: &str, edits: &[Edit]) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for e in edits {
        match e {
            Edit::Delete(i) if !chars.is_empty() => {
                chars.remove(i.index(chars.len()));
            }
            Edit::Delete(_) => {}
            Edit::Insert(i, c) => chars.insert(i.index(chars.len() + 1), *c),
        }
    }
    chars.into_iter().collect()
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn compile_never_panics_on_arbitrary_strings(text in any::<String>()) {
        compile_and_render(&text);
    }

    #[test]
    fn compile_never_panics_on_token_soup(text in token_soup()) {
        compile_and_render(&text);
    }

    #[test]
    fn compile_never_panics_on_token_soup_in_a_node(text in soup_in_node()) {
        compile_and_render(&text);
    }

    #[test]
    fn compile_never_panics_on_a_mutated_stdlib_file(edits in prop::collection::vec(edit(), 1..4)) {
        let text = apply(&robust_pooling(), &edits);
        compile_and_render(&text);
    }
}

/// Nesting each kind of bracket 100 deep parses within the parser's work budget
/// (`syntax::CALL_LIMIT` pest rule calls). A grammar that re-parses a nested operand
/// on backtracking does work exponential in the depth: it would exhaust the budget
/// and report "too complex" here, deterministically, instead of hanging.
#[test]
fn deep_nesting_parses_within_the_work_budget() {
    const DEPTH: usize = 100;
    let nest = |open: &str, inner: &str, close: &str| format!("{}{inner}{}", open.repeat(DEPTH), close.repeat(DEPTH));
    let shapes: Vec<(&str, String)> = vec![
        ("parentheses", nest("(", "x", ")")),
        ("negations", nest("-(", "x", ")")),
        ("calls", nest("f(", "x", ")")),
        ("keyword arguments", nest("f(a = ", "x", ")")),
        ("transposes", nest("(", "x", ").T")),
        ("slice ends", nest("x[:", "x", "]")),
        ("slice starts", nest("x[", "x", ":]")),
        ("indices", nest("x[", "0", "]")),
        ("second indices", nest("x[0, ", "0", "]")),
        ("parenthesised indices", nest("x[(", "0", ")]")),
        ("indices, with an error inside", nest("x[", "0 0", "]")),
    ];
    for (what, expr) in shapes {
        let c = ddn::compile("deep.ddn", &format!("def d(x) = {expr}\n"));
        let too_complex = c.diagnostics.iter().any(|d| d.message.contains("too complex"));
        assert!(!too_complex, "{what}: parsing exhausted its budget on `def d(x) = {expr}`");
    }
}

/// Nesting deeper than the bracket limit is a diagnostic, not a stack overflow.
#[test]
fn nesting_beyond_the_limit_is_a_diagnostic() {
    let expr = format!("{}x{}", "(".repeat(5000), ")".repeat(5000));
    let c = ddn::compile("deeper.ddn", &format!("def d(x) = {expr}\n"));
    assert!(c.diagnostics.iter().any(|d| d.message.contains("nested more than")), "{:?}", c.diagnostics);
    for chain in [format!("def d(x) = {}x\n", "-".repeat(5000)), format!("def d(x) = x{}\n", "^x".repeat(5000))] {
        let c = ddn::compile("chain.ddn", &chain);
        assert!(c.diagnostics.iter().any(|d| d.message.contains("nested more than")), "{:?}", c.diagnostics);
    }
}

// ---- 2. printer round trip on random expression trees ----------------------------

fn ex(kind: ExprKind) -> Expr {
    Expr { kind, span: Span::default() }
}

fn ident(name: &str) -> Ident {
    Ident { name: name.to_string(), span: Span::default() }
}

/// Names that are neither keywords nor anything else the grammar treats specially.
const NAMES: &[&str] = &["x", "y", "A", "b", "alpha", "z_1", "_t", "Tx", "xT"];
const FUNCS: &[&str] = &["f", "sum", "norm", "huber", "g2"];
const KWARG_NAMES: &[&str] = &["axis", "M", "tol", "alpha"];
/// Non-negative literal spellings the `number` rule accepts (no sign: `-1` is `Neg(1)`).
const NUMBERS: &[&str] = &["0", "1", "2", "10", "0.5", "2.5", "3.", ".5", "1e-3", "1E+2", "1.5e3", "007"];

fn number() -> impl Strategy<Value = Expr> {
    prop::sample::select(NUMBERS)
        .prop_map(|t| ex(ExprKind::Number { value: t.parse().expect("literal"), text: t.into() }))
}

fn name() -> impl Strategy<Value = Expr> {
    prop::sample::select(NAMES).prop_map(|n| ex(ExprKind::Name(n.into())))
}

fn binop() -> impl Strategy<Value = BinOp> {
    prop::sample::select(vec![BinOp::Add, BinOp::Sub, BinOp::Mul, BinOp::Div, BinOp::MatMul, BinOp::Pow])
}

fn index_arg(inner: BoxedStrategy<Expr>) -> impl Strategy<Value = IndexArg> {
    prop_oneof![
        number().prop_map(IndexArg::At),
        inner.clone().prop_map(IndexArg::At),
        (prop::option::of(inner.clone()), prop::option::of(inner)).prop_map(|(start, end)| IndexArg::Slice {
            start,
            end,
            span: Span::default()
        }),
    ]
}

fn expr() -> impl Strategy<Value = Expr> {
    let leaf = prop_oneof![name(), number()];
    leaf.prop_recursive(5, 48, 3, |inner| {
        let inner = inner.boxed();
        prop_oneof![
            1 => inner.clone().prop_map(|a| ex(ExprKind::Neg(Box::new(a)))),
            3 => (binop(), inner.clone(), inner.clone())
                .prop_map(|(op, l, r)| ex(ExprKind::Binary { op, lhs: Box::new(l), rhs: Box::new(r) })),
            1 => inner.clone().prop_map(|a| ex(ExprKind::Transpose(Box::new(a)))),
            1 => (inner.clone(), prop::collection::vec(index_arg(inner.clone()), 1..3))
                .prop_map(|(b, indices)| ex(ExprKind::Index { base: Box::new(b), indices })),
            1 => (
                prop::sample::select(FUNCS),
                prop::collection::vec(inner.clone(), 0..3),
                prop::collection::vec((prop::sample::select(KWARG_NAMES), inner), 0..2),
            )
                .prop_map(|(f, args, kw)| ex(ExprKind::Call {
                    func: ident(f),
                    args,
                    kwargs: kw.into_iter().map(|(k, value)| KwArg { name: ident(k), value }).collect(),
                })),
        ]
    })
}

/// The first diagnostic's message, for failure reports.
fn first_message(d: &[ddn::diag::Diagnostic]) -> String {
    d.first().map(|d| d.message.clone()).unwrap_or_default()
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn pretty_printed_expressions_parse_back_to_the_same_tree(e in expr()) {
        let pretty = print_expr(&e, Style::Pretty);
        let explicit = print_expr(&e, Style::Explicit);
        let reparsed = match parse_expr(&pretty, FileId(0)) {
            Ok(r) => r,
            Err(d) => return Err(TestCaseError::fail(format!(
                "pretty text `{pretty}` (tree `{explicit}`) does not parse: {}", first_message(&d)
            ))),
        };
        prop_assert_eq!(print_expr(&reparsed, Style::Explicit), explicit, "pretty text `{}`", pretty);
    }

    #[test]
    fn explicitly_printed_expressions_parse_back_to_the_same_tree(e in expr()) {
        let explicit = print_expr(&e, Style::Explicit);
        let reparsed = match parse_expr(&explicit, FileId(0)) {
            Ok(r) => r,
            Err(d) => return Err(TestCaseError::fail(format!(
                "explicit text `{explicit}` does not parse: {}", first_message(&d)
            ))),
        };
        prop_assert_eq!(print_expr(&reparsed, Style::Explicit), explicit);
    }
}

/// Fixed cases of the precedence rules the printer must respect (the contract's and
/// the parser's), so a regression names the rule it broke.
#[test]
fn printer_precedence_examples() {
    for src in [
        "-z^2",
        "(-z)^2",
        "x^y^z",
        "(x^y)^z",
        "x^(-y)",
        "A @ x * y",
        "(A @ x) * y",
        "x - (y - z)",
        "x - y - z",
        "x / (y * z)",
        "-x * y",
        "-(x * y)",
        "x * -y",
        "-(-x)",
        "x.T[0]",
        "(x + y).T",
        "(-x).T",
        "-x.T",
        "A @ B @ C",
        "A @ (B @ C)",
        "1 - exp(-z^2 / (2 * alpha^2))",
        "f(x, y[1:], axis = 0)",
        "x[:, 1]",
        "x[:]",
    ] {
        let e = parse_expr(src, FileId(0)).unwrap_or_else(|d| panic!("`{src}` does not parse: {}", first_message(&d)));
        assert_eq!(print_expr(&e, Style::Pretty), src, "pretty form of `{src}`");
    }
}

/// Postfix operators on number literals: whatever the printer spells, it must parse
/// back (`2.T` does not: the literal `2.` swallows the dot).
#[test]
fn postfix_on_literals_round_trips() {
    for src in ["(2).T", "(10).T[0]", "2.5.T", "(1e3).T", "(.5).T", "(3.).T", "-(2).T", "x^(2).T"] {
        let e = parse_expr(src, FileId(0)).unwrap_or_else(|d| panic!("`{src}` does not parse: {}", first_message(&d)));
        let pretty = print_expr(&e, Style::Pretty);
        let back = parse_expr(&pretty, FileId(0))
            .unwrap_or_else(|d| panic!("`{src}` prints as `{pretty}`, which does not parse: {}", first_message(&d)));
        assert_eq!(print_expr(&back, Style::Explicit), print_expr(&e, Style::Explicit), "`{src}` printed `{pretty}`");
    }
}

// ---- 3. file round trip --------------------------------------------------------

/// Prints `text`'s parse, reparses the print, and checks the print is a fixed point
/// and means the same tree. `what` names the source in failures.
fn check_file_round_trip(what: &str, text: &str) -> Result<(), String> {
    let ast = parse(text, FileId(0)).map_err(|d| format!("{what} does not parse: {}", first_message(&d)))?;
    let pretty = print_file(&ast, Style::Pretty);
    let again = parse(&pretty, FileId(0))
        .map_err(|d| format!("{what}: the printed file does not parse: {}\n{pretty}", first_message(&d)))?;
    let pretty2 = print_file(&again, Style::Pretty);
    if pretty2 != pretty {
        return Err(format!("{what}: printing is not idempotent\nfirst:\n{pretty}\nsecond:\n{pretty2}"));
    }
    let (e1, e2) = (print_file(&ast, Style::Explicit), print_file(&again, Style::Explicit));
    if e1 != e2 {
        return Err(format!("{what}: the reprinted file is a different tree\nbefore:\n{e1}\nafter:\n{e2}"));
    }
    // The explicit form is itself valid syntax for the same tree.
    let explicit = parse(&e1, FileId(0))
        .map_err(|d| format!("{what}: the explicit print does not parse: {}\n{e1}", first_message(&d)))?;
    if print_file(&explicit, Style::Explicit) != e1 {
        return Err(format!("{what}: the explicit print reparses as a different tree\n{e1}"));
    }
    Ok(())
}

#[test]
fn stdlib_files_print_round_trip() {
    let files = ddn_files(&root().join("stdlib"));
    assert!(files.len() >= 9, "stdlib has {} files", files.len());
    let failures: Vec<String> = files
        .iter()
        .filter_map(|p| {
            let text = std::fs::read_to_string(p).unwrap_or_else(|e| panic!("cannot read {}: {e}", p.display()));
            check_file_round_trip(&p.display().to_string(), &text).err()
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn contract_blocks_print_round_trip() {
    let path = shared().join("design/language.md");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let blocks: Vec<&str> = text.split("```ddn\n").skip(1).filter_map(|b| b.split("```").next()).collect();
    let parseable: Vec<(usize, &str)> =
        blocks.iter().copied().enumerate().filter(|(_, b)| parse(b, FileId(0)).is_ok()).collect();
    assert!(parseable.len() >= 3, "only {} of {} ddn blocks parse", parseable.len(), blocks.len());
    let failures: Vec<String> = parseable
        .iter()
        .filter_map(|(i, b)| check_file_round_trip(&format!("language.md block {i}"), b).err())
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

fn ty(base: BaseType, dims: &[&str]) -> Type {
    Type {
        base,
        base_span: Span::default(),
        dims: dims.iter().map(|d| DimExpr::Name(ident(d))).collect(),
        span: Span::default(),
    }
}

/// A file with a `def` and a `node` whose every expression position holds a
/// random tree.
fn file_with(e: [Expr; 8]) -> File {
    let [body, let_value, objective, lhs1, rhs1, lhs2, rhs2, init] = e;
    let sp = Span::default();
    let def = Def { name: ident("d"), params: vec![ident("x"), ident("alpha")], body, span: sp };
    let node = Node {
        name: ident("k"),
        params: vec![
            Param { name: ident("A"), ty: ty(BaseType::Real, &["m", "n"]) },
            Param { name: ident("alpha"), ty: ty(BaseType::Pos, &[]) },
        ],
        outputs: vec![
            Output::Var { name: ident("x"), ty: ty(BaseType::Real, &["n"]) },
            Output::Dual { name: ident("c1"), span: sp },
        ],
        tuple_outputs: true,
        body: vec![
            Stmt::Var { name: ident("t"), ty: ty(BaseType::Nonneg, &[]), span: sp },
            Stmt::Let { name: ident("r"), value: let_value, span: sp },
            Stmt::Objective { sense: Sense::Minimize, expr: objective, span: sp },
            Stmt::SubjectTo {
                constraints: vec![
                    Constraint { name: Some(ident("c1")), lhs: lhs1, op: CmpOp::Le, rhs: rhs1, span: sp },
                    Constraint { name: None, lhs: lhs2, op: CmpOp::Eq, rhs: rhs2, span: sp },
                ],
                span: sp,
            },
            Stmt::Init { name: ident("x"), value: init.clone(), span: sp },
            Stmt::Solve { method: ident("ipm"), options: vec![KwArg { name: ident("tol"), value: init }], span: sp },
        ],
        span: sp,
    };
    File { items: vec![Item::Def(def), Item::Node(node)] }
}

proptest! {
    #![proptest_config(config(128))]

    #[test]
    fn random_files_print_round_trip(e in prop::array::uniform8(expr())) {
        let f = file_with(e);
        let pretty = print_file(&f, Style::Pretty);
        let reparsed = match parse(&pretty, FileId(0)) {
            Ok(r) => r,
            Err(d) => return Err(TestCaseError::fail(format!(
                "printed file does not parse: {}\n{pretty}", first_message(&d)
            ))),
        };
        prop_assert_eq!(print_file(&reparsed, Style::Explicit), print_file(&f, Style::Explicit), "printed file:\n{}", pretty);
    }
}

// ---- 4. hostile run-time input ---------------------------------------------------

/// JSON numbers a hostile caller would try: zeros of both signs, huge and tiny
/// magnitudes, integers past 2^53.
fn json_number() -> impl Strategy<Value = serde_json::Value> {
    prop_oneof![
        6 => (-3i64..4).prop_map(serde_json::Value::from),
        1 => prop::sample::select(vec![0.0, -0.0, 1e308, -1e308, 5e-324, 1e-300, 9.007199254740993e15])
            .prop_map(serde_json::Value::from),
        1 => any::<f64>().prop_filter("finite", |x| x.is_finite()).prop_map(serde_json::Value::from),
    ]
}

/// Scalars, vectors, matrices, ragged rows, deeper nesting, strings and nulls.
fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        8 => json_number(),
        1 => Just(serde_json::Value::Null),
        1 => Just(serde_json::Value::from("1")),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| prop::collection::vec(inner, 0..4).prop_map(serde_json::Value::Array))
}

/// An object over the names a least-squares node knows, and one it does not.
fn json_object() -> impl Strategy<Value = serde_json::Value> {
    prop::collection::btree_map(prop::sample::select(vec!["A", "b", "x", "y"]), json_value(), 0..4)
        .prop_map(|m| serde_json::Value::Object(m.into_iter().map(|(k, v)| (k.to_string(), v)).collect()))
}

/// Inputs a least-squares node accepts (A: m×n, b: m), so that the forward and
/// backward paths are reached, or anything at all.
fn ls_inputs() -> impl Strategy<Value = serde_json::Value> {
    let fitting = (1usize..5, 1usize..4).prop_flat_map(|(m, n)| {
        let a = prop::collection::vec(prop::collection::vec(json_number(), n), m);
        (a, prop::collection::vec(json_number(), m)).prop_map(|(a, b)| serde_json::json!({ "A": a, "b": b }))
    });
    prop_oneof![4 => fitting, 1 => json_object()]
}

/// Cotangents for `x`: vectors and matrices of a few entries, or anything at all.
fn ls_cotangents() -> impl Strategy<Value = serde_json::Value> {
    let vector = prop::collection::vec(json_number(), 1..4).prop_map(|v| serde_json::json!({ "x": v }));
    let matrix = (1usize..3, 1usize..3).prop_flat_map(|(r, c)| {
        prop::collection::vec(prop::collection::vec(json_number(), c), r).prop_map(|m| serde_json::json!({ "x": m }))
    });
    prop_oneof![3 => vector, 1 => matrix, 1 => json_object()]
}

/// A byte-level edit: set, insert or delete one byte at a position (modulo the length).
fn byte_edit() -> impl Strategy<Value = (u8, usize, u8)> {
    (0u8..3, any::<usize>(), prop::sample::select(b"0123456789 -.eE+\nLFQR#xX".to_vec()))
}

fn mutate(bytes: &[u8], edits: &[(u8, usize, u8)]) -> Vec<u8> {
    let mut v = bytes.to_vec();
    for &(kind, at, b) in edits {
        let at = if v.is_empty() { 0 } else { at % (v.len() + usize::from(kind == 1)) };
        match kind {
            0 if at < v.len() => v[at] = b,
            1 => v.insert(at, b),
            _ if at < v.len() => {
                v.remove(at);
            }
            _ => {}
        }
    }
    v
}

fn least_squares() -> &'static ddn::loaded::Module {
    static M: std::sync::OnceLock<ddn::loaded::Module> = std::sync::OnceLock::new();
    M.get_or_init(|| {
        let text = std::fs::read_to_string(root().join("stdlib/least_squares.ddn")).expect("stdlib");
        ddn::loaded::Module::load("least_squares.ddn", &text, ddn::loaded::Backend::Interpreter).expect("loads")
    })
}

const SMALL_CBF: &str = "VER\n3\nOBJSENSE\nMIN\nVAR\n3 2\nL+ 1\nQ 2\nCON\n2 2\nL= 1\nL+ 1\n\
OBJACOORD\n2\n0 1.5\n2 -1\nACOORD\n3\n0 0 1.0\n1 1 2.0\n1 2 3.0\nBCOORD\n1\n0 -1\n";

const SMALL_MPS: &str = "\
NAME          TINY
ROWS
 N  COST
 L  LIM1
 E  MYEQN
COLUMNS
    X 1       COST               1.0   LIM1               1.0
    Y         COST               2.0   LIM1               1.0
    Y         MYEQN             -1.0
RHS
    RHS       LIM1               4.0   MYEQN              7.0
BOUNDS
 UP BND       X 1                4.0
ENDATA
";

proptest! {
    #![proptest_config(config(128))]

    /// Arbitrary inputs and cotangents: either a clear error or a result whose
    /// gradients have the parameters' shapes and finite entries (the forward of a
    /// least-squares node is finite for finite data unless it overflows, which
    /// `ddnc run` reports as a numerical error; here only shapes are asserted).
    #[test]
    fn run_never_panics_on_arbitrary_json(inputs in ls_inputs(), cotangents in ls_cotangents()) {
        let node = least_squares().node("least_squares").expect("node");
        let (Ok(inputs), Ok(cot)) = (ddn::runtime::named_tensors(&inputs), ddn::runtime::named_tensors(&cotangents)) else {
            return Ok(());
        };
        let Ok(mut fwd) = node.forward(&inputs) else { return Ok(()) };
        if fwd.solved.status != ddn::runtime::Status::Optimal {
            return Ok(());
        }
        if let Ok(grads) = node.backward(&mut fwd, &cot) {
            for (name, g) in &grads {
                prop_assert_eq!(&g.shape, &inputs[name].shape, "dL/d{}", name);
            }
            for (name, c) in &cot {
                let out = fwd.solved.outputs.iter().find(|(k, _)| k == name);
                prop_assert_eq!(out.map(|(_, o)| &o.shape), Some(&c.shape), "cotangent {}", name);
            }
        }
    }

    #[test]
    fn cbf_reader_never_panics_on_mutated_files(edits in prop::collection::vec(byte_edit(), 1..6)) {
        if let Ok(model) = ddn::io::cbf::parse(&mutate(SMALL_CBF.as_bytes(), &edits)) {
            let (program, origins) = ddn::io::cbf::convert(&model);
            prop_assert_eq!(program.b.len(), origins.len());
        }
    }

    #[test]
    fn mps_reader_never_panics_on_mutated_files(edits in prop::collection::vec(byte_edit(), 1..6)) {
        if let Ok(model) = ddn::io::mps::parse(&mutate(SMALL_MPS.as_bytes(), &edits)) {
            let (program, origins) = ddn::io::mps::convert(&model);
            prop_assert_eq!(program.b.len(), origins.len());
        }
    }
}

/// The two seed files of the reader properties are valid, so mutations start
/// from something the readers accept.
#[test]
fn reader_property_seeds_parse() {
    let cbf = ddn::io::cbf::parse(SMALL_CBF.as_bytes()).expect("seed CBF");
    assert_eq!((cbf.n, cbf.m), (3, 2));
    let mps = ddn::io::mps::parse(SMALL_MPS.as_bytes()).expect("seed MPS");
    assert_eq!((mps.n(), mps.m()), (2, 2));
}
