//! The Conic Benchmark Format (CBF, versions 1–3), linear and second-order cones.
//!
//! ```text
//! minimize    cᵀx + c0
//! subject to  x ∈ K_var,   g = Ax + β ∈ K_con
//! ```
//!
//! with `K_var` and `K_con` products of cones listed in `VAR n k` and `CON m k`
//! (k lines `cone dim`, consecutive blocks):
//!
//! | name | cone |
//! |---|---|
//! | `F` | free |
//! | `L+` / `L-` / `L=` | `g ≥ 0` / `g ≤ 0` / `g = 0` |
//! | `Q` | `g₁ ≥ ‖g₂:d‖₂` |
//! | `QR` | `2·g₁·g₂ ≥ ‖g₃:d‖₂²`, `g₁, g₂ ≥ 0` |
//!
//! Sections read: `VER`, `OBJSENSE`, `VAR`, `CON`, `OBJACOORD` (`j c_j`),
//! `OBJBCOORD` (`c0`), `ACOORD` (`i j a_ij`), `BCOORD` (`i β_i`); indices are
//! 0-based, repeated coordinates are summed. Integer variables, semidefinite and
//! power/exponential cones are rejected with an error naming them. Lines starting
//! with `#` are comments.
//!
//! The reader allocates only what the file's bytes can back: a coordinate
//! section reserves at most one entry per four bytes left (the shortest record,
//! `0 1` and a newline), and `VAR n k` / `CON m k` may declare at most
//! [`ENTRIES_PER_BYTE`] entries per byte of the file (at least
//! [`FREE_ENTRIES`]), since the conversion allocates a few words per declared
//! entry: a 30-byte file declaring 10¹² variables is an error, not an abort.

use super::{ReadError, Sense};
use crate::solve::{ConeBlock, ConeProgram, Triplets};

/// How many declared variables or constraint entries each byte of a file may
/// back (`VAR 1000 1` / `L+ 1000` declares a thousand in a dozen bytes).
pub const ENTRIES_PER_BYTE: usize = 64;
/// The declared sizes every file may have, however short.
pub const FREE_ENTRIES: usize = 1 << 16;

/// A cone of a `VAR` or `CON` block.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConeKind {
    /// `F`.
    Free,
    /// `L+`: `g ≥ 0`.
    Nonneg,
    /// `L-`: `g ≤ 0`.
    Nonpos,
    /// `L=`: `g = 0`.
    Zero,
    /// `Q`: `g₁ ≥ ‖g₂:d‖₂`.
    Quad,
    /// `QR`: `2·g₁·g₂ ≥ ‖g₃:d‖₂²`, `g₁, g₂ ≥ 0`.
    RotatedQuad,
}

impl ConeKind {
    /// The name used in CBF files.
    pub fn name(self) -> &'static str {
        match self {
            ConeKind::Free => "F",
            ConeKind::Nonneg => "L+",
            ConeKind::Nonpos => "L-",
            ConeKind::Zero => "L=",
            ConeKind::Quad => "Q",
            ConeKind::RotatedQuad => "QR",
        }
    }
}

/// A CBF file as written.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CbfModel {
    /// `VER`: the format version.
    pub version: u32,
    /// `OBJSENSE`.
    pub sense: Sense,
    /// Number of scalar variables (`VAR n k`).
    pub n: usize,
    /// Number of scalar constraint rows (`CON m k`).
    pub m: usize,
    /// `(cone, dimension)` blocks covering the variables in order.
    pub var_cones: Vec<(ConeKind, usize)>,
    /// `(cone, dimension)` blocks covering the constraint rows in order.
    pub con_cones: Vec<(ConeKind, usize)>,
    /// `OBJACOORD`: `(j, c_j)` as written.
    pub c: Vec<(usize, f64)>,
    /// `OBJBCOORD`.
    pub c0: f64,
    /// `ACOORD`: `(i, j, a_ij)` as written.
    pub a: Vec<(usize, usize, f64)>,
    /// `BCOORD`: `(i, β_i)` as written.
    pub b: Vec<(usize, f64)>,
}

