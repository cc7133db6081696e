//! The integration tests: one binary, modules by stage.
// Tests index matrices built as nested vectors; index loops read like the maths.
#![allow(clippy::needless_range_loop)]

mod suite;
