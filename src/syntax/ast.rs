//! The spanned abstract syntax tree: what the user wrote, before any checking.
//!
//! Every node carries the [`Span`] of its source text so that later stages can
//! point at it. Nothing here is resolved: names are strings, shapes are unchecked.

use crate::diag::Span;

/// A name with where it was written.
#[derive(Clone, Debug, PartialEq)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

/// A whole `.ddn` file: `def`s and `node`s in source order.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct File {
    pub items: Vec<Item>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Item {
    Def(Def),
    Node(Node),
}

/// `def name(a, b) = expr`: an expression macro, inlined at each call.
#[derive(Clone, Debug, PartialEq)]
pub struct Def {
    pub name: Ident,
    pub params: Vec<Ident>,
    pub body: Expr,
    pub span: Span,
}

/// `node name(params) -> outputs { body }`.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub name: Ident,
    pub params: Vec<Param>,
    pub outputs: Vec<Output>,
    /// Whether the outputs were written as a parenthesised tuple (kept for printing).
    pub tuple_outputs: bool,
    pub body: Vec<Stmt>,
    pub span: Span,
}

/// `name: TYPE`, a node input.
#[derive(Clone, Debug, PartialEq)]
pub struct Param {
    pub name: Ident,
    pub ty: Type,
}

/// `BASE` or `BASE[d1]` or `BASE[d1, d2]`; the base is kept as written and
/// validated by the parser ([`BaseType::from_name`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Type {
    pub base: BaseType,
    pub base_span: Span,
    pub dims: Vec<DimExpr>,
    pub span: Span,
}

/// The element domain of a type (language.md, "Declarations").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BaseType {
    Real,
    Nonneg,
    Pos,
    Sym,
    Psd,
}

impl BaseType {
    pub const ALL: [BaseType; 5] = [BaseType::Real, BaseType::Nonneg, BaseType::Pos, BaseType::Sym, BaseType::Psd];

    pub fn from_name(name: &str) -> Option<BaseType> {
        BaseType::ALL.into_iter().find(|b| b.name() == name)
    }

    pub fn name(self) -> &'static str {
        match self {
            BaseType::Real => "real",
            BaseType::Nonneg => "nonneg",
            BaseType::Pos => "pos",
            BaseType::Sym => "sym",
            BaseType::Psd => "psd",
        }
    }
}

/// One dimension of a type: a literal size or a dimension name.
#[derive(Clone, Debug, PartialEq)]
pub enum DimExpr {
    Lit(u64, Span),
    Name(Ident),
}

impl DimExpr {
    pub fn span(&self) -> Span {
        match self {
            DimExpr::Lit(_, s) => *s,
            DimExpr::Name(i) => i.span,
        }
    }
}

/// A node output: an optimisation variable, or the multiplier of a named constraint.
#[derive(Clone, Debug, PartialEq)]
pub enum Output {
    Var { name: Ident, ty: Type },
    Dual { name: Ident, span: Span },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Sense {
    Minimize,
    Maximize,
}

impl Sense {
    pub fn keyword(self) -> &'static str {
        match self {
            Sense::Minimize => "minimize",
            Sense::Maximize => "maximize",
        }
    }
}

/// A statement of a node body.
#[derive(Clone, Debug, PartialEq)]
pub enum Stmt {
    Var { name: Ident, ty: Type, span: Span },
    Let { name: Ident, value: Expr, span: Span },
    Objective { sense: Sense, expr: Expr, span: Span },
    SubjectTo { constraints: Vec<Constraint>, span: Span },
    Solve { method: Ident, options: Vec<KwArg>, span: Span },
    Init { name: Ident, value: Expr, span: Span },
}

impl Stmt {
    pub fn span(&self) -> Span {
        match self {
            Stmt::Var { span, .. }
            | Stmt::Let { span, .. }
            | Stmt::Objective { span, .. }
            | Stmt::SubjectTo { span, .. }
            | Stmt::Solve { span, .. }
            | Stmt::Init { span, .. } => *span,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum CmpOp {
    #[serde(rename = "<=")]
    Le,
    #[serde(rename = ">=")]
    Ge,
    #[serde(rename = "==")]
    Eq,
    /// `A >> B`: `A − B` positive semidefinite (its symmetric part).
    #[serde(rename = ">>")]
    PsdGe,
    /// `A << B`: `B − A` positive semidefinite (its symmetric part).
    #[serde(rename = "<<")]
    PsdLe,
}

impl CmpOp {
    pub fn symbol(self) -> &'static str {
        match self {
            CmpOp::Le => "<=",
            CmpOp::Ge => ">=",
            CmpOp::Eq => "==",
            CmpOp::PsdGe => ">>",
            CmpOp::PsdLe => "<<",
        }
    }

    /// A semidefinite constraint (`>>`, `<<`).
    pub fn is_psd(self) -> bool {
        matches!(self, CmpOp::PsdGe | CmpOp::PsdLe)
    }
}

/// `[name:] lhs OP rhs`.
#[derive(Clone, Debug, PartialEq)]
pub struct Constraint {
    pub name: Option<Ident>,
    pub lhs: Expr,
    pub op: CmpOp,
    pub rhs: Expr,
    pub span: Span,
}

/// `key = value` in a call or a `solve using` clause.
#[derive(Clone, Debug, PartialEq)]
pub struct KwArg {
    pub name: Ident,
    pub value: Expr,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    MatMul,
    Pow,
}

impl BinOp {
    pub fn symbol(self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::MatMul => "@",
            BinOp::Pow => "^",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ExprKind {
    /// A literal; `text` is the source spelling, kept so printing round-trips exactly.
    Number {
        value: f64,
        text: String,
    },
    Name(String),
    Neg(Box<Expr>),
    Binary {
        op: BinOp,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
    },
    Transpose(Box<Expr>),
    Index {
        base: Box<Expr>,
        indices: Vec<IndexArg>,
    },
    Call {
        func: Ident,
        args: Vec<Expr>,
        kwargs: Vec<KwArg>,
    },
}

/// One position inside `x[...]`.
#[derive(Clone, Debug, PartialEq)]
pub enum IndexArg {
    At(Expr),
    Slice { start: Option<Expr>, end: Option<Expr>, span: Span },
}

impl IndexArg {
    pub fn span(&self) -> Span {
        match self {
            IndexArg::At(e) => e.span,
            IndexArg::Slice { span, .. } => *span,
        }
    }
}
