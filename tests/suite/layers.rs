//! The crate's layers (ARCHITECTURE.md, "Layers"): every `crate::m` path in a
//! module's non-test code names a module of a strictly lower layer. The test reads
//! the sources, so a new upward edge fails here, naming the file and line.
//! There are no exceptions.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Each top-level module's layer, lowest first (a module may use only lower ones).
const LAYERS: &[(&str, u32)] = &[
    ("diag", 0),
    ("status", 0),
    ("shape", 0),
    ("limits", 0),
    ("linalg", 0),
    ("syntax", 1),
    ("smooth", 1),
    ("solve", 2),
    ("io", 3),
    ("atoms", 3),
    ("ir", 4),
    ("eval", 5),
    ("symbolic", 6),
    ("kernel", 7),
    ("dcp", 7),
    ("analysis", 8),
    ("jit", 8),
    ("sema", 8),
    ("canon", 8),
    ("driver", 9),
    ("runtime", 10),
    ("diff", 11),
    ("report", 12),
    ("loaded", 12),
    ("codegen", 13),
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("src is readable").flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level modules named by `crate::` paths on one line of code.
fn crate_paths(code: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').expect("a `use crate::{…}` group closes on its line (the scan reads lines)");
            for item in group[..end].split(',') {
                names.push(item.trim().split("::").next().unwrap_or("").to_string());
            }
        } else {
            names.push(rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect());
        }
    }
    names
}

/// Every (from, to) edge between top-level modules, with its first location.
fn edges() -> BTreeMap<(String, String), String> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut edges = BTreeMap::new();
    for file in files {
        let rel = file.strip_prefix(&src).expect("under src").to_string_lossy().replace('\\', "/");
        let module = rel.split('/').next().unwrap_or("").trim_end_matches(".rs").to_string();
        if module == "bin" || module == "lib" {
            continue; // the crate root and the binaries sit above every layer
        }
        let text = std::fs::read_to_string(&file).expect("a readable source file");
        for (i, line) in text.lines().enumerate() {
            let trimmed = line.trim_start();
            if trimmed.starts_with("#[cfg(test)]") {
                break; // unit tests sit at the end of a file and may use anything
            }
            if trimmed.starts_with("//") {
                continue;
            }
            let code = line.split("//").next().unwrap_or("");
            for to in crate_paths(code) {
                if to != module {
                    edges.entry((module.clone(), to)).or_insert_with(|| format!("src/{rel}:{}", i + 1));
                }
            }
        }
    }
    edges
}

#[test]
fn no_module_uses_a_higher_layer() {
    let layer: BTreeMap<&str, u32> = LAYERS.iter().copied().collect();
    let mut problems = Vec::new();
    let edges = edges();
    for ((from, to), at) in &edges {
        let (Some(&lf), Some(&lt)) = (layer.get(from.as_str()), layer.get(to.as_str())) else {
            continue; // `crate::compile`, `crate::faer`: the root's re-exports (every module's layer is checked below)
        };
        if lt >= lf {
            problems.push(format!("{at}: `{from}` (layer {lf}) uses `{to}` (layer {lt})"));
        }
    }
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    for entry in std::fs::read_dir(&src).expect("src is readable").flatten() {
        let name = entry.file_name().to_string_lossy().trim_end_matches(".rs").to_string();
        if !["bin", "lib"].contains(&name.as_str()) && !layer.contains_key(name.as_str()) {
            problems.push(format!("src/{name}: a module with no layer in LAYERS"));
        }
    }
    assert!(!edges.is_empty(), "the scan found no `crate::` paths at all");
    assert!(problems.is_empty(), "layering:\n{}", problems.join("\n"));
}

#[test]
fn the_scan_reads_paths_and_groups() {
    assert_eq!(crate_paths("use crate::ir::{Node, Shape};"), ["ir"]);
    assert_eq!(crate_paths("use crate::{diag::Span, eval::Tensor};"), ["diag", "eval"]);
    assert_eq!(crate_paths("let x = crate::solve::ipm::solve(crate::canon::f());"), ["solve", "canon"]);
}
