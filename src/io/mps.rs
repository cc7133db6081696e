//! Fixed-column MPS and QPS (MPS with a `QUADOBJ` section).
//!
//! ```text
//! minimize    c0 + cᵀx + ½ xᵀQx
//! subject to  lo_i ≤ a_i·x ≤ hi_i   for each row i (E, L, G; N rows are free)
//!             l ≤ x ≤ u             (default [0, +∞))
//! ```
//!
//! Fields are read by column position (1-based columns 2–3, 5–12, 15–22, 25–36,
//! 40–47, 50–61), so names may contain blanks (`FORPLAN`) or be purely numeric
//! (`DPKLO1`). Any other non-blank character on a data line is an error, which
//! catches free-format files instead of misreading them.
//!
//! Conventions, as in the usual readers:
//! - the first `N` row is the objective; later `N` rows are free rows (kept in the
//!   model, dropped by the conversion); an RHS value `v` on the objective row
//!   means the constant `c0 = −v`;
//! - RANGES: with RHS `b` and range `R`, `E` rows get `[b, b+|R|]` if `R > 0`,
//!   `[b−|R|, b]` if `R < 0`; `L` rows `[b−|R|, b]`; `G` rows `[b, b+|R|]`;
//! - `QUADOBJ` lists each off-diagonal entry once, standing for both `Q[i,j]` and
//!   `Q[j,i]`; an entry listed twice is summed;
//! - bounds: `UP LO FX FR MI PL`; an `UP` bound below zero on a variable whose lower
//!   bound was not set makes the lower bound −∞; values with magnitude ≥ 1e30
//!   are infinite; integer bound types and `MARKER` lines are rejected;
//! - one RHS, RANGES and BOUNDS set each (a blank set name is a name); a second
//!   set is an error rather than silently ignored;
//! - `OBJSENSE` (`MIN`/`MAX`, on the same or the next line) is accepted.
//!
//! Coefficients are kept exactly as written, however small.

use std::collections::HashMap;

use super::{ReadError, Sense};
use crate::solve::{ConeBlock, ConeProgram, Triplets};

/// The sense of a row as written in ROWS.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RowKind {
    /// `E`: `a·x = b` (or a range).
    Equal,
    /// `L`: `a·x ≤ b`.
    Less,
    /// `G`: `a·x ≥ b`.
    Greater,
    /// `N` other than the objective: no constraint.
    Free,
}

/// An MPS/QPS file as written: names, rows, matrix, RHS, ranges, bounds and
/// quadratic objective (the objective row itself is not among `rows`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MpsModel {
    /// The NAME card.
    pub name: String,
    /// The objective (first `N`) row; `None` for a pure feasibility problem.
    pub objective_name: Option<String>,
    /// `OBJSENSE` (minimise when absent).
    pub sense: Sense,
    /// Constraint rows, in ROWS order (the objective excluded).
    pub row_names: Vec<String>,
    /// Each row's kind (`E`, `L`, `G`, `N`), in the same order.
    pub row_kinds: Vec<RowKind>,
    /// Columns in order of first appearance in COLUMNS.
    pub col_names: Vec<String>,
    /// Objective coefficients, one per column.
    pub c: Vec<f64>,
    /// The constraint matrix as stored: `(row, column, value)`, file order.
    pub entries: Vec<(usize, usize, f64)>,
    /// Right-hand sides, one per row (default 0).
    pub rhs: Vec<f64>,
    /// RANGES values, one per row.
    pub ranges: Vec<Option<f64>>,
    /// Variable lower bounds, one per column (default 0; `−∞` when free).
    pub lower: Vec<f64>,
    /// Variable upper bounds, one per column (default `+∞`).
    pub upper: Vec<f64>,
    /// `QUADOBJ` entries as written, `(column i, column j, value)`: each
    /// off-diagonal one stands for both `Q[i,j]` and `Q[j,i]`.
    pub quad: Vec<(usize, usize, f64)>,
    /// Objective constant (minus the RHS of the objective row).
    pub c0: f64,
}

impl MpsModel {
    /// Number of columns (variables).
    pub fn n(&self) -> usize {
        self.col_names.len()
    }

    /// Number of rows, the objective excluded.
    pub fn m(&self) -> usize {
        self.row_names.len()
    }

