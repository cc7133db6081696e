//! Sums of products in twice the working precision: Ogita, Rump & Oishi's
//! `Dot2` ("Accurate sum and dot product", SIAM J. Sci. Comput. 26(6), 2005,
//! Algorithm 5.3). Each product is split exactly into its rounded value and
//! its error by an FMA (`TwoProduct`), the rounded values are added by Knuth's
//! `TwoSum`, and every error is collected in a second word; the result is as
//! accurate as if computed in double-double and rounded once, up to a term
//! `ε²·cond`. Used where a residual must be known below the working
//! precision's rounding of its terms: the active-set polish's Newton steps
//! converge to the point whose residuals they can see.

/// A running sum of products, the value in `hi` and the accumulated rounding
/// errors in `lo`.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Dot2 {
    hi: f64,
    lo: f64,
}

impl Dot2 {
    /// The sum so far is `v`.
    pub(crate) fn new(v: f64) -> Self {
        Dot2 { hi: v, lo: 0.0 }
    }

    /// `TwoSum(hi, v)`: the new `hi` and the exact error of the addition
    /// (Knuth, TAOCP vol. 2, §4.2.2, without a branch on magnitudes).
    #[inline]
    pub(crate) fn add(&mut self, v: f64) {
        let s = self.hi + v;
        let bv = s - self.hi;
        self.lo += (self.hi - (s - bv)) + (v - bv);
        self.hi = s;
    }

    /// `a·b` added: `TwoProduct(a, b) = (p, fma(a, b, −p))`, the error going
    /// straight to `lo`. A non-finite product is added as it is (its error
    /// term would be NaN).
    #[inline]
    pub(crate) fn add_product(&mut self, a: f64, b: f64) {
        let p = a * b;
        self.add(p);
        if p.is_finite() {
            self.lo += a.mul_add(b, -p);
        }
    }

    /// The sum, rounded once.
    pub(crate) fn value(self) -> f64 {
        self.hi + self.lo
    }
}

#[cfg(test)]
mod tests {
    use super::Dot2;

    /// A sum that cancels to one unit in the last place of its largest term,
    /// which plain summation loses entirely, against the exact answer.
    #[test]
    fn recovers_what_plain_summation_loses() {
        let terms = [(1e16, 1.0), (1.0, 1.0), (-1e16, 1.0), (3.0, 1.0 / 3.0)];
        let plain: f64 = terms.iter().map(|(a, b)| a * b).sum();
        let mut acc = Dot2::default();
        for &(a, b) in &terms {
            acc.add_product(a, b);
        }
        // 1e16 + 1 − 1e16 + 3·(1/3 rounded): the last product is
        // 1 − 2⁻⁵⁴ exactly (1/3 rounds down by 2⁻⁵⁴/3), so the sum is 2 − 2⁻⁵⁴,
        // which rounds to 2.
        assert_eq!(plain, 1.0);
        assert_eq!(acc.value(), 2.0);
    }

    /// A product's error term: `x·x` for `x = 1 + 2⁻³⁰` is `1 + 2⁻²⁹ + 2⁻⁶⁰`,
    /// whose last bit only the FMA split keeps.
    #[test]
    fn keeps_a_products_low_bits() {
        let x = 1.0 + 2f64.powi(-30);
        let mut acc = Dot2::new(-(1.0 + 2f64.powi(-29)));
        acc.add_product(x, x);
        assert_eq!(acc.value(), 2f64.powi(-60));
    }
}
