//! Exact decimal amounts: the USD text of a price table becomes integer micro-dollars per
//! million tokens, and multipliers scale those integers without ever touching `f64`.

use std::fmt;

/// Why a decimal text was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DecimalError {
    /// Not plain digits with an optional fraction (`"abc"`, `"1e3"`, `".5"`, `"$1"`).
    NotDecimal,
    /// A minus sign: prices and factors are never negative.
    Negative,
    /// More significant decimals than the scale can hold exactly.
    TooPrecise,
    /// The scaled integer does not fit in an `i64`.
    TooLarge,
}

/// Parses an unsigned decimal such as `"0.1225"` into the integer `value × 10^scale`.
///
/// Trailing zeros beyond the scale are fine (`"0.200"` at scale 2 is 20); any other digit
/// beyond it would need rounding, which is refused.
pub(crate) fn parse_scaled(text: &str, scale: u32) -> Result<i64, DecimalError> {
    if text.starts_with('-') {
        return Err(DecimalError::Negative);
    }
    let (whole, fraction) = match text.split_once('.') {
        Some((whole, fraction)) => (whole, fraction),
        None => (text, ""),
    };
    let all_digits = |part: &str| part.bytes().all(|byte| byte.is_ascii_digit());
    let has_dot = text.contains('.');
    if whole.is_empty()
        || !all_digits(whole)
        || !all_digits(fraction)
        || (has_dot && fraction.is_empty())
    {
        return Err(DecimalError::NotDecimal);
    }
    let kept_len = fraction.len().min(scale as usize);
    let (kept, dropped) = fraction.split_at(kept_len);
    if dropped.bytes().any(|byte| byte != b'0') {
        return Err(DecimalError::TooPrecise);
    }
    let mut value: i64 = 0;
    let digits = whole.bytes().chain(kept.bytes());
    let padding = std::iter::repeat_n(b'0', scale as usize - kept_len);
    for digit in digits.chain(padding) {
        value = value
            .checked_mul(10)
            .and_then(|shifted| shifted.checked_add(i64::from(digit - b'0')))
            .ok_or(DecimalError::TooLarge)?;
    }
    Ok(value)
}

/// Micro-dollars shown as plain USD for messages and derivation texts: `122500` → `0.1225`.
pub(crate) struct Usd(pub i64);

impl fmt::Display for Usd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}",
            Scaled {
                value: self.0,
                scale: 6
            }
        )
    }
}

/// An integer `value × 10^-scale` shown in shortest decimal form (`1_750_000`, 6 → `1.75`).
pub(super) struct Scaled {
    pub value: i64,
    pub scale: u32,
}

impl fmt::Display for Scaled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let divisor = 10_i64.pow(self.scale);
        let sign = if self.value < 0 { "-" } else { "" };
        let magnitude = self.value.unsigned_abs();
        let whole = magnitude / divisor.unsigned_abs();
        let fraction = magnitude % divisor.unsigned_abs();
        if fraction == 0 {
            return write!(f, "{sign}{whole}");
        }
        let digits = format!("{fraction:0width$}", width = self.scale as usize);
        write!(f, "{sign}{whole}.{}", digits.trim_end_matches('0'))
    }
}

/// A positive multiplier held as `millionths / 1_000_000`, e.g. 1.75 = 1_750_000.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Factor {
    millionths: i64,
}

/// Decimal places a factor may have.
pub(super) const FACTOR_SCALE: u32 = 6;
const FACTOR_ONE: i128 = 1_000_000;

/// Why `rate × factor` has no exact answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ScaleError {
    /// The product is not a whole number of micro-dollars.
    NotWhole,
    TooLarge,
}

impl Factor {
    pub(super) fn from_millionths(millionths: i64) -> Factor {
        Factor { millionths }
    }

    pub(super) fn is_zero(self) -> bool {
        self.millionths == 0
    }

    /// `micros × factor`, exactly, or an error when that would need rounding.
    pub(super) fn apply(self, micros: i64) -> Result<i64, ScaleError> {
        let product = i128::from(micros) * i128::from(self.millionths);
        if product % FACTOR_ONE != 0 {
            return Err(ScaleError::NotWhole);
        }
        i64::try_from(product / FACTOR_ONE).map_err(|_| ScaleError::TooLarge)
    }

    /// `micros × factor` as exact decimal text, for the message that refuses it.
    pub(super) fn exact_product_text(self, micros: i64) -> String {
        let product = i128::from(micros) * i128::from(self.millionths);
        match i64::try_from(product) {
            Ok(value) => Scaled { value, scale: 12 }.to_string(),
            Err(_) => "an amount too large to hold".to_string(),
        }
    }
}

impl fmt::Display for Factor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}",
            Scaled {
                value: self.millionths,
                scale: FACTOR_SCALE
            }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_scale_exactly() {
        assert_eq!(parse_scaled("0.1225", 6), Ok(122_500));
        assert_eq!(parse_scaled("0.20", 6), Ok(200_000));
        assert_eq!(parse_scaled("3", 6), Ok(3_000_000));
        assert_eq!(parse_scaled("21.875", 6), Ok(21_875_000));
        assert_eq!(parse_scaled("0.000001", 6), Ok(1));
        assert_eq!(parse_scaled("0.0001225", 9), Ok(122_500));
        assert_eq!(parse_scaled("0.100000000", 6), Ok(100_000));
        assert_eq!(parse_scaled("0", 6), Ok(0));
    }

    #[test]
    fn inexact_or_malformed_decimals_are_refused() {
        assert_eq!(parse_scaled("0.0000001", 6), Err(DecimalError::TooPrecise));
        assert_eq!(parse_scaled("0.1234567", 6), Err(DecimalError::TooPrecise));
        assert_eq!(parse_scaled("-0.5", 6), Err(DecimalError::Negative));
        for bad in [
            "abc", "", ".5", "5.", "1e3", "$1", " 1", "1,5", "+1", "1.2.3", "NaN", "inf",
        ] {
            assert_eq!(
                parse_scaled(bad, 6),
                Err(DecimalError::NotDecimal),
                "{bad:?}"
            );
        }
        assert_eq!(
            parse_scaled("9223372036854.775808", 6),
            Err(DecimalError::TooLarge)
        );
        assert_eq!(parse_scaled("9223372036854.775807", 6), Ok(i64::MAX));
    }

    #[test]
    fn usd_and_factors_display_in_shortest_form() {
        assert_eq!(Usd(122_500).to_string(), "0.1225");
        assert_eq!(Usd(200_000).to_string(), "0.2");
        assert_eq!(Usd(3_000_000).to_string(), "3");
        assert_eq!(Usd(1).to_string(), "0.000001");
        assert_eq!(Factor::from_millionths(1_750_000).to_string(), "1.75");
        assert_eq!(Factor::from_millionths(500_000).to_string(), "0.5");
    }

    #[test]
    fn factors_multiply_exactly_or_refuse() {
        let priority = Factor::from_millionths(1_750_000);
        assert_eq!(priority.apply(200_000), Ok(350_000));
        assert_eq!(priority.apply(70_000), Ok(122_500));
        assert_eq!(priority.apply(200_001), Err(ScaleError::NotWhole));
        assert_eq!(priority.exact_product_text(200_001), "0.35000175");
        let flex = Factor::from_millionths(500_000);
        assert_eq!(flex.apply(1), Err(ScaleError::NotWhole));
        assert_eq!(
            Factor::from_millionths(2_000_000).apply(i64::MAX),
            Err(ScaleError::TooLarge)
        );
    }
}
