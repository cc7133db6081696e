//! Readers for standard problem formats (test sets and benchmarks), each a raw
//! model of the file plus a conversion to the conic standard form
//! [`ConeProgram`]:
//!
//! ```text
//! minimize ½ xᵀPx + qᵀx + c0   subject to   Ax + s = b,  s ∈ K
//! ```
//!
//! - [`mps`]: fixed-column MPS and QPS (`QUADOBJ`): `min c0 + cᵀx + ½xᵀQx` subject to
//!   `lo ≤ a_i·x ≤ hi` per row and `l ≤ x ≤ u`.
//! - [`cbf`]: the Conic Benchmark Format (versions 1–3, linear and second-order
//!   cones): `min cᵀx + c0` subject to `x ∈ K_var`, `Ax + b ∈ K_con`.
//!
//! Sign conventions of the conversions (the row `a` and entry `b` of the cone
//! program, with `s = b − a·x`):
//!
//! | source constraint | cone | row | b |
//! |---|---|---|---|
//! | `a·x = v` (MPS `E`, a range with lo = hi, a fixed variable) | Zero | `a` | `v` |
//! | `a·x ≤ hi` | Nonneg | `a` | `hi` |
//! | `a·x ≥ lo` | Nonneg | `−a` | `−lo` |
//! | CBF `g = a·x + β ∈ L+`, `L=`, `Q` (per entry) | Nonneg, Zero, SecondOrder | `−a` | `β` |
//! | CBF `g ∈ L−` | Nonneg | `a` | `−β` |
//! | CBF `g ∈ QR` (`2g₁g₂ ≥ ‖g₃:d‖²`, `g₁, g₂ ≥ 0`) | SecondOrder of `(g₁+g₂, g₁−g₂, √2·g₃:d)` | | |
//!
//! Blocks come in the order Zero, Nonneg, then the second-order cones. Each
//! conversion also returns one origin per cone-program row, so a solution's slacks
//! and multipliers can be mapped back to the file's rows, bounds and cones.
//! A maximisation (`OBJSENSE MAX`) becomes the minimisation of `−f`: the cone
//! program's optimal value is then minus the file's.
//!
//! Readers never panic on bad input: every problem is a [`ReadError`] naming the
//! line.

pub mod cbf;
pub mod mps;

use std::fmt;
use std::path::{Path, PathBuf};

use crate::solve::ConeProgram;

/// The direction of optimisation written in the file (the default is minimise).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Sense {
    /// Minimise the objective.
    #[default]
    Minimize,
    /// Maximise it (converted to minimising its negative).
    Maximize,
}

/// Why a file could not be read.
#[derive(Debug)]
pub enum ReadError {
    /// The file could not be opened or read.
    Io {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        error: std::io::Error,
    },
    /// The text is malformed or uses an unsupported feature; `line` is 1-based.
    Syntax {
        /// The 1-based line.
        line: usize,
        /// What is wrong there.
        message: String,
    },
}

impl ReadError {
    pub(crate) fn at(line: usize, message: impl Into<String>) -> Self {
        ReadError::Syntax { line, message: message.into() }
    }

    /// The 1-based line the error points at (`None` for I/O errors).
    pub fn line(&self) -> Option<usize> {
        match self {
            ReadError::Io { .. } => None,
            ReadError::Syntax { line, .. } => Some(*line),
        }
    }
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::Io { path, error } => write!(f, "cannot read {}: {error}", path.display()),
            ReadError::Syntax { line, message } => write!(f, "line {line}: {message}"),
        }
    }
}

impl std::error::Error for ReadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ReadError::Io { error, .. } => Some(error),
            ReadError::Syntax { .. } => None,
        }
    }
}

/// A file read and converted: the raw model (names, rows, bounds, cones as
/// written), its cone program, and for each cone-program row where it came from.
#[derive(Clone, Debug)]
pub struct Loaded<M, O> {
    /// The file as written.
    pub model: M,
    /// The cone program it converts to.
    pub program: ConeProgram,
    /// One per row of `program.a` / `program.b`.
    pub origins: Vec<O>,
}

fn read_bytes(path: &Path) -> Result<Vec<u8>, ReadError> {
    std::fs::read(path).map_err(|error| ReadError::Io { path: path.to_path_buf(), error })
}

/// Reads a fixed-column MPS or QPS file and converts it ([`mps::parse`], [`mps::convert`]).
pub fn read_mps(path: impl AsRef<Path>) -> Result<Loaded<mps::MpsModel, mps::RowOrigin>, ReadError> {
    let model = mps::parse(&read_bytes(path.as_ref())?)?;
    let (program, origins) = mps::convert(&model);
    Ok(Loaded { model, program, origins })
}

/// Reads a CBF file and converts it ([`cbf::parse`], [`cbf::convert`]).
pub fn read_cbf(path: impl AsRef<Path>) -> Result<Loaded<cbf::CbfModel, cbf::RowOrigin>, ReadError> {
    let model = cbf::parse(&read_bytes(path.as_ref())?)?;
    let (program, origins) = cbf::convert(&model);
    Ok(Loaded { model, program, origins })
}
