//! The smooth solvers' settings: one struct, a documented default per field,
//! validated once by [`solve`](super::solve). These are the options of
//! `solve using newton(...)` / `sqp(...)`.

use super::SmoothError;

/// The options of a smooth solve (see the module docs).
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    /// Tolerance on the scaled first-order residuals of
    /// [`Residuals`](super::Residuals) (stationarity, feasibility, λ ≥ 0,
    /// complementarity). Default 1e-9.
    pub tol: f64,
    /// Iteration limit (Newton steps, or primal-dual steps of the interior
    /// point method, restoration included). Default 200.
    pub max_iter: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Settings { tol: 1e-9, max_iter: 200 }
    }
}

impl Settings {
    /// Checks every field's range; names the first bad field. `tol` below
    /// 1e-14 cannot be met in double precision and is refused.
    pub fn validate(&self) -> Result<(), SmoothError> {
        if !(self.tol.is_finite() && self.tol >= 1e-14) {
            return Err(SmoothError::Settings(format!(
                "setting `tol` must be finite and at least 1e-14, found {}",
                self.tol
            )));
        }
        if self.max_iter == 0 {
            return Err(SmoothError::Settings("setting `max_iter` must be at least 1".into()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_bad_fields_are_named() {
        assert_eq!(Settings::default().validate(), Ok(()));
        assert!(Settings { tol: f64::NAN, ..Settings::default() }.validate().unwrap_err().to_string().contains("tol"));
        assert!(Settings { tol: 0.0, ..Settings::default() }.validate().unwrap_err().to_string().contains("tol"));
        assert!(Settings { max_iter: 0, ..Settings::default() }
            .validate()
            .unwrap_err()
            .to_string()
            .contains("max_iter"));
    }
}