    /// The interval `[lo, hi]` that row `i`'s activity `a_i·x` must lie in, from
    /// its kind, RHS and range (see the module docs); `(−∞, ∞)` for a free row.
    pub fn row_bounds(&self, i: usize) -> (f64, f64) {
        let b = self.rhs[i];
        let inf = f64::INFINITY;
        match (self.row_kinds[i], self.ranges[i]) {
            (RowKind::Free, _) => (-inf, inf),
            (RowKind::Equal, None) => (b, b),
            (RowKind::Equal, Some(r)) if r >= 0.0 => (b, b + r),
            (RowKind::Equal, Some(r)) => (b + r, b),
            (RowKind::Less, None) => (-inf, b),
            (RowKind::Less, Some(r)) => (b - r.abs(), b),
            (RowKind::Greater, None) => (b, inf),
            (RowKind::Greater, Some(r)) => (b, b + r.abs()),
        }
    }
}

/// What a row of the converted [`ConeProgram`] stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RowOrigin {
    /// The model row or column bound it comes from.
    pub source: Source,
    /// Which side of that row's or bound's interval it enforces.
    pub side: Side,
}

/// A model row or a column's bound.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Source {
    /// Index into `MpsModel::row_names`.
    Row(usize),
    /// Index into `MpsModel::col_names`.
    Column(usize),
}

/// Which side of the interval `[lo, hi]` the cone-program row enforces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Side {
    /// Zero cone: `a·x + s = lo = hi`.
    Equal,
    /// Nonnegative: `a·x + s = hi`.
    Upper,
    /// Nonnegative: `−a·x + s = −lo`.
    Lower,
}

/// The conversion to `min ½xᵀPx + qᵀx + c0 s.t. Ax + s = b, s ∈ K` (see [`convert`]).
pub fn to_cone_program(model: &MpsModel) -> ConeProgram {
    convert(model).0
}

/// Converts to the conic standard form, with one [`RowOrigin`] per row.
///
/// Rows with `lo = hi` (equality rows, ranges of width 0) and fixed columns form
/// the Zero block, first; then one Nonneg block: for each row its upper side
/// `a·x ≤ hi` (row `a`, `b = hi`) and lower side `a·x ≥ lo` (row `−a`,
/// `b = −lo`), then the same for each column's bounds with `a = eⱼ`. Infinite
/// sides and free rows give no row. `P` is the upper triangle of `Q`; a
/// maximisation is negated (`P = −Q`, `q = −c`, `c0 → −c0`).
pub fn convert(model: &MpsModel) -> (ConeProgram, Vec<RowOrigin>) {
    let (n, m) = (model.n(), model.m());
    let mut by_row: Vec<Vec<(usize, f64)>> = vec![Vec::new(); m];
    for &(i, j, v) in &model.entries {
        by_row[i].push((j, v));
    }

    // Planned rows: (origin, sign of a, b).
    let mut zero: Vec<(RowOrigin, f64)> = Vec::new();
    let mut nonneg: Vec<(RowOrigin, f64, f64)> = Vec::new();
    let mut plan = |source: Source, lo: f64, hi: f64| {
        if lo == hi {
            zero.push((RowOrigin { source, side: Side::Equal }, hi));
            return;
        }
        if hi < f64::INFINITY {
            nonneg.push((RowOrigin { source, side: Side::Upper }, 1.0, hi));
        }
        if lo > f64::NEG_INFINITY {
            nonneg.push((RowOrigin { source, side: Side::Lower }, -1.0, -lo));
        }
    };
    for i in 0..m {
        let (lo, hi) = model.row_bounds(i);
        plan(Source::Row(i), lo, hi);
    }
    for j in 0..n {
        plan(Source::Column(j), model.lower[j], model.upper[j]);
    }

    let rows = zero.len() + nonneg.len();
    let mut a = Triplets::new(rows, n);
    let mut b = Vec::with_capacity(rows);
    let mut origins = Vec::with_capacity(rows);
    let planned = zero.iter().map(|&(o, v)| (o, 1.0, v)).chain(nonneg.iter().copied());
    for (r, (origin, sign, value)) in planned.enumerate() {
        match origin.source {
            Source::Row(i) => a.entries.extend(by_row[i].iter().map(|&(j, v)| (r, j, sign * v))),
            Source::Column(j) => a.push(r, j, sign),
        }
        b.push(value);
        origins.push(origin);
    }
    let mut cones = Vec::new();
    if !zero.is_empty() {
        cones.push(ConeBlock::Zero(zero.len()));
    }
    if !nonneg.is_empty() {
        cones.push(ConeBlock::Nonneg(nonneg.len()));
    }

    let sign = if model.sense == Sense::Maximize { -1.0 } else { 1.0 };
    let mut p = Triplets::new(n, n);
    p.entries = model.quad.iter().map(|&(i, j, v)| (i.min(j), i.max(j), sign * v)).collect();
    let q = model.c.iter().map(|&v| sign * v).collect();
    (ConeProgram { p, q, a, b, cones, c0: sign * model.c0 }, origins)
}

