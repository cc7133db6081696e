//! `shared/data/reference_optima.csv`: one row per problem of the shared test sets.
//! Shared by the dataset tests and `examples/maros_meszaros.rs` (included there
//! with `#[path]`), so it depends on nothing but std.

use std::path::PathBuf;
use std::sync::OnceLock;

/// The shared data folder, `../shared/data` beside the checkout.
pub fn data() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join("shared").join("data")
}

/// One row of `reference_optima.csv` (the columns used here).
#[derive(Debug)]
pub struct Reference {
    pub set: String,
    pub problem: String,
    pub file: String,
    pub n: usize,
    pub m: usize,
    pub nnz_a: usize,
    pub nnz_q_lower: usize,
    pub obj_constant: f64,
    pub recommended_obj: f64,
    pub recommended_rtol: f64,
}

/// RFC 4180 records (quoted fields may hold commas, doubled quotes and newlines).
fn csv_records(text: &str) -> Vec<Vec<String>> {
    let mut records = Vec::new();
    let (mut record, mut field) = (Vec::new(), String::new());
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => record.push(std::mem::take(&mut field)),
            (false, '\r') => {}
            (false, '\n') => {
                record.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut record));
            }
            (false, c) => field.push(c),
        }
    }
    if !field.is_empty() || !record.is_empty() {
        record.push(field);
        records.push(record);
    }
    records
}

/// The rows whose problem is shipped (non-empty `file`).
pub fn references() -> &'static [Reference] {
    static REFS: OnceLock<Vec<Reference>> = OnceLock::new();
    REFS.get_or_init(|| {
        let path = data().join("reference_optima.csv");
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        let mut records = csv_records(&text).into_iter();
        let header = records.next().expect("a header");
        let col = |name: &str| header.iter().position(|h| h == name).unwrap_or_else(|| panic!("no column {name}"));
        let c = [
            "set",
            "problem",
            "file",
            "n",
            "m",
            "nnz_A",
            "nnz_Q_lower",
            "obj_constant",
            "recommended_obj",
            "recommended_rtol",
        ]
        .map(col);
        records
            .filter(|r| !r[c[2]].is_empty())
            .map(|r| {
                assert_eq!(r.len(), header.len(), "a CSV record with the wrong number of fields: {r:?}");
                let int = |k: usize| r[c[k]].parse::<usize>().unwrap_or_else(|_| panic!("bad integer in {r:?}"));
                let num = |k: usize| r[c[k]].parse::<f64>().unwrap_or_else(|_| panic!("bad number in {r:?}"));
                Reference {
                    set: r[c[0]].clone(),
                    problem: r[c[1]].clone(),
                    file: r[c[2]].clone(),
                    n: int(3),
                    m: int(4),
                    nnz_a: int(5),
                    nnz_q_lower: int(6),
                    obj_constant: num(7),
                    recommended_obj: num(8),
                    recommended_rtol: num(9),
                }
            })
            .collect()
    })
}

impl Reference {
    /// The test of the shared README: |f − f*| ≤ rtol · max(1, |f*|).
    pub fn accepts(&self, objective: f64) -> bool {
        (objective - self.recommended_obj).abs() <= self.recommended_rtol * self.recommended_obj.abs().max(1.0)
    }
}
