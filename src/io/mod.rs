//! Readers for standard problem formats (test sets and benchmarks).
