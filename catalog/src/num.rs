//! Decimal literals as exact type-level constants `Dec<M, E>` (the value `M·10^E`).
//!
//! `gdf::konst::Dec` computes its `f64` as `M as f64 * 10^E` (or `/ 10^-E`) with `10^|E|`
//! built by repeated multiplication. When `|M| < 2^53` and `|E| <= 22` both operands are
//! exact, so the one rounding of the product or quotient gives the correctly rounded value
//! of the decimal: bit for bit the `f64` the literal parses to. Literals outside that range
//! are refused, not rounded.

/// `2^53`: mantissas below it are exact in an `f64`.
const EXACT: u128 = 1 << 53;
/// The largest power of ten that is exact in an `f64`.
const MAX_EXP: i32 = 22;

/// A decimal `±m·10^e` in its canonical form: `m` has no trailing zeros (zero is `0·10^0`),
/// so equal values give equal types.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decimal {
    /// The sign (never set on zero).
    pub neg: bool,
    /// The mantissa `m < 2^53`, without trailing zeros.
    pub m: u64,
    /// The exponent `e`, within `-22..=22`.
    pub e: i32,
}

impl Decimal {
    /// The value, computed as `gdf::konst::Dec` computes it.
    pub fn f64(self) -> f64 {
        let mut p = 1.0f64;
        for _ in 0..self.e.unsigned_abs() {
            p *= 10.0;
        }
        let m = self.m as f64;
        let v = if self.e >= 0 { m * p } else { m / p };
        if self.neg {
            -v
        } else {
            v
        }
    }

    /// The signed mantissa.
    pub fn mantissa(self) -> i128 {
        if self.neg {
            -(self.m as i128)
        } else {
            self.m as i128
        }
    }
}

/// Parses the decimal digits of a literal (`"0.008"`, `"1e-9"`, `"1000"`, no `_`, no
/// suffix) with a sign into its exact `Dec` form, or says why it cannot be encoded exactly.
pub fn parse(neg: bool, digits: &str) -> Result<Decimal, String> {
    let (mant, exp) = match digits.find(['e', 'E']) {
        Some(i) => {
            let e: i32 = digits[i + 1..]
                .parse()
                .map_err(|_| format!("cannot read the exponent of `{digits}`"))?;
            (&digits[..i], e)
        }
        None => (digits, 0),
    };
    let (int, frac) = match mant.find('.') {
        Some(i) => (&mant[..i], &mant[i + 1..]),
        None => (mant, ""),
    };
    if !int.chars().chain(frac.chars()).all(|c| c.is_ascii_digit()) {
        return Err(format!("`{digits}` is not a decimal number"));
    }
    let all: String = format!("{int}{frac}");
    let all = all.trim_start_matches('0');
    let mut e = i64::from(exp) - frac.len() as i64;
    let trimmed = all.trim_end_matches('0');
    e += (all.len() - trimmed.len()) as i64;
    let shown = format!("{}{digits}", if neg { "-" } else { "" });
    if trimmed.is_empty() {
        if neg {
            return Err(format!(
                "`{shown}` is negative zero, which a type-level constant cannot hold (it \
                 would be +0.0); write `0.0`"
            ));
        }
        return Ok(Decimal {
            neg: false,
            m: 0,
            e: 0,
        });
    }
    let too_many = || {
        format!(
            "`{shown}` has more significant digits than a type-level constant holds exactly \
             (the mantissa must stay below 2^53, about 15 digits); shorten it"
        )
    };
    if trimmed.len() > 30 {
        return Err(too_many());
    }
    let mut m: u128 = trimmed.parse().map_err(|_| too_many())?;
    if m >= EXACT {
        return Err(too_many());
    }
    // Exponents above 22 may still be exact with a longer mantissa (1e30 = 10^8·10^22).
    while e > i64::from(MAX_EXP) && m * 10 < EXACT {
        m *= 10;
        e -= 1;
    }
    if e > i64::from(MAX_EXP) || e < -i64::from(MAX_EXP) {
        return Err(format!(
            "`{shown}` is out of the range a type-level constant encodes exactly (a \
             mantissa below 2^53 times 10^-22 ..= 10^22)"
        ));
    }
    let d = Decimal {
        neg,
        m: m as u64,
        e: e as i32,
    };
    // The argument above, checked: the constant equals the parsed literal bit for bit.
    let parsed: f64 = shown
        .parse()
        .map_err(|_| format!("`{shown}` is not a number"))?;
    if parsed.to_bits() != d.f64().to_bits() {
        return Err(format!(
            "`{shown}` cannot be encoded exactly as a type-level constant"
        ));
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(neg: bool, s: &str) -> (i128, i32) {
        let d = parse(neg, s).unwrap();
        (d.mantissa(), d.e)
    }

    #[test]
    fn canonical() {
        assert_eq!(ok(false, "0.008"), (8, -3));
        assert_eq!(ok(false, "0.9999"), (9999, -4));
        assert_eq!(ok(false, "1e-4"), (1, -4));
        assert_eq!(ok(false, "0.0001"), (1, -4));
        assert_eq!(ok(false, "80.0"), (8, 1));
        assert_eq!(ok(false, "80"), (8, 1));
        assert_eq!(ok(true, "10.0"), (-1, 1));
        assert_eq!(ok(true, "1.2"), (-12, -1));
        assert_eq!(ok(false, "0"), (0, 0));
        assert_eq!(ok(false, "0.0"), (0, 0));
        assert_eq!(ok(false, "1000000000.0"), (1, 9));
        assert_eq!(ok(false, "1e30"), (100_000_000, 22));
        assert_eq!(ok(false, "0.00085"), (85, -5));
    }

    #[test]
    fn exact_values() {
        for s in [
            "0.1",
            "0.3",
            "0.008",
            "1e-7",
            "1e7",
            "123456.789",
            "2.5e-10",
            "1e22",
        ] {
            let d = parse(false, s).unwrap();
            assert_eq!(d.f64(), s.parse::<f64>().unwrap(), "{s}");
        }
    }

    #[test]
    fn refused() {
        assert!(parse(false, "0.12345678901234567").is_err());
        assert!(parse(false, "1e-30").is_err());
        assert!(parse(false, "1e300").is_err());
        assert!(parse(true, "0.0").is_err());
    }
}