/// `(first, last)` 0-based byte positions of the six fixed fields, end exclusive.
const FIELDS: [(usize, usize); 6] = [(1, 3), (4, 12), (14, 22), (24, 36), (39, 47), (49, 61)];

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Section {
    Name,
    ObjSense,
    Rows,
    Columns,
    Rhs,
    Ranges,
    Bounds,
    QuadObj,
}

impl Section {
    fn keyword(self) -> &'static str {
        match self {
            Section::Name => "NAME",
            Section::ObjSense => "OBJSENSE",
            Section::Rows => "ROWS",
            Section::Columns => "COLUMNS",
            Section::Rhs => "RHS",
            Section::Ranges => "RANGES",
            Section::Bounds => "BOUNDS",
            Section::QuadObj => "QUADOBJ",
        }
    }
}

/// A row name resolved: the objective, or a model row.
#[derive(Clone, Copy)]
enum RowRef {
    Objective,
    Row(usize),
}

/// One data line split into its six fields (blank-trimmed byte slices).
struct Fields<'a> {
    line: usize,
    f: [&'a [u8]; 6],
}

impl<'a> Fields<'a> {
    fn split(text: &'a [u8], line: usize) -> Result<Self, ReadError> {
        if text.contains(&b'\t') {
            return Err(ReadError::at(
                line,
                "tab character in a fixed-format data line (fields are located by column)",
            ));
        }
        let mut prev_end = 0;
        for (k, &(start, end)) in FIELDS.iter().enumerate() {
            let gap = &text[prev_end.min(text.len())..start.min(text.len())];
            if let Some(p) = gap.iter().position(|&c| c != b' ') {
                return Err(outside_fields(line, prev_end + p, k));
            }
            prev_end = end;
        }
        if let Some(p) = text.get(prev_end..).and_then(|t| t.iter().position(|&c| c != b' ')) {
            return Err(outside_fields(line, prev_end + p, 6));
        }
        let f = FIELDS.map(|(start, end)| trim(text.get(start..end.min(text.len())).unwrap_or(b"")));
        Ok(Fields { line, f })
    }

    fn name(&self, k: usize) -> String {
        String::from_utf8_lossy(self.f[k]).into_owned()
    }

    fn require(&self, k: usize, what: &str) -> Result<&'a [u8], ReadError> {
        if self.f[k].is_empty() {
            let (start, end) = FIELDS[k];
            return Err(ReadError::at(self.line, format!("missing {what} in columns {}-{end}", start + 1)));
        }
        Ok(self.f[k])
    }

    fn expect_blank(&self, k: usize, section: Section) -> Result<(), ReadError> {
        if !self.f[k].is_empty() {
            let (start, end) = FIELDS[k];
            return Err(ReadError::at(
                self.line,
                format!("unexpected `{}` in columns {}-{end} of a {} line", self.name(k), start + 1, section.keyword()),
            ));
        }
        Ok(())
    }

    /// The number in field `k`; ±∞ only when `infinite_ok`.
    fn number(&self, k: usize, infinite_ok: bool) -> Result<f64, ReadError> {
        let text = self.require(k, "a number")?;
        let (start, end) = FIELDS[k];
        let s = String::from_utf8_lossy(text);
        let bad = || ReadError::at(self.line, format!("bad number `{s}` in columns {}-{end}", start + 1));
        let v: f64 =
            if s.contains(['d', 'D']) { s.replace(['d', 'D'], "e").parse() } else { s.parse() }.map_err(|_| bad())?;
        if v.is_nan() || (v.is_infinite() && !infinite_ok) {
            return Err(bad());
        }
        Ok(v)
    }
}

fn outside_fields(line: usize, pos: usize, next_field: usize) -> ReadError {
    let hint = if next_field == 6 { "after column 61" } else { "between the fixed fields" };
    ReadError::at(
        line,
        format!(
            "unexpected text in column {} ({hint}); fixed-format MPS expects fields in columns \
             2-3, 5-12, 15-22, 25-36, 40-47 and 50-61",
            pos + 1
        ),
    )
}

fn trim(s: &[u8]) -> &[u8] {
    let start = s.iter().position(|&c| c != b' ').unwrap_or(s.len());
    let end = s.iter().rposition(|&c| c != b' ').map_or(start, |e| e + 1);
    &s[start..end]
}

/// Reads fixed-column MPS/QPS text (see the module docs for the conventions).
pub fn parse(text: &[u8]) -> Result<MpsModel, ReadError> {
    Parser::default().run(text)
}

