//! Surface syntax: text → spanned [`ast`], and back ([`printer`]).

pub mod ast;
mod layout;
mod parser;
pub mod printer;

pub use parser::{parse, parse_expr};