/// What a row of the converted [`ConeProgram`] stands for: entry `offset` of
/// block `block` of `CON` (or `VAR`), after the cone's map to the standard cone
/// (identity; negation for `L-`; `(g₁+g₂, g₁−g₂, √2·g₃:d)` for `QR`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RowOrigin {
    /// A constraint block or a variable block.
    pub part: Part,
    /// Index into `CbfModel::con_cones` or `var_cones`.
    pub block: usize,
    /// The entry within the block.
    pub offset: usize,
}

/// Whether a cone-program row comes from a constraint block or a variable block.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Part {
    /// A `CON` block: rows of `Ax + b ∈ K`.
    Con,
    /// A `VAR` block: the variables' own cone `x ∈ K`.
    Var,
}

/// The conversion to `min ½xᵀPx + qᵀx + c0 s.t. Ax + s = b, s ∈ K` (see [`convert`]).
pub fn to_cone_program(model: &CbfModel) -> ConeProgram {
    convert(model).0
}

/// Converts to the conic standard form, with one [`RowOrigin`] per row.
///
/// Each block's slack is `s = T g` for the cone's linear map `T` (identity for
/// `L+ L= Q`, `−1` for `L-`, and `T(g) = (g₁+g₂, g₁−g₂, √2·g₃:d)` for `QR`, since
/// `(g₁+g₂)² − (g₁−g₂)² − 2‖g₃:d‖² = 2(2g₁g₂ − ‖g₃:d‖²)` and `g₁+g₂ ≥ |g₁−g₂|` is
/// `g₁, g₂ ≥ 0`). With `g = A_blk x + β_blk`, `s = b − A x` gives the rows
/// `A = −T A_blk`, `b = T β_blk`; for a variable block `A_blk = I`, `β = 0`.
/// `F` blocks give no rows. Blocks are grouped: one Zero block, one Nonneg block
/// (constraint blocks before variable blocks, file order), then each
/// second-order cone. `MAX` negates `q` and `c0`.
pub fn convert(model: &CbfModel) -> (ConeProgram, Vec<RowOrigin>) {
    let n = model.n;
    let mut by_row: Vec<Vec<(usize, f64)>> = vec![Vec::new(); model.m];
    for &(i, j, v) in &model.a {
        by_row[i].push((j, v));
    }
    let mut beta = vec![0.0; model.m];
    for &(i, v) in &model.b {
        beta[i] += v;
    }

    // Each planned row is `s = Σ_k w_k g_{start+k}` over entries of one block.
    struct Planned {
        origin: RowOrigin,
        start: usize,
        terms: [(usize, f64); 2],
        len: usize,
    }
    let mut zero = Vec::new();
    let mut nonneg = Vec::new();
    let mut soc: Vec<(usize, Vec<Planned>)> = Vec::new();
    for (part, blocks) in [(Part::Con, &model.con_cones), (Part::Var, &model.var_cones)] {
        let mut start = 0;
        for (block, &(cone, dim)) in blocks.iter().enumerate() {
            let row = |offset: usize, terms: &[(usize, f64)]| {
                let mut t = [(0, 0.0); 2];
                t[..terms.len()].copy_from_slice(terms);
                Planned { origin: RowOrigin { part, block, offset }, start, terms: t, len: terms.len() }
            };
            match cone {
                ConeKind::Free => {}
                ConeKind::Zero => zero.extend((0..dim).map(|k| row(k, &[(k, 1.0)]))),
                ConeKind::Nonneg => nonneg.extend((0..dim).map(|k| row(k, &[(k, 1.0)]))),
                ConeKind::Nonpos => nonneg.extend((0..dim).map(|k| row(k, &[(k, -1.0)]))),
                ConeKind::Quad => soc.push((dim, (0..dim).map(|k| row(k, &[(k, 1.0)])).collect())),
                ConeKind::RotatedQuad => {
                    let mut rows = vec![row(0, &[(0, 1.0), (1, 1.0)]), row(1, &[(0, 1.0), (1, -1.0)])];
                    rows.extend((2..dim).map(|k| row(k, &[(k, std::f64::consts::SQRT_2)])));
                    soc.push((dim, rows));
                }
            }
            start += dim;
        }
    }

    let mut cones = Vec::new();
    if !zero.is_empty() {
        cones.push(ConeBlock::Zero(zero.len()));
    }
    if !nonneg.is_empty() {
        cones.push(ConeBlock::Nonneg(nonneg.len()));
    }
    cones.extend(soc.iter().map(|&(dim, _)| ConeBlock::SecondOrder(dim)));
    let all: Vec<Planned> = zero.into_iter().chain(nonneg).chain(soc.into_iter().flat_map(|(_, rows)| rows)).collect();

    let mut a = Triplets::new(all.len(), n);
    let mut b = Vec::with_capacity(all.len());
    let mut origins = Vec::with_capacity(all.len());
    for (r, planned) in all.iter().enumerate() {
        let mut value = 0.0;
        for &(k, w) in &planned.terms[..planned.len] {
            let i = planned.start + k;
            match planned.origin.part {
                Part::Con => {
                    a.entries.extend(by_row[i].iter().map(|&(j, v)| (r, j, -w * v)));
                    value += w * beta[i];
                }
                Part::Var => a.push(r, i, -w),
            }
        }
        b.push(value);
        origins.push(planned.origin);
    }

    let sign = if model.sense == Sense::Maximize { -1.0 } else { 1.0 };
    let mut q = vec![0.0; n];
    for &(j, v) in &model.c {
        q[j] += sign * v;
    }
    (ConeProgram { p: Triplets::new(n, n), q, a, b, cones, c0: sign * model.c0 }, origins)
}

