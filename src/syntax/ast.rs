//! The spanned abstract syntax tree: what the user wrote, before any checking.
//!
//! Every node carries the [`Span`] of its source text so that later stages can
//! point at it. Nothing here is resolved: names are strings, shapes are unchecked.

use crate::diag::Span;

/// A name with where it was written.
#[derive(Clone, Debug, PartialEq)]
pub struct Ident {
    /// The name as written.
    pub name: String,
    /// Where it was written.
    pub span: Span,
}

/// A whole `.ddn` file: `def`s and `node`s in source order.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct File {
    /// The items, in source order.
    pub items: Vec<Item>,
}

/// A top-level item of a file.
#[derive(Clone, Debug, PartialEq)]
pub enum Item {
    /// `def name(args) = expr`.
    Def(Def),
    /// `node name(params) -> outputs { ... }`.
    Node(Node),
}

/// `def name(a, b) = expr`: an expression macro, inlined at each call.
#[derive(Clone, Debug, PartialEq)]
pub struct Def {
    /// The macro's name.
    pub name: Ident,
    /// Its parameter names, substituted by the call's arguments.
    pub params: Vec<Ident>,
    /// The expression the call is replaced by.
    pub body: Expr,
    /// The whole definition.
    pub span: Span,
}

/// `node name(params) -> outputs { body }`.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    /// The node's name.
    pub name: Ident,
    /// Its inputs, in declaration order (the order of the forward's arguments).
    pub params: Vec<Param>,
    /// Its outputs, in declaration order.
    pub outputs: Vec<Output>,
    /// Whether the outputs were written as a parenthesised tuple (kept for printing).
    pub tuple_outputs: bool,
    /// The statements of its body, in source order.
    pub body: Vec<Stmt>,
    /// The whole node.
    pub span: Span,
}

/// `name: TYPE`, a node input.
#[derive(Clone, Debug, PartialEq)]
pub struct Param {
    /// The parameter's name.
    pub name: Ident,
    /// Its declared type.
    pub ty: Type,
}

/// `BASE` or `BASE[d1]` or `BASE[d1, d2]`; the base is kept as written and
/// validated by the parser ([`BaseType::from_name`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Type {
    /// The element domain (`real`, `psd`, ...).
    pub base: BaseType,
    /// Where the base was written.
    pub base_span: Span,
    /// The dimensions, outermost first (none for a scalar).
    pub dims: Vec<DimExpr>,
    /// The whole type.
    pub span: Span,
}

/// The element domain of a type (language.md, "Declarations").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BaseType {
    /// `real`: any real number.
    Real,
    /// `nonneg`: entries ≥ 0.
    Nonneg,
    /// `pos`: entries > 0.
    Pos,
    /// `sym[n, n]`: a symmetric matrix.
    Sym,
    /// `psd[n, n]`: a symmetric positive semidefinite matrix.
    Psd,
}

impl BaseType {
    /// Every base type, in the contract's order.
    pub const ALL: [BaseType; 5] = [BaseType::Real, BaseType::Nonneg, BaseType::Pos, BaseType::Sym, BaseType::Psd];

    /// The base type spelled `name` in the language, if any.
    pub fn from_name(name: &str) -> Option<BaseType> {
        BaseType::ALL.into_iter().find(|b| b.name() == name)
    }

    /// The keyword that spells it.
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
    /// A literal size, e.g. `3`.
    Lit(u64, Span),
    /// A dimension name, e.g. `n`, bound by the first parameter that uses it.
    Name(Ident),
}

impl DimExpr {
    /// Where the dimension was written.
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
    /// `x: real[n]`: an optimisation variable the node returns.
    Var {
        /// The variable's name.
        name: Ident,
        /// Its declared type.
        ty: Type,
    },
    /// `dual c`: the multiplier of the constraint named `c`.
    Dual {
        /// The name of the constraint whose multiplier is returned.
        name: Ident,
        /// Where `dual name` was written.
        span: Span,
    },
}

/// Whether the objective is minimised or maximised.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Sense {
    /// `minimize`.
    Minimize,
    /// `maximize`.
    Maximize,
}

