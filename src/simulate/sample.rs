//! Random draws used by the simulator, all from one seeded ChaCha8 stream so a spec always
//! produces the same records. None of these panic, whatever the weights or ranges.

use rand::{Rng, RngExt};

/// The simulator's random source: seeded, portable, fast.
pub(super) type SimRng = rand_chacha::ChaCha8Rng;

/// True with probability `p` (values outside 0..=1 behave as never/always).
pub(super) fn chance(rng: &mut SimRng, p: f64) -> bool {
    rng.random::<f64>() < p
}

/// A uniform index below `len` (0 when `len` is 0).
pub(super) fn index(rng: &mut SimRng, len: usize) -> usize {
    if len <= 1 {
        0
    } else {
        rng.random_range(0..len)
    }
}

/// A uniform integer in `low..=high` (`low` when the range is empty).
pub(super) fn between(rng: &mut SimRng, low: u64, high: u64) -> u64 {
    if high <= low {
        low
    } else {
        rng.random_range(low..=high)
    }
}

/// One of `items`, chosen with probability proportional to `weight(item)`.
/// Falls back to the first item when all weights are zero; `None` only for an empty slice.
pub(super) fn pick_weighted<'a, T>(
    rng: &mut SimRng,
    items: &'a [T],
    weight: impl Fn(&T) -> f64,
) -> Option<&'a T> {
    items.get(pick_index(rng, items.len(), |i| weight(&items[i])))
}

/// An index below `len`, chosen with probability proportional to `weight(index)`; 0 when all
/// weights are zero (or `len` is 0).
pub(super) fn pick_index(rng: &mut SimRng, len: usize, weight: impl Fn(usize) -> f64) -> usize {
    let total: f64 = (0..len).map(|i| weight(i).max(0.0)).sum();
    let mut remaining = rng.random::<f64>() * total;
    for i in 0..len {
        let w = weight(i).max(0.0);
        if remaining < w {
            return i;
        }
        remaining -= w;
    }
    0
}

/// A standard normal draw (Box–Muller).
pub(super) fn standard_normal(rng: &mut SimRng) -> f64 {
    // 1 - u keeps the logarithm's argument in (0, 1].
    let u1 = 1.0 - rng.random::<f64>();
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// A log-normal draw with the given median and shape: most values near the median, a long
/// right tail (token counts and latencies look like this).
pub(super) fn log_normal(rng: &mut SimRng, median: f64, sigma: f64) -> f64 {
    median * (sigma * standard_normal(rng)).exp()
}

/// A log-normal factor with mean 1 (for noise that should not shift averages).
pub(super) fn mean_one_noise(rng: &mut SimRng, sigma: f64) -> f64 {
    (sigma * standard_normal(rng) - sigma * sigma / 2.0).exp()
}

/// A version-4-shaped UUID (`8-4-4-4-12` lowercase hex) from the random stream.
pub(super) fn uuid_v4(rng: &mut SimRng) -> String {
    let mut bytes = [0u8; 16];
    rng.fill_bytes(&mut bytes);
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let mut text = String::with_capacity(36);
    for (i, byte) in bytes.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            text.push('-');
        }
        push_hex_byte(&mut text, *byte);
    }
    text
}

/// `digits` lowercase hex digits from the random stream.
pub(super) fn hex_id(rng: &mut SimRng, digits: usize) -> String {
    let mut text = String::with_capacity(digits + 1);
    while text.len() < digits {
        push_hex_byte(&mut text, (rng.next_u32() & 0xff) as u8);
    }
    text.truncate(digits);
    text
}

fn push_hex_byte(text: &mut String, byte: u8) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    text.push(char::from(HEX[usize::from(byte >> 4)]));
    text.push(char::from(HEX[usize::from(byte & 0x0f)]));
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn uuid_has_version_and_variant() {
        let mut rng = SimRng::seed_from_u64(3);
        let id = uuid_v4(&mut rng);
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
        assert!(matches!(&id[19..20], "8" | "9" | "a" | "b"));
        assert_eq!(id.matches('-').count(), 4);
    }

    #[test]
    fn weighted_pick_follows_weights_and_never_panics() {
        let mut rng = SimRng::seed_from_u64(5);
        let items = [("a", 1.0), ("b", 3.0)];
        let b_count = (0..10_000)
            .filter(|_| pick_weighted(&mut rng, &items, |i| i.1).unwrap().0 == "b")
            .count();
        assert!((7_200..7_800).contains(&b_count), "{b_count}");
        let zero = [("z", 0.0)];
        assert_eq!(pick_weighted(&mut rng, &zero, |i| i.1).unwrap().0, "z");
        let empty: [(&str, f64); 0] = [];
        assert!(pick_weighted(&mut rng, &empty, |i| i.1).is_none());
        assert_eq!(index(&mut rng, 0), 0);
        assert_eq!(between(&mut rng, 5, 2), 5);
    }

    #[test]
    fn log_normal_median_is_close() {
        let mut rng = SimRng::seed_from_u64(9);
        let mut values: Vec<f64> = (0..5_001)
            .map(|_| log_normal(&mut rng, 100.0, 1.0))
            .collect();
        values.sort_by(f64::total_cmp);
        assert!((90.0..110.0).contains(&values[2_500]));
        let mean: f64 = (0..20_000)
            .map(|_| mean_one_noise(&mut rng, 0.5))
            .sum::<f64>()
            / 20_000.0;
        assert!((0.97..1.03).contains(&mean), "{mean}");
    }
}