/// Reads CBF text (see the module docs for what is supported).
pub fn parse(bytes: &[u8]) -> Result<CbfModel, ReadError> {
    // Invalid UTF-8 becomes U+FFFD: harmless in a comment, a bad token elsewhere.
    let text = String::from_utf8_lossy(bytes);
    let mut lines = Lines::new(&text);
    let mut model = CbfModel::default();
    let mut seen: Vec<&'static str> = Vec::new();
    let mut var_declared = false;
    let mut con_declared = false;

    while let Some((line, words)) = lines.next_line() {
        let [keyword] = words[..] else {
            return Err(ReadError::at(line, format!("expected a section keyword, found `{}`", words.join(" "))));
        };
        let section: &'static str = match keyword {
            "VER" => "VER",
            "OBJSENSE" => "OBJSENSE",
            "VAR" => "VAR",
            "CON" => "CON",
            "OBJACOORD" => "OBJACOORD",
            "OBJBCOORD" => "OBJBCOORD",
            "ACOORD" => "ACOORD",
            "BCOORD" => "BCOORD",
            "INT" => {
                return Err(ReadError::at(line, "INT: integer variables are not supported (continuous problems only)"))
            }
            "PSDVAR" | "PSDCON" | "FCOORD" | "OBJFCOORD" | "HCOORD" | "DCOORD" => {
                return Err(ReadError::at(line, format!("{keyword}: semidefinite cones are not supported")));
            }
            "POWCONES" | "POW*CONES" => {
                return Err(ReadError::at(line, format!("{keyword}: power cones are not supported")));
            }
            other => return Err(ReadError::at(line, format!("unknown section `{other}`"))),
        };
        if seen.is_empty() && section != "VER" {
            return Err(ReadError::at(line, format!("the file must start with VER, found {section}")));
        }
        if seen.contains(&section) {
            return Err(ReadError::at(line, format!("a second {section} section")));
        }
        seen.push(section);
        match section {
            "VER" => {
                let (l, [v]) = lines.record::<1>(section)?;
                let version = parse_index(l, v, "a version number")?;
                if !(1..=3).contains(&version) {
                    return Err(ReadError::at(l, format!("CBF version {version} is not supported (1 to 3)")));
                }
                model.version = version as u32;
            }
            "OBJSENSE" => {
                let (l, [s]) = lines.record::<1>(section)?;
                model.sense = match s {
                    "MIN" => Sense::Minimize,
                    "MAX" => Sense::Maximize,
                    _ => return Err(ReadError::at(l, format!("unknown objective sense `{s}` (expected MIN or MAX)"))),
                };
            }
            "VAR" | "CON" => {
                let backed = bytes.len().saturating_mul(ENTRIES_PER_BYTE).max(FREE_ENTRIES);
                let (size, blocks) = read_cones(&mut lines, section, backed)?;
                if section == "VAR" {
                    (model.n, model.var_cones, var_declared) = (size, blocks, true);
                } else {
                    (model.m, model.con_cones, con_declared) = (size, blocks, true);
                }
            }
            "OBJBCOORD" => {
                let (l, [v]) = lines.record::<1>(section)?;
                model.c0 = parse_number(l, v)?;
            }
            "OBJACOORD" => {
                require(var_declared, line, "OBJACOORD", "VAR")?;
                let count = lines.count(section)?;
                model.c.reserve(count.min(lines.most_records()));
                for _ in 0..count {
                    let (l, [j, v]) = lines.record::<2>(section)?;
                    model.c.push((in_range(l, j, model.n, "variable")?, parse_number(l, v)?));
                }
            }
            "ACOORD" => {
                require(var_declared && con_declared, line, "ACOORD", "VAR and CON")?;
                let count = lines.count(section)?;
                model.a.reserve(count.min(lines.most_records()));
                for _ in 0..count {
                    let (l, [i, j, v]) = lines.record::<3>(section)?;
                    let i = in_range(l, i, model.m, "constraint row")?;
                    model.a.push((i, in_range(l, j, model.n, "variable")?, parse_number(l, v)?));
                }
            }
            "BCOORD" => {
                require(con_declared, line, "BCOORD", "CON")?;
                let count = lines.count(section)?;
                model.b.reserve(count.min(lines.most_records()));
                for _ in 0..count {
                    let (l, [i, v]) = lines.record::<2>(section)?;
                    model.b.push((in_range(l, i, model.m, "constraint row")?, parse_number(l, v)?));
                }
            }
            _ => unreachable!("every section is matched above"),
        }
    }
    if seen.is_empty() {
        return Err(ReadError::at(lines.last.max(1), "empty file: expected VER"));
    }
    Ok(model)
}

