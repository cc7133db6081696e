//! Test modules and shared helpers.

mod backward;
mod canon;
mod cli;
mod contract;
mod datasets;
mod ipm;
mod properties;
pub mod reference;
mod run;
mod runtime;
mod stdlib;
mod syntax;
mod testsets;
mod ui;
mod vjp;

use std::path::{Path, PathBuf};

/// The crate root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `shared/` beside the checkout (the design docs and data sets live there).
pub fn shared() -> PathBuf {
    root().join("..").join("shared")
}

/// The `.ddn` files of a folder, sorted.
pub fn ddn_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "ddn"))
        .collect();
    v.sort();
    v
}

/// Compiles a file from disk under its file name.
pub fn compile_path(path: &Path) -> ddn::Compiled {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    ddn::compile(&name, &text)
}

/// The rendered diagnostics of a compilation, without colour.
pub fn rendered(c: &ddn::Compiled) -> String {
    ddn::report::diagnostics_text(c, ddn::diag::Color::Never)
}