impl Sense {
    /// The keyword that spells it.
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
    /// `var t: real[n]`: an auxiliary variable, optimised but not returned.
    Var {
        /// The variable's name.
        name: Ident,
        /// Its declared type.
        ty: Type,
        /// The whole statement.
        span: Span,
    },
    /// `let a = expr`: a name for an expression, substituted where used.
    Let {
        /// The bound name.
        name: Ident,
        /// The expression it stands for.
        value: Expr,
        /// The whole statement.
        span: Span,
    },
    /// `minimize expr` or `maximize expr`.
    Objective {
        /// Minimised or maximised.
        sense: Sense,
        /// The objective, a scalar expression.
        expr: Expr,
        /// The whole statement.
        span: Span,
    },
    /// `subject to { ... }`: the constraints, in source order.
    SubjectTo {
        /// The constraints, in source order.
        constraints: Vec<Constraint>,
        /// The whole block.
        span: Span,
    },
    /// `solve using method(options)`: the forward method the file asks for.
    Solve {
        /// The method's name (`ipm`, `newton`, `sinkhorn`, ...).
        method: Ident,
        /// Its options (`tol = 1e-9`, ...), as written.
        options: Vec<KwArg>,
        /// The whole clause.
        span: Span,
    },
    /// `init x = expr`: a smooth solver's starting point for variable `x`.
    Init {
        /// The variable started.
        name: Ident,
        /// Its starting value.
        value: Expr,
        /// The whole statement.
        span: Span,
    },
}

impl Stmt {
    /// Where the statement was written.
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

/// A constraint's relation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum CmpOp {
    /// `<=`.
    #[serde(rename = "<=")]
    Le,
    /// `>=`.
    #[serde(rename = ">=")]
    Ge,
    /// `==`.
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
    /// The operator as written.
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
    /// The constraint's name (`name: lhs <= rhs`), which a `dual` output refers to.
    pub name: Option<Ident>,
    /// The left-hand side.
    pub lhs: Expr,
    /// The relation.
    pub op: CmpOp,
    /// The right-hand side.
    pub rhs: Expr,
    /// The whole constraint.
    pub span: Span,
}

/// `key = value` in a call or a `solve using` clause.
#[derive(Clone, Debug, PartialEq)]
pub struct KwArg {
    /// The keyword.
    pub name: Ident,
    /// Its value.
    pub value: Expr,
}

/// A binary operator of an expression.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinOp {
    /// `+`, elementwise with broadcasting.
    Add,
    /// `-`, elementwise with broadcasting.
    Sub,
    /// `*`, elementwise with broadcasting.
    Mul,
    /// `/`, elementwise with broadcasting.
    Div,
    /// `@`: matrix-matrix, matrix-vector or inner product.
    MatMul,
    /// `^`: elementwise power.
    Pow,
}

impl BinOp {
    /// The operator as written.
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

/// An expression with where it was written.
#[derive(Clone, Debug, PartialEq)]
pub struct Expr {
    /// What the expression is.
    pub kind: ExprKind,
    /// Where it was written.
    pub span: Span,
}

/// The kinds of expression of the language (language.md, "Expressions").
#[derive(Clone, Debug, PartialEq)]
pub enum ExprKind {
    /// A literal; `text` is the source spelling, kept so printing round-trips exactly.
    Number {
        /// The value.
        value: f64,
        /// The spelling in the source.
        text: String,
    },
    /// A parameter, variable, `let` or dimension name.
    Name(String),
    /// `-e`.
    Neg(Box<Expr>),
    /// `lhs op rhs`.
    Binary {
        /// The operator.
        op: BinOp,
        /// The left operand.
        lhs: Box<Expr>,
        /// The right operand.
        rhs: Box<Expr>,
    },
    /// `e.T`: the transpose.
    Transpose(Box<Expr>),
    /// `base[indices]`: elements or slices.
    Index {
        /// The indexed expression.
        base: Box<Expr>,
        /// One index or slice per axis indexed.
        indices: Vec<IndexArg>,
    },
    /// `func(args, key = value)`: an atom or a `def`.
    Call {
        /// The atom's or `def`'s name.
        func: Ident,
        /// The positional arguments.
        args: Vec<Expr>,
        /// The keyword arguments (`axis = 1`, ...).
        kwargs: Vec<KwArg>,
    },
}

/// One position inside `x[...]`.
#[derive(Clone, Debug, PartialEq)]
pub enum IndexArg {
    /// One position, e.g. `x[i]`.
    At(Expr),
    /// `start:end`, either end optional (the axis's start or end).
    Slice {
        /// The first position taken (the axis's start when left out).
        start: Option<Expr>,
        /// The position after the last taken (the axis's end when left out).
        end: Option<Expr>,
        /// Where the slice was written.
        span: Span,
    },
}

impl IndexArg {
    /// Where the index was written.
    pub fn span(&self) -> Span {
        match self {
            IndexArg::At(e) => e.span,
            IndexArg::Slice { span, .. } => *span,
        }
    }
}