#[derive(Default)]
struct Parser {
    model: MpsModel,
    rows: HashMap<String, RowRef>,
    cols: HashMap<String, usize>,
    lower_set: Vec<bool>,
    rhs_set: Vec<bool>,
    objective_rhs_set: bool,
    /// The set names of RHS, RANGES and BOUNDS.
    set_names: [Option<Vec<u8>>; 3],
    /// The column of the previous COLUMNS line (files list columns contiguously).
    last_col: Option<(Vec<u8>, usize)>,
}

impl Parser {
    fn run(mut self, text: &[u8]) -> Result<MpsModel, ReadError> {
        let mut section: Option<Section> = None;
        let mut seen: Vec<Section> = Vec::new();
        let mut last_line = 0;
        for (index, raw) in text.split(|&c| c == b'\n').enumerate() {
            let line = index + 1;
            let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
            if raw.iter().all(|c| c.is_ascii_whitespace()) || raw[0] == b'*' {
                continue;
            }
            last_line = line;
            if raw[0] != b' ' && raw[0] != b'\t' {
                let mut words = raw.split(|c| c.is_ascii_whitespace()).filter(|w| !w.is_empty());
                let keyword = words.next().unwrap_or(b"");
                let next = match keyword {
                    b"ENDATA" => return self.finish(),
                    b"NAME" => Section::Name,
                    b"OBJSENSE" => Section::ObjSense,
                    b"ROWS" => Section::Rows,
                    b"COLUMNS" => Section::Columns,
                    b"RHS" => Section::Rhs,
                    b"RANGES" => Section::Ranges,
                    b"BOUNDS" => Section::Bounds,
                    b"QUADOBJ" => Section::QuadObj,
                    other => return Err(unknown_section(line, other)),
                };
                if seen.contains(&next) {
                    return Err(ReadError::at(line, format!("a second {} section", next.keyword())));
                }
                seen.push(next);
                match next {
                    Section::Name => {
                        self.model.name = String::from_utf8_lossy(trim(&raw[4..])).trim().to_string();
                    }
                    Section::ObjSense => {
                        if let Some(word) = words.next() {
                            self.model.sense = parse_sense(line, word)?;
                        }
                    }
                    _ => {}
                }
                section = Some(next);
                continue;
            }
            match section {
                None | Some(Section::Name) => {
                    return Err(ReadError::at(line, "data line before the first section (expected ROWS)"));
                }
                Some(Section::ObjSense) => {
                    let word = String::from_utf8_lossy(raw);
                    self.model.sense = parse_sense(line, word.trim().as_bytes())?;
                }
                Some(s) => {
                    let fields = Fields::split(raw, line)?;
                    match s {
                        Section::Rows => self.row(&fields)?,
                        Section::Columns => self.column(&fields)?,
                        Section::Rhs => self.rhs(&fields)?,
                        Section::Ranges => self.range(&fields)?,
                        Section::Bounds => self.bound(&fields)?,
                        Section::QuadObj => self.quad(&fields)?,
                        Section::Name | Section::ObjSense => unreachable!("handled above"),
                    }
                }
            }
        }
        Err(ReadError::at(last_line.max(1), "the file ends without ENDATA (truncated?)"))
    }

    fn finish(self) -> Result<MpsModel, ReadError> {
        Ok(self.model)
    }

    fn row(&mut self, f: &Fields) -> Result<(), ReadError> {
        let kind = f.require(0, "a row type")?;
        let name = String::from_utf8_lossy(f.require(1, "a row name")?).into_owned();
        for k in 2..6 {
            f.expect_blank(k, Section::Rows)?;
        }
        let kind = match kind {
            b"E" | b"e" => RowKind::Equal,
            b"L" | b"l" => RowKind::Less,
            b"G" | b"g" => RowKind::Greater,
            b"N" | b"n" => RowKind::Free,
            other => {
                let other = String::from_utf8_lossy(other);
                return Err(ReadError::at(f.line, format!("unknown row type `{other}` (expected N, E, L or G)")));
            }
        };
        if self.rows.contains_key(&name) {
            return Err(ReadError::at(f.line, format!("row `{name}` is declared twice")));
        }
        let m = &mut self.model;
        let r = if kind == RowKind::Free && m.objective_name.is_none() {
            m.objective_name = Some(name.clone());
            RowRef::Objective
        } else {
            m.row_names.push(name.clone());
            m.row_kinds.push(kind);
            m.rhs.push(0.0);
            m.ranges.push(None);
            self.rhs_set.push(false);
            RowRef::Row(m.row_names.len() - 1)
        };
        self.rows.insert(name, r);
        Ok(())
    }

    fn lookup_row(&self, f: &Fields, k: usize) -> Result<RowRef, ReadError> {
        let name = f.require(k, "a row name")?;
        let name = String::from_utf8_lossy(name);
        self.rows.get(name.as_ref()).copied().ok_or_else(|| ReadError::at(f.line, format!("unknown row `{name}`")))
    }

