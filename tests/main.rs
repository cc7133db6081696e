//! The integration tests: one binary, modules by stage.
mod suite;