fn require(ok: bool, line: usize, section: &str, before: &str) -> Result<(), ReadError> {
    if ok {
        Ok(())
    } else {
        Err(ReadError::at(line, format!("{section} must come after {before}")))
    }
}

/// `VAR n k` / `CON m k` and its k `cone dim` lines; `n` (or `m`) at most `backed`.
fn read_cones(lines: &mut Lines, section: &str, backed: usize) -> Result<(usize, Vec<(ConeKind, usize)>), ReadError> {
    let (l, [size, k]) = lines.record::<2>(section)?;
    let size = parse_index(l, size, "a size")?;
    if size > backed {
        return Err(ReadError::at(
            l,
            format!(
                "{section} declares {size} entries, more than a file of its length can back (at most {backed}: \
                 {ENTRIES_PER_BYTE} per byte, or {FREE_ENTRIES})"
            ),
        ));
    }
    let k = parse_index(l, k, "a block count")?;
    let mut blocks = Vec::with_capacity(k.min(lines.most_records()));
    let mut total = 0usize;
    for _ in 0..k {
        let (l, [name, dim]) = lines.record::<2>(section)?;
        let cone = match name {
            "F" => ConeKind::Free,
            "L+" => ConeKind::Nonneg,
            "L-" => ConeKind::Nonpos,
            "L=" => ConeKind::Zero,
            "Q" => ConeKind::Quad,
            "QR" => ConeKind::RotatedQuad,
            other => {
                return Err(ReadError::at(
                    l,
                    format!("cone `{other}` is not supported (supported: F, L+, L-, L=, Q, QR)"),
                ))
            }
        };
        let dim = parse_index(l, dim, "a cone dimension")?;
        let least = match cone {
            ConeKind::Quad => 1,
            ConeKind::RotatedQuad => 2,
            _ => 0,
        };
        if dim < least {
            return Err(ReadError::at(l, format!("a {name} cone needs dimension at least {least}, found {dim}")));
        }
        total = total.saturating_add(dim);
        blocks.push((cone, dim));
    }
    if total != size {
        return Err(ReadError::at(l, format!("{section} declares {size} entries but its cones cover {total}")));
    }
    Ok((size, blocks))
}

fn parse_index(line: usize, s: &str, what: &str) -> Result<usize, ReadError> {
    s.parse().map_err(|_| ReadError::at(line, format!("expected {what} (a nonnegative integer), found `{s}`")))
}

fn in_range(line: usize, s: &str, size: usize, what: &str) -> Result<usize, ReadError> {
    let i = parse_index(line, s, &format!("a {what} index"))?;
    if i >= size {
        return Err(ReadError::at(line, format!("{what} index {i} is out of range (there are {size})")));
    }
    Ok(i)
}

fn parse_number(line: usize, s: &str) -> Result<f64, ReadError> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        _ => Err(ReadError::at(line, format!("bad number `{s}`"))),
    }
}