    fn lookup_col(&self, f: &Fields, k: usize) -> Result<usize, ReadError> {
        let name = f.require(k, "a column name")?;
        let name = String::from_utf8_lossy(name);
        self.cols.get(name.as_ref()).copied().ok_or_else(|| ReadError::at(f.line, format!("unknown column `{name}`")))
    }

    fn column(&mut self, f: &Fields) -> Result<(), ReadError> {
        f.expect_blank(0, Section::Columns)?;
        let name = f.require(1, "a column name")?;
        if f.f[2] == b"'MARKER'" {
            return Err(ReadError::at(f.line, "integer MARKER lines are not supported (continuous problems only)"));
        }
        let j = match &self.last_col {
            Some((last, j)) if last.as_slice() == name => *j,
            _ => {
                let key = String::from_utf8_lossy(name).into_owned();
                let j = match self.cols.get(&key) {
                    Some(&j) => j,
                    None => {
                        let m = &mut self.model;
                        m.col_names.push(key.clone());
                        m.c.push(0.0);
                        m.lower.push(0.0);
                        m.upper.push(f64::INFINITY);
                        self.lower_set.push(false);
                        self.cols.insert(key, m.col_names.len() - 1);
                        m.col_names.len() - 1
                    }
                };
                self.last_col = Some((name.to_vec(), j));
                j
            }
        };
        for (rk, vk) in [(2, 3), (4, 5)] {
            if rk == 4 && f.f[4].is_empty() && f.f[5].is_empty() {
                break;
            }
            let row = self.lookup_row(f, rk)?;
            let v = f.number(vk, false)?;
            match row {
                RowRef::Objective => self.model.c[j] += v,
                RowRef::Row(i) => self.model.entries.push((i, j, v)),
            }
        }
        Ok(())
    }

    /// Checks the set name of an RHS (0), RANGES (1) or BOUNDS (2) line.
    fn check_set(&mut self, f: &Fields, which: usize) -> Result<(), ReadError> {
        let name = f.f[1];
        match &self.set_names[which] {
            None => self.set_names[which] = Some(name.to_vec()),
            Some(first) if first.as_slice() == name => {}
            Some(first) => {
                let section = ["RHS", "RANGES", "BOUNDS"][which];
                return Err(ReadError::at(
                    f.line,
                    format!(
                        "a second {section} set `{}` (the first was `{}`); only one set is supported",
                        String::from_utf8_lossy(name),
                        String::from_utf8_lossy(first)
                    ),
                ));
            }
        }
        Ok(())
    }

    fn pairs(
        &mut self,
        f: &Fields,
        section: Section,
        mut apply: impl FnMut(&mut Self, RowRef, f64) -> Result<(), ReadError>,
    ) -> Result<(), ReadError> {
        f.expect_blank(0, section)?;
        for (rk, vk) in [(2, 3), (4, 5)] {
            if rk == 4 && f.f[4].is_empty() && f.f[5].is_empty() {
                break;
            }
            let row = self.lookup_row(f, rk)?;
            let v = f.number(vk, false)?;
            apply(self, row, v)?;
        }
        Ok(())
    }

    fn rhs(&mut self, f: &Fields) -> Result<(), ReadError> {
        self.check_set(f, 0)?;
        let line = f.line;
        self.pairs(f, Section::Rhs, |p, row, v| {
            let seen = match row {
                RowRef::Objective => std::mem::replace(&mut p.objective_rhs_set, true),
                RowRef::Row(i) => std::mem::replace(&mut p.rhs_set[i], true),
            };
            if seen {
                return Err(ReadError::at(line, "a second RHS value for the same row"));
            }
            match row {
                RowRef::Objective => p.model.c0 = -v,
                RowRef::Row(i) => p.model.rhs[i] = v,
            }
            Ok(())
        })
    }

    fn range(&mut self, f: &Fields) -> Result<(), ReadError> {
        self.check_set(f, 1)?;
        let line = f.line;
        self.pairs(f, Section::Ranges, |p, row, v| {
            // A range on an N row has no meaning; it is ignored as by other readers.
            if let RowRef::Row(i) = row {
                if p.model.ranges[i].replace(v).is_some() {
                    return Err(ReadError::at(line, "a second RANGES value for the same row"));
                }
            }
            Ok(())
        })
    }

