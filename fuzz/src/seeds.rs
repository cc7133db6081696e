//! The targets' starting inputs: what the repository already has (stdlib and
//! `tests/ui` files, the stdlib nodes' example inputs, the shared test sets'
//! smallest files read from `../shared/data`), the corpus AFL++ kept, and the
//! crashes it found. The smoke test mutates them; `fuzz_seeds DIR` writes
//! them as AFL++'s input folders.

use std::path::{Path, PathBuf};

use ddn::diag::FileId;
use ddn::syntax::ast::Item;
use serde_json::{json, Value};

use crate::targets;

/// The repository's root.
fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The files of a folder with extension `ext` (any when `None`), sorted; none
/// when the folder does not exist.
fn files(dir: &Path, ext: Option<&str>) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> =
        std::fs::read_dir(dir).map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect()).unwrap_or_default();
    v.retain(|p| p.is_file() && ext.is_none_or(|x| p.extension().is_some_and(|e| e == x)));
    v.sort();
    v
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

fn read_all(paths: &[PathBuf]) -> Result<Vec<Vec<u8>>, String> {
    paths.iter().map(|p| read(p)).collect()
}

/// The inputs AFL++ kept for `target` (`fuzz/corpus/<target>/`) and the
/// crashes it found (`fuzz/crashes/<target>/`, each fixed since).
fn kept(target: &str) -> Result<Vec<Vec<u8>>, String> {
    let dir = root().join("fuzz");
    let mut v = read_all(&files(&dir.join("corpus").join(target), None))?;
    v.extend(read_all(&files(&dir.join("crashes").join(target), None))?);
    Ok(v)
}

/// [`crate::check`]: every `.ddn` file of the repository's stdlib, UI tests
/// and example crate, and each stdlib node on its own ([`stdlib_nodes`]).
pub fn check() -> Result<Vec<Vec<u8>>, String> {
    let mut seeds = kept("check")?;
    for dir in ["stdlib", "tests/ui", "examples/build-script"] {
        seeds.extend(read_all(&files(&root().join(dir), Some("ddn")))?);
    }
    seeds.extend(stdlib_nodes()?.into_iter().map(String::into_bytes));
    Ok(seeds)
}

/// Each node of each stdlib file as a file of its own: the file's `def`s, then
/// the node. A whole stdlib file costs AFL++ up to a third of a second an
/// execution (every smooth node's derivation); one node costs milliseconds,
/// and the nodes together cover what the whole files do.
pub fn stdlib_nodes() -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for path in files(&root().join("stdlib"), Some("ddn")) {
        let text = String::from_utf8(read(&path)?).map_err(|e| format!("{}: {e}", path.display()))?;
        let file = ddn::syntax::parse(&text, FileId(0)).map_err(|_| format!("{}: does not parse", path.display()))?;
        let (mut defs, mut nodes) = (String::new(), Vec::new());
        for item in &file.items {
            match item {
                Item::Def(d) => defs += &format!("{}\n", &text[d.span.range()]),
                Item::Node(n) => nodes.push(&text[n.span.range()]),
            }
        }
        out.extend(nodes.into_iter().map(|node| format!("{defs}{node}\n")));
    }
    Ok(out)
}

/// [`crate::run`]: a valid call of every stdlib node that has inputs in the
/// repository (tests/generated/prepare, examples/inputs), with cotangents of
/// ones shaped like its outputs, on both back ends.
pub fn run() -> Result<Vec<Vec<u8>>, String> {
    let all = targets();
    let mut seeds = kept("run")?;
    let mut inputs = files(&root().join("tests/generated/prepare"), Some("json"));
    inputs.extend(files(&root().join("examples/inputs"), Some("json")));
    for path in inputs {
        let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        let name = match stem.as_str() {
            "pooling" => "pool_pseudo_huber",
            s if s.ends_with("_cotangents") => continue,
            s => s,
        };
        let Some(pick) = all.iter().position(|t| t.name == name) else { continue };
        let values: Value = serde_json::from_slice(&read(&path)?).map_err(|e| format!("{}: {e}", path.display()))?;
        let parsed = ddn::runtime::named_tensors(&values).map_err(|e| e.to_string())?;
        let forward = all[pick].interpreted.forward(&parsed).map_err(|e| format!("{name}: {e}"))?;
        let cotangents: serde_json::Map<String, Value> = forward
            .solved
            .outputs
            .iter()
            .map(|(k, t)| {
                let ones = ddn::eval::Tensor { shape: t.shape.clone(), data: vec![1.0; t.data.len()] };
                (k.clone(), ddn::runtime::tensor_to_json(&ones))
            })
            .collect();
        let body = serde_json::to_vec(&json!({ "inputs": values, "cotangents": cotangents }))
            .map_err(|e| format!("{name}: {e}"))?;
        let pick = u8::try_from(pick).map_err(|_| "more than 256 stdlib nodes".to_string())?;
        for backend in [0u8, 1] {
            seeds.push([vec![pick, backend], body.clone()].concat());
        }
    }
    Ok(seeds)
}

/// [`crate::readers`]: the shared test sets' files of at most 4 KiB.
pub fn readers() -> Result<Vec<Vec<u8>>, String> {
    let data = root().join("..").join("shared").join("data");
    let mut seeds = kept("readers")?;
    for (dir, ext, kind) in [("maros_meszaros", "qps", 0u8), ("netlib_lp", "mps", 0), ("cblib_socp", "cbf", 1)] {
        for bytes in read_all(&files(&data.join(dir), Some(ext)))? {
            if bytes.len() <= 4096 {
                seeds.push([vec![kind], bytes].concat());
            }
        }
    }
    Ok(seeds)
}
