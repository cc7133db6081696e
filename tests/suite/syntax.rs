//! Parser facts users rely on: precedence, layout, round trips.

use ddn::diag::FileId;
use ddn::syntax::printer::{print_expr, print_file, Style};
use ddn::syntax::{parse, parse_expr};

fn explicit(src: &str) -> String {
    let e = parse_expr(src, FileId(0)).unwrap_or_else(|d| panic!("{src}: {:?}", d[0].message));
    print_expr(&e, Style::Explicit)
}

#[test]
fn precedence() {
    // `^` binds tighter than unary minus: the contract's welsch penalty.
    assert_eq!(explicit("-z^2"), "(-(z^2))");
    assert_eq!(explicit("(-z)^2"), "((-z)^2)");
    assert_eq!(explicit("2^-1"), "(2^(-1))");
    assert_eq!(explicit("a^b^c"), "(a^(b^c))");
    // `*` binds tighter than `@`, which binds tighter than `+`.
    assert_eq!(explicit("2 * A @ x"), "((2 * A) @ x)");
    assert_eq!(explicit("A @ x - b"), "((A @ x) - b)");
    assert_eq!(explicit("u @ X @ u"), "((u @ X) @ u)");
    assert_eq!(explicit("a - b - c"), "((a - b) - c)");
    assert_eq!(explicit("-a * b"), "((-a) * b)");
    assert_eq!(explicit("A.T @ x[0:2]"), "(A.T @ x[0:2])");
    assert_eq!(explicit("f(x, axis = 1)"), "f(x, axis = 1)");
}

#[test]
fn statements_split_on_newlines_but_not_inside_brackets_or_after_operators() {
    let src = "node f(A: real[m, n],\n       b: real[m]) -> x: real[n] {\n    minimize sum_squares(A @ x -\n        b) +\n        norm1(x)  # comment (with a paren\n    subject to { x >= 0; sum(x) == 1 }\n}\n";
    let f = parse(src, FileId(0)).unwrap_or_else(|d| panic!("{}", d[0].message));
    let printed = print_file(&f, Style::Pretty);
    assert!(printed.contains("minimize sum_squares(A @ x - b) + norm1(x)"), "{printed}");
    assert!(printed.contains("        x >= 0\n        sum(x) == 1\n"), "{printed}");
}

#[test]
fn a_leading_minus_on_a_new_line_is_a_new_constraint() {
    let src =
        "node f(a: real) -> x: real {\n    minimize x\n    subject to {\n        x <= a\n        -x <= 1\n    }\n}\n";
    let f = parse(src, FileId(0)).unwrap_or_else(|d| panic!("{}", d[0].message));
    assert!(print_file(&f, Style::Pretty).contains("        x <= a\n        -x <= 1\n"));
}