    fn bound(&mut self, f: &Fields) -> Result<(), ReadError> {
        let kind = f.require(0, "a bound type")?.to_ascii_uppercase();
        self.check_set(f, 2)?;
        let j = self.lookup_col(f, 2)?;
        f.expect_blank(4, Section::Bounds)?;
        f.expect_blank(5, Section::Bounds)?;
        // Magnitudes of 1e30 and more are the usual spelling of an infinite bound.
        let value = || -> Result<f64, ReadError> {
            let v = f.number(3, true)?;
            Ok(if v.abs() >= 1e30 { v.signum() * f64::INFINITY } else { v })
        };
        let inf = f64::INFINITY;
        match kind.as_slice() {
            b"UP" => {
                let v = value()?;
                if v == -inf {
                    return Err(ReadError::at(f.line, "an upper bound of -infinity leaves no feasible value"));
                }
                if v < 0.0 && !self.lower_set[j] && self.model.lower[j] == 0.0 {
                    self.model.lower[j] = -inf;
                }
                self.model.upper[j] = v;
            }
            b"LO" => {
                let v = value()?;
                if v == inf {
                    return Err(ReadError::at(f.line, "a lower bound of +infinity leaves no feasible value"));
                }
                self.model.lower[j] = v;
                self.lower_set[j] = true;
            }
            b"FX" => {
                let v = value()?;
                if !v.is_finite() {
                    return Err(ReadError::at(f.line, "an FX bound must be finite"));
                }
                (self.model.lower[j], self.model.upper[j]) = (v, v);
                self.lower_set[j] = true;
            }
            b"FR" => {
                (self.model.lower[j], self.model.upper[j]) = (-inf, inf);
                self.lower_set[j] = true;
            }
            b"MI" => {
                self.model.lower[j] = -inf;
                self.lower_set[j] = true;
            }
            b"PL" => self.model.upper[j] = inf,
            b"BV" | b"LI" | b"UI" | b"SC" => {
                let k = String::from_utf8_lossy(&kind);
                return Err(ReadError::at(
                    f.line,
                    format!("bound type `{k}` makes the variable integer or semicontinuous; not supported"),
                ));
            }
            other => {
                let other = String::from_utf8_lossy(other);
                return Err(ReadError::at(
                    f.line,
                    format!("unknown bound type `{other}` (expected UP, LO, FX, FR, MI or PL)"),
                ));
            }
        }
        Ok(())
    }

    fn quad(&mut self, f: &Fields) -> Result<(), ReadError> {
        f.expect_blank(0, Section::QuadObj)?;
        let i = self.lookup_col(f, 1)?;
        let j = self.lookup_col(f, 2)?;
        let v = f.number(3, false)?;
        f.expect_blank(4, Section::QuadObj)?;
        f.expect_blank(5, Section::QuadObj)?;
        self.model.quad.push((i, j, v));
        Ok(())
    }
}

fn parse_sense(line: usize, word: &[u8]) -> Result<Sense, ReadError> {
    match word.to_ascii_uppercase().as_slice() {
        b"MIN" | b"MINIMIZE" | b"MINIMISE" => Ok(Sense::Minimize),
        b"MAX" | b"MAXIMIZE" | b"MAXIMISE" => Ok(Sense::Maximize),
        other => Err(ReadError::at(
            line,
            format!("unknown objective sense `{}` (expected MIN or MAX)", String::from_utf8_lossy(other)),
        )),
    }
}