/// Non-blank, non-comment lines split into words, with 1-based line numbers.
struct Lines<'a> {
    text: &'a str,
    pos: usize,
    line: usize,
    /// The line number of the last line returned (or of the end of the text).
    last: usize,
}

impl<'a> Lines<'a> {
    fn new(text: &'a str) -> Self {
        Lines { text, pos: 0, line: 0, last: 0 }
    }

    fn next_line(&mut self) -> Option<(usize, Vec<&'a str>)> {
        while self.pos < self.text.len() {
            let rest = &self.text[self.pos..];
            let end = rest.find('\n').unwrap_or(rest.len());
            let raw = &rest[..end];
            self.pos += (end + 1).min(rest.len());
            self.line += 1;
            self.last = self.line;
            if raw.starts_with('#') {
                continue;
            }
            let words: Vec<&str> = raw.split_ascii_whitespace().collect();
            if !words.is_empty() {
                return Some((self.line, words));
            }
        }
        self.last = self.line + 1;
        None
    }

    /// The next line, which must have exactly `N` words.
    fn record<const N: usize>(&mut self, section: &str) -> Result<(usize, [&'a str; N]), ReadError> {
        let Some((line, words)) = self.next_line() else {
            return Err(ReadError::at(self.last, format!("the file ends inside {section} (truncated?)")));
        };
        match <[&str; N]>::try_from(words.as_slice()) {
            Ok(a) => Ok((line, a)),
            Err(_) => Err(ReadError::at(
                line,
                format!(
                    "{section}: expected {N} field{} on this line, found `{}`",
                    if N == 1 { "" } else { "s" },
                    words.join(" ")
                ),
            )),
        }
    }

    /// An upper bound on the records left: each takes at least four bytes
    /// (two one-character fields and a newline), so reserving this many
    /// allocates only what the rest of the file can fill.
    fn most_records(&self) -> usize {
        (self.text.len() - self.pos) / 4 + 1
    }

    /// The entry count line of a coordinate section.
    fn count(&mut self, section: &str) -> Result<usize, ReadError> {
        let (l, [k]) = self.record::<1>(section)?;
        parse_index(l, k, "an entry count")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: &str = "# comment
VER
2

OBJSENSE
MAX

VAR
5 3
L+ 1
QR 3
F 1

CON
6 3
L= 1
Q 3
L- 2

OBJACOORD
2
0 1.5
4 -1

OBJBCOORD
2.0

ACOORD
5
0 0 1.0
1 1 2.0
2 2 3.0
4 3 1.0
5 4 -1.0

BCOORD
2
0 -1.0
3 0.5
";

    #[test]
    fn reads_sections() {
        let m = parse(SMALL.as_bytes()).unwrap();
        assert_eq!((m.version, m.sense, m.n, m.m), (2, Sense::Maximize, 5, 6));
        assert_eq!(m.var_cones, [(ConeKind::Nonneg, 1), (ConeKind::RotatedQuad, 3), (ConeKind::Free, 1)]);
        assert_eq!(m.con_cones, [(ConeKind::Zero, 1), (ConeKind::Quad, 3), (ConeKind::Nonpos, 2)]);
        assert_eq!(m.c, [(0, 1.5), (4, -1.0)]);
        assert_eq!(m.c0, 2.0);
        assert_eq!(m.a.len(), 5);
        assert_eq!(m.b, [(0, -1.0), (3, 0.5)]);
    }

    #[test]
    fn conversion_blocks_and_signs() {
        let m = parse(SMALL.as_bytes()).unwrap();
        let (p, origins) = convert(&m);
        p.validate().unwrap();
        assert_eq!(
            p.cones,
            [ConeBlock::Zero(1), ConeBlock::Nonneg(3), ConeBlock::SecondOrder(3), ConeBlock::SecondOrder(3)]
        );
        let o = |part, block, offset| RowOrigin { part, block, offset };
        assert_eq!(
            origins,
            [
                o(Part::Con, 0, 0),
                o(Part::Con, 2, 0),
                o(Part::Con, 2, 1),
                o(Part::Var, 0, 0),
                o(Part::Con, 1, 0),
                o(Part::Con, 1, 1),
                o(Part::Con, 1, 2),
                o(Part::Var, 1, 0),
                o(Part::Var, 1, 1),
                o(Part::Var, 1, 2),
            ]
        );
        // L=: g0 = x0 − 1 → row −x0, b = −1.  L−: −g4 = −x3 ≥ 0 → row +x3, b = 0;
        // −g5 = x4 ≥ 0 → row −x4.  L+ on x0 → row −x0.
        // QR on x1..x3: (x1 + x2, x1 − x2, √2 x3) → rows −(x1+x2), −(x1−x2), −√2 x3.
        let s2 = std::f64::consts::SQRT_2;
        let mut entries = p.a.entries.clone();
        entries.sort_by(|a, b| (a.0, a.1).partial_cmp(&(b.0, b.1)).unwrap());
        assert_eq!(
            entries,
            [
                (0, 0, -1.0),
                (1, 3, 1.0),
                (2, 4, -1.0),
                (3, 0, -1.0),
                (4, 1, -2.0),
                (5, 2, -3.0),
                (7, 1, -1.0),
                (7, 2, -1.0),
                (8, 1, -1.0),
                (8, 2, 1.0),
                (9, 3, -s2),
            ]
        );
        assert_eq!(p.b, [-1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.5, 0.0, 0.0, 0.0]);
        assert_eq!(p.q, [-1.5, 0.0, 0.0, 0.0, 1.0]);
        assert_eq!(p.c0, -2.0);
    }

    fn error(text: &str) -> (usize, String) {
        match parse(text.as_bytes()) {
            Err(ReadError::Syntax { line, message }) => (line, message),
            other => panic!("expected an error, got {other:?}"),
        }
    }

    #[test]
    fn errors_name_the_line() {
        let (line, msg) = error("VER\n1\nVAR\n2 1\nF 2\nOBJACOORD\n1\n0 1.o\n");
        assert_eq!(line, 8);
        assert!(msg.contains("bad number `1.o`"), "{msg}");

        let (line, msg) = error("VER\n1\nVAR\n2 1\nF 2\nCON\n1 1\nL+ 1\nACOORD\n3\n0 0 1\n0 1 1\n");
        assert_eq!(line, 13);
        assert!(msg.contains("ends inside ACOORD"), "{msg}");

        let (line, msg) = error("VER\n1\nVAR\n2 1\nF 2\nPSDVAR\n1\n2\n");
        assert_eq!(line, 6);
        assert!(msg.contains("semidefinite"), "{msg}");

        let (line, msg) = error("VER\n1\nVAR\n2 1\nF 2\nINT\n1\n0\n");
        assert_eq!(line, 6);
        assert!(msg.contains("integer"), "{msg}");

        let (line, msg) = error("VER\n1\nFOO\n");
        assert_eq!(line, 3);
        assert!(msg.contains("unknown section `FOO`"), "{msg}");

        let (line, msg) = error("VER\n1\nVAR\n3 2\nF 2\nQ 2\n");
        assert_eq!(line, 4);
        assert!(msg.contains("cover 4"), "{msg}");

        let (line, msg) = error("VER\n1\nVAR\n3 1\nEXP 3\n");
        assert_eq!(line, 5);
        assert!(msg.contains("`EXP`"), "{msg}");

        let (line, msg) = error("VER\n1\nVAR\n2 1\nF 2\nCON\n1 1\nL+ 1\nACOORD\n1\n1 0 1.0\n");
        assert_eq!(line, 11);
        assert!(msg.contains("constraint row index 1 is out of range"), "{msg}");

        let (line, msg) = error("# only a comment\nVAR\n1 1\nF 1\n");
        assert_eq!(line, 2);
        assert!(msg.contains("must start with VER"), "{msg}");

        let (line, msg) = error("VER\n7\n");
        assert_eq!(line, 2);
        assert!(msg.contains("version 7"), "{msg}");

        let (line, _) = error("");
        assert_eq!(line, 1);
    }

    #[test]
    fn never_panics_on_mangled_input() {
        let bytes = SMALL.as_bytes();
        for cut in 0..bytes.len() {
            let _ = parse(&bytes[..cut]);
        }
        for (i, sub) in [(10usize, b'x'), (30, 0xff), (60, b'\n'), (90, b'-'), (120, b'9')] {
            let mut v = bytes.to_vec();
            v[i % bytes.len()] = sub;
            let _ = parse(&v);
        }
    }
}
