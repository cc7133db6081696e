//! Budgets that keep hostile input from exhausting time or memory.
//!
//! Each budget is checked with overflow-safe arithmetic *before* the work or
//! allocation it bounds, and a refusal is an error that names the budget and
//! the environment variable that raises it. The defaults are far above what
//! the standard library's nodes need and far below what would exhaust a
//! machine; they are read once per process from the environment:
//!
//! | budget | default | raised by |
//! |---|---|---|
//! | [`Limits::expr_nodes`] | 1 000 000 | `DDN_MAX_EXPR_NODES` |
//! | [`Limits::elements`] | 100 000 000 | `DDN_MAX_ELEMENTS` |
//! | [`Limits::dense_entries`] | 100 000 000 | `DDN_MAX_DENSE_ENTRIES` |

use std::sync::OnceLock;

/// The budgets; see the module docs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Expression nodes in one node's checked IR, counted as `let`s and `def`s
    /// are substituted (each use copies the whole expression, so thirty lines
    /// of `let a2 = a1 + a1` would be 2³⁰ nodes). Default 1 000 000.
    pub expr_nodes: u64,
    /// Entries of any one value: a size literal (`ones(1e19)`), a shape with
    /// literal sizes (checked at compile time), and every declared or
    /// intermediate shape once the inputs bind the dimension names (checked
    /// when inputs are bound). Default 10⁸ (800 MB of `f64`).
    pub elements: u64,
    /// Entries of a dense matrix a solver would build and factor, checked when
    /// inputs are bound: `(n + m)²` for the Hessian / KKT matrix of a smooth
    /// node (n unknowns, m constraint entries) and of a conic node solved
    /// directly (an equality QP), `rows·n` for a least-squares node's QR.
    /// Default 10⁸ (800 MB of `f64`).
    pub dense_entries: u64,
}

/// One budget: its value, and the variable that sets it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Budget {
    /// [`Limits::expr_nodes`].
    ExprNodes,
    /// [`Limits::elements`].
    Elements,
    /// [`Limits::dense_entries`].
    DenseEntries,
}

impl Budget {
    /// Every budget, in the module table's order.
    pub const ALL: [Budget; 3] = [Budget::ExprNodes, Budget::Elements, Budget::DenseEntries];

    /// The environment variable that raises it.
    pub fn var(self) -> &'static str {
        match self {
            Budget::ExprNodes => "DDN_MAX_EXPR_NODES",
            Budget::Elements => "DDN_MAX_ELEMENTS",
            Budget::DenseEntries => "DDN_MAX_DENSE_ENTRIES",
        }
    }

    /// What it counts, for messages.
    pub fn what(self) -> &'static str {
        match self {
            Budget::ExprNodes => "expression-node budget",
            Budget::Elements => "element budget",
            Budget::DenseEntries => "dense-matrix budget",
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits { expr_nodes: 1_000_000, elements: 100_000_000, dense_entries: 100_000_000 }
    }
}

/// A budget that is malformed or exceeded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    /// A budget's environment variable that is not a positive integer.
    #[error("{var} must be a positive integer (the {what}), found `{found}`")]
    Malformed {
        /// The variable, e.g. `DDN_MAX_ELEMENTS`.
        var: &'static str,
        /// The budget it sets, in words.
        what: &'static str,
        /// The value found.
        found: String,
    },
    /// A count over its budget.
    #[error("{what}, more than {budget}")]
    Over {
        /// The counted thing and its count, e.g. "`ones(…)` has 10¹⁹ entries".
        what: String,
        /// The budget in words ([`Limits::describe`]).
        budget: String,
    },
}

impl Limits {
    /// The value of budget `b`.
    pub fn get(&self, b: Budget) -> u64 {
        match b {
            Budget::ExprNodes => self.expr_nodes,
            Budget::Elements => self.elements,
            Budget::DenseEntries => self.dense_entries,
        }
    }

    /// The defaults, with each budget whose variable is set replaced by its
    /// value (a positive integer; anything else is an error naming it).
    pub fn from_env() -> Result<Limits, LimitError> {
        let mut limits = Limits::default();
        for b in Budget::ALL {
            let Ok(text) = std::env::var(b.var()) else { continue };
            let value = text.trim().parse::<u64>().ok().filter(|&v| v > 0).ok_or_else(|| LimitError::Malformed {
                var: b.var(),
                what: b.what(),
                found: text.clone(),
            })?;
            match b {
                Budget::ExprNodes => limits.expr_nodes = value,
                Budget::Elements => limits.elements = value,
                Budget::DenseEntries => limits.dense_entries = value,
            }
        }
        Ok(limits)
    }

    /// The process's budgets: [`Limits::from_env`] on first use, the defaults
    /// when a variable is malformed (`ddnc` reports that before any work).
    pub fn current() -> &'static Limits {
        static LIMITS: OnceLock<Limits> = OnceLock::new();
        LIMITS.get_or_init(|| Limits::from_env().unwrap_or_default())
    }

    /// "the element budget (100000000; set DDN_MAX_ELEMENTS to raise it)".
    pub fn describe(&self, b: Budget) -> String {
        format!("the {} ({}; set {} to raise it)", b.what(), self.get(b), b.var())
    }

    /// An error when `count` (None: it overflowed) is over budget `b`;
    /// `what` names the counted thing, e.g. "`ones(…)` has 10¹⁹ entries".
    pub fn check(&self, b: Budget, count: Option<u64>, what: impl FnOnce() -> String) -> Result<(), LimitError> {
        match count {
            Some(c) if c <= self.get(b) => Ok(()),
            _ => Err(LimitError::Over { what: what(), budget: self.describe(b) }),
        }
    }
}

/// `count` as words: the exact number, or "more than 2⁶⁴" when it overflowed.
pub fn count_words(count: Option<u64>) -> String {
    count.map_or("more than 2^64".to_string(), |c| c.to_string())
}