fn unknown_section(line: usize, keyword: &[u8]) -> ReadError {
    let k = String::from_utf8_lossy(keyword);
    let message = match keyword {
        b"QMATRIX" | b"QSECTION" | b"QCMATRIX" | b"CSECTION" | b"SOS" | b"INDICATORS" => {
            format!("section `{k}` is not supported (supported: ROWS, COLUMNS, RHS, RANGES, BOUNDS, QUADOBJ)")
        }
        _ => format!(
            "unknown section `{k}` (expected NAME, OBJSENSE, ROWS, COLUMNS, RHS, RANGES, BOUNDS, QUADOBJ or ENDATA)"
        ),
    };
    ReadError::at(line, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Result<MpsModel, ReadError> {
        parse(text.as_bytes())
    }

    const SMALL: &str = "\
NAME          SMALL
* a comment
ROWS
 N  COST
 L  LIM1
 G  LIM 2
 E  MYEQN
 E  RNG
COLUMNS
    X 1       COST               1.0   LIM1               1.0
    X 1       LIM 2              1.0
    Y         COST               2.0   LIM1               1.0
    Y         MYEQN             -1.0   RNG              1e-12
    Z         COST              -1.0   MYEQN              1.0
RHS
    RHS       COST              -3.5
    RHS       LIM1               4.0   LIM 2              1.0
    RHS       MYEQN              7.0   RNG                2.0
RANGES
    RNG       RNG               -0.5   LIM1               2.5
BOUNDS
 UP BND       X 1                4.0
 MI BND       Y
 UP BND       Y                  1.0
 UP BND       Z                 -2.0
QUADOBJ
    X 1       X 1                2.0
    X 1       Y                  0.5
ENDATA
";

    #[test]
    fn reads_every_field_by_position() {
        let m = read(SMALL).unwrap();
        assert_eq!(m.name, "SMALL");
        assert_eq!(m.objective_name.as_deref(), Some("COST"));
        assert_eq!(m.row_names, ["LIM1", "LIM 2", "MYEQN", "RNG"]);
        assert_eq!(m.col_names, ["X 1", "Y", "Z"]);
        assert_eq!(m.c, [1.0, 2.0, -1.0]);
        assert_eq!(m.entries, [(0, 0, 1.0), (1, 0, 1.0), (0, 1, 1.0), (2, 1, -1.0), (3, 1, 1e-12), (2, 2, 1.0)]);
        assert_eq!(m.rhs, [4.0, 1.0, 7.0, 2.0]);
        assert_eq!(m.c0, 3.5);
        assert_eq!(m.ranges, [Some(2.5), None, None, Some(-0.5)]);
        assert_eq!(m.row_bounds(0), (1.5, 4.0));
        assert_eq!(m.row_bounds(1), (1.0, f64::INFINITY));
        assert_eq!(m.row_bounds(2), (7.0, 7.0));
        assert_eq!(m.row_bounds(3), (1.5, 2.0));
        assert_eq!((m.lower[0], m.upper[0]), (0.0, 4.0));
        assert_eq!((m.lower[1], m.upper[1]), (f64::NEG_INFINITY, 1.0));
        // UP < 0 with the default lower bound makes the lower bound −∞.
        assert_eq!((m.lower[2], m.upper[2]), (f64::NEG_INFINITY, -2.0));
        assert_eq!(m.quad, [(0, 0, 2.0), (0, 1, 0.5)]);
    }

    #[test]
    fn conversion_rows_and_signs() {
        let m = read(SMALL).unwrap();
        let (p, origins) = convert(&m);
        p.validate().unwrap();
        use Side::*;
        use Source::*;
        let o = |source, side| RowOrigin { source, side };
        assert_eq!(
            origins,
            [
                o(Row(2), Equal),
                o(Row(0), Upper),
                o(Row(0), Lower),
                o(Row(1), Lower),
                o(Row(3), Upper),
                o(Row(3), Lower),
                o(Column(0), Upper),
                o(Column(0), Lower),
                o(Column(1), Upper),
                o(Column(2), Upper),
            ]
        );
        assert_eq!(p.cones, [ConeBlock::Zero(1), ConeBlock::Nonneg(9)]);
        assert_eq!(p.b, [7.0, 4.0, -1.5, -1.0, 2.0, -1.5, 4.0, -0.0, 1.0, -2.0]);
        let row = |r: usize| {
            let mut v: Vec<(usize, f64)> = p.a.entries.iter().filter(|e| e.0 == r).map(|&(_, j, v)| (j, v)).collect();
            v.sort_by_key(|e| e.0);
            v
        };
        assert_eq!(row(0), [(1, -1.0), (2, 1.0)]);
        assert_eq!(row(2), [(0, -1.0), (1, -1.0)]);
        assert_eq!(row(5), [(1, -1e-12)]);
        assert_eq!(row(7), [(0, -1.0)]);
        assert_eq!(p.p.entries, [(0, 0, 2.0), (0, 1, 0.5)]);
        assert_eq!(p.q, [1.0, 2.0, -1.0]);
        assert_eq!(p.c0, 3.5);
    }

    #[test]
    fn bound_types_and_fixed_columns() {
        let text = "\
NAME
ROWS
 N  obj
COLUMNS
    A         obj                1.0
    B         obj                1.0
    C         obj                1.0
    D         obj                1.0
    E         obj                1.0
RHS
BOUNDS
 FX           A                  3.0
 FR           B
 LO           C                 -1.0
 UP           C                 -0.5
 PL           D
 LO           E                  2.0
 UP           E                  2.0
ENDATA
";
        let m = read(text).unwrap();
        assert_eq!(m.lower, [3.0, f64::NEG_INFINITY, -1.0, 0.0, 2.0]);
        assert_eq!(m.upper, [3.0, f64::INFINITY, -0.5, f64::INFINITY, 2.0]);
        let (p, origins) = convert(&m);
        assert_eq!(p.cones, [ConeBlock::Zero(2), ConeBlock::Nonneg(3)]);
        let sources: Vec<_> = origins.iter().map(|o| (o.source, o.side)).collect();
        use Side::*;
        use Source::*;
        assert_eq!(
            sources,
            [(Column(0), Equal), (Column(4), Equal), (Column(2), Upper), (Column(2), Lower), (Column(3), Lower)]
        );
        assert_eq!(p.b, [3.0, 2.0, -0.5, 1.0, -0.0]);
    }

    #[test]
    fn maximisation_is_negated() {
        let text = "NAME x\nOBJSENSE\n    MAX\nROWS\n N  f\nCOLUMNS\n    x         f                  2.0\n\
RHS\n    RHS       f                  1.0\nQUADOBJ\n    x         x                 -1.0\nENDATA\n";
        let m = read(text).unwrap();
        assert_eq!(m.sense, Sense::Maximize);
        let p = to_cone_program(&m);
        assert_eq!((p.q.as_slice(), p.c0), ([-2.0].as_slice(), 1.0));
        assert_eq!(p.p.entries, [(0, 0, 1.0)]);
    }

    #[test]
    fn numeric_names_and_set_name_equal_to_a_row_name() {
        let text = "\
NAME          NUM
ROWS
  N        9
  E        1
COLUMNS
           2         9     1.0000000         1     2.0000000
RHS
           1         1     5.0000000
ENDATA
";
        let m = read(text).unwrap();
        assert_eq!(m.row_names, ["1"]);
        assert_eq!(m.col_names, ["2"]);
        assert_eq!((m.c[0], m.rhs[0]), (1.0, 5.0));
        assert_eq!(m.entries, [(0, 0, 2.0)]);
    }

    fn error(text: &str) -> (usize, String) {
        match read(text) {
            Err(ReadError::Syntax { line, message }) => (line, message),
            other => panic!("expected an error, got {other:?}"),
        }
    }

    #[test]
    fn errors_name_the_line() {
        let (line, msg) = error("NAME\nROWS\n N  obj\nCOLUMNS\n    x         obj                1.x\nENDATA\n");
        assert_eq!(line, 5);
        assert!(msg.contains("bad number `1.x`"), "{msg}");

        let (line, msg) = error("NAME\nROWS\n N  obj\nCOLUMNS\n    x         obj                1.0\n");
        assert_eq!(line, 5);
        assert!(msg.contains("without ENDATA"), "{msg}");

        let (line, msg) = error("NAME\nROWS\n N  obj\nQMATRIX\nENDATA\n");
        assert_eq!(line, 4);
        assert!(msg.contains("`QMATRIX` is not supported"), "{msg}");

        let (line, msg) = error("NAME\nROWS\n N  obj\nFOO\nENDATA\n");
        assert_eq!(line, 4);
        assert!(msg.contains("unknown section `FOO`"), "{msg}");

        let (line, msg) = error("NAME\nROWS\n N  obj\nCOLUMNS\n    x         nope               1.0\nENDATA\n");
        assert_eq!(line, 5);
        assert!(msg.contains("unknown row `nope`"), "{msg}");

        // Free-format text spills into the gaps between the fixed fields.
        let (line, msg) = error("NAME\nROWS\n N obj\nENDATA\n");
        assert_eq!(line, 3);
        assert!(msg.contains("column 4"), "{msg}");

        let (line, msg) = error(
            "NAME\nROWS\n N  obj\nCOLUMNS\n    x         obj                1.0\nBOUNDS\n BV BND       x\nENDATA\n",
        );
        assert_eq!(line, 7);
        assert!(msg.contains("integer"), "{msg}");

        let (line, msg) = error("NAME\nROWS\n N  obj\n X  r\nENDATA\n");
        assert_eq!(line, 4);
        assert!(msg.contains("unknown row type `X`"), "{msg}");

        let (line, msg) = error(
            "NAME\nROWS\n N  obj\n L  r\nCOLUMNS\n    x         r                  1.0\n\
RHS\n    A         r                  1.0\n    B         r                  1.0\nENDATA\n",
        );
        assert_eq!(line, 9);
        assert!(msg.contains("second RHS set `B`"), "{msg}");

        let (line, msg) = error("NAME\nROWS\n N  obj\nCOLUMNS\n    x         obj                1.0\nBOUNDS\n LO BND       x                 1e30\nENDATA\n");
        assert_eq!(line, 7);
        assert!(msg.contains("lower bound of +infinity"), "{msg}");

        let (line, _) = error("");
        assert_eq!(line, 1);
    }

    #[test]
    fn never_panics_on_mangled_input() {
        // Every prefix and a few byte substitutions of a valid file.
        let bytes = SMALL.as_bytes();
        for cut in 0..bytes.len() {
            let _ = parse(&bytes[..cut]);
        }
        for (i, sub) in [(3usize, b'\t'), (40, b'x'), (100, 0xff), (200, b'\n'), (300, b' ')] {
            let mut v = bytes.to_vec();
            v[i % bytes.len()] = sub;
            let _ = parse(&v);
        }
    }
}
