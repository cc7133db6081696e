//! Interior point method tests (placeholder until the solver lands).
