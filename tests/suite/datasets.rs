//! The shared test sets (placeholder until the readers land).
