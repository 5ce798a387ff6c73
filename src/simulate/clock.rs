//! UTC calendar arithmetic on Unix milliseconds, and the clock that spreads simulated traffic
//! over a time range with a daily and weekly rhythm.
//!
//! The date math is Howard Hinnant's `days_from_civil` / `civil_from_days`: pure integer
//! arithmetic with no failure cases, so formatting a timestamp never needs an `Option`.

use rand::RngExt;

use super::sample::SimRng;

pub(super) const MS_PER_SECOND: i64 = 1_000;
pub(super) const MS_PER_HOUR: i64 = 3_600_000;
pub(super) const MS_PER_DAY: i64 = 86_400_000;

/// Days since 1970-01-01 of a proleptic Gregorian date.
pub(super) fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let month = i64::from(month);
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let shifted_month = if month > 2 { month - 3 } else { month + 9 };
    let day_of_year = (153 * shifted_month + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The (year, month, day) of a day count since 1970-01-01.
pub(super) fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let shifted = days + 719_468;
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    // Both values are small and non-negative by construction (1..=31 and 1..=12).
    let day = (day_of_year - (153 * shifted_month + 2) / 5 + 1) as u32;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Milliseconds of 00:00 UTC on the first day of a month. Months outside 1–12 roll over into
/// neighbouring years (month 13 of 2025 is January 2026), so every input has an answer.
pub(super) fn month_start_ms(year: i32, month: u32) -> i64 {
    let months_since_year_zero = i64::from(year) * 12 + i64::from(month) - 1;
    let year = months_since_year_zero.div_euclid(12);
    let month = months_since_year_zero.rem_euclid(12) as u32 + 1;
    days_from_civil(year, month, 1) * MS_PER_DAY
}

/// A UTC instant broken into calendar fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct UtcTime {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    pub millis: u32,
}

impl UtcTime {
    pub fn from_ms(ms: i64) -> UtcTime {
        let days = ms.div_euclid(MS_PER_DAY);
        let ms_of_day = ms.rem_euclid(MS_PER_DAY);
        let (year, month, day) = civil_from_days(days);
        UtcTime {
            year,
            month,
            day,
            hour: (ms_of_day / MS_PER_HOUR) as u32,
            minute: (ms_of_day / 60_000 % 60) as u32,
            second: (ms_of_day / MS_PER_SECOND % 60) as u32,
            millis: (ms_of_day % MS_PER_SECOND) as u32,
        }
    }

    /// `2025-03-11T00:38:02Z`: the form Bedrock writes in `timestamp` (whole seconds).
    pub fn rfc3339_seconds(&self) -> String {
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }

    /// `20241120T164851056Z`: the stamp that starts an S3 log file name.
    pub fn compact_stamp(&self) -> String {
        format!(
            "{:04}{:02}{:02}T{:02}{:02}{:02}{:03}Z",
            self.year, self.month, self.day, self.hour, self.minute, self.second, self.millis
        )
    }

    /// `2024/11/20/16`: the hour folder of the S3 layout.
    pub fn hour_path(&self) -> String {
        format!(
            "{:04}/{:02}/{:02}/{:02}",
            self.year, self.month, self.day, self.hour
        )
    }
}

/// Hour of day (0–23, UTC) of an instant.
pub(super) fn hour_of_day(ms: i64) -> u32 {
    (ms.rem_euclid(MS_PER_DAY) / MS_PER_HOUR) as u32
}

/// True on Saturday and Sunday (UTC).
pub(super) fn is_weekend(ms: i64) -> bool {
    // 1970-01-01 was a Thursday: day 0 → 4 in a Sunday-first week.
    let weekday = (ms.div_euclid(MS_PER_DAY) + 4).rem_euclid(7);
    weekday == 0 || weekday == 6
}

/// Relative request rate by UTC hour. The simulated teams work US hours, so traffic peaks in
/// the UTC afternoon and evening and is lowest around 06–09 UTC (US night).
const HOURLY_RATE: [f64; 24] = [
    0.90, 0.78, 0.62, 0.48, 0.38, 0.30, 0.25, 0.22, 0.22, 0.25, 0.32, 0.42, //
    0.55, 0.70, 0.85, 0.95, 1.00, 1.00, 0.97, 0.97, 1.00, 0.98, 0.95, 0.92,
];

/// Weekend traffic relative to a weekday.
const WEEKEND_RATE: f64 = 0.35;

/// Request rate (relative) at an instant: the daily curve, damped at weekends.
pub(super) fn traffic_rate(ms: i64) -> f64 {
    let weekday_factor = if is_weekend(ms) { WEEKEND_RATE } else { 1.0 };
    HOURLY_RATE[hour_of_day(ms) as usize] * weekday_factor
}

/// One clipped hour of the simulated range and the cumulative traffic weight at its end.
#[derive(Debug, Clone, Copy)]
struct HourBucket {
    start_ms: i64,
    len_ms: i64,
    cumulative_weight_end: f64,
}

/// Hands out `count` timestamps in non-decreasing order over `[start, end)`, distributed like
/// the traffic rate.
///
/// Record `i` gets the quantile `(i + jitter) / count` of the rate's distribution (stratified
/// sampling): the result is random-looking but already sorted, so no buffering or sorting is
/// needed however many records are made. The distribution is piecewise constant per hour, one
/// bucket per hour of the range.
pub(super) struct TrafficClock {
    buckets: Vec<HourBucket>,
    total_weight: f64,
    cursor: usize,
    issued: u64,
    count: u64,
    end_ms: i64,
}

impl TrafficClock {
    /// `start_ms < end_ms` is the caller's job (the spec is validated first).
    pub fn new(start_ms: i64, end_ms: i64, count: u64) -> TrafficClock {
        let mut buckets = Vec::new();
        let mut cumulative = 0.0;
        let mut hour_start = start_ms.div_euclid(MS_PER_HOUR) * MS_PER_HOUR;
        while hour_start < end_ms {
            let from = hour_start.max(start_ms);
            let to = hour_start.saturating_add(MS_PER_HOUR).min(end_ms);
            cumulative += traffic_rate(hour_start) * (to - from) as f64;
            buckets.push(HourBucket {
                start_ms: from,
                len_ms: to - from,
                cumulative_weight_end: cumulative,
            });
            hour_start = to;
        }
        TrafficClock {
            buckets,
            total_weight: cumulative,
            cursor: 0,
            issued: 0,
            count: count.max(1),
            end_ms,
        }
    }

    /// The next timestamp in milliseconds (never before the previous one).
    pub fn next_ms(&mut self, rng: &mut SimRng) -> i64 {
        let jitter: f64 = rng.random();
        let quantile = ((self.issued as f64 + jitter) / self.count as f64).min(1.0);
        self.issued += 1;
        let target = quantile * self.total_weight;
        while self.cursor + 1 < self.buckets.len()
            && self.buckets[self.cursor].cumulative_weight_end < target
        {
            self.cursor += 1;
        }
        let Some(bucket) = self.buckets.get(self.cursor) else {
            return self.end_ms - 1;
        };
        let weight_before = match self.cursor {
            0 => 0.0,
            n => self.buckets[n - 1].cumulative_weight_end,
        };
        let bucket_weight = bucket.cumulative_weight_end - weight_before;
        let fraction = if bucket_weight > 0.0 {
            ((target - weight_before) / bucket_weight).clamp(0.0, 1.0)
        } else {
            0.0
        };
        let offset = (fraction * bucket.len_ms as f64) as i64;
        (bucket.start_ms + offset).min(self.end_ms - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn civil_conversions_match_chrono() {
        for days in (-800_000..800_000).step_by(997) {
            let (year, month, day) = civil_from_days(days);
            let date = chrono::DateTime::from_timestamp(days * 86_400, 0)
                .unwrap()
                .date_naive();
            use chrono::Datelike;
            assert_eq!(
                (year, month, day),
                (i64::from(date.year()), date.month(), date.day())
            );
            assert_eq!(days_from_civil(year, month, day), days);
        }
    }

    #[test]
    fn formats_like_bedrock_and_s3() {
        let time = UtcTime::from_ms(1_732_121_331_056); // 2024-11-20T16:48:51.056Z
        assert_eq!(time.rfc3339_seconds(), "2024-11-20T16:48:51Z");
        assert_eq!(time.compact_stamp(), "20241120T164851056Z");
        assert_eq!(time.hour_path(), "2024/11/20/16");
    }

    #[test]
    fn month_start_rolls_over_years() {
        assert_eq!(month_start_ms(2025, 1), 1_735_689_600_000);
        assert_eq!(month_start_ms(2025, 13), month_start_ms(2026, 1));
        assert_eq!(month_start_ms(2025, 0), month_start_ms(2024, 12));
        assert_eq!(month_start_ms(10_000, 1), 253_402_300_800_000);
    }

    #[test]
    fn weekend_detection() {
        let saturday = days_from_civil(2025, 3, 15) * MS_PER_DAY;
        let monday = days_from_civil(2025, 3, 17) * MS_PER_DAY;
        assert!(is_weekend(saturday));
        assert!(!is_weekend(monday));
    }

    #[test]
    fn clock_is_sorted_in_range_and_follows_the_rhythm() {
        let start = month_start_ms(2025, 3);
        let end = month_start_ms(2025, 4);
        let mut clock = TrafficClock::new(start, end, 50_000);
        let mut rng = SimRng::seed_from_u64(7);
        let mut previous = i64::MIN;
        let mut by_hour = [0u32; 24];
        let (mut weekday, mut weekend) = (0u32, 0u32);
        for _ in 0..50_000 {
            let t = clock.next_ms(&mut rng);
            assert!(t >= previous && t >= start && t < end);
            previous = t;
            by_hour[hour_of_day(t) as usize] += 1;
            if is_weekend(t) {
                weekend += 1
            } else {
                weekday += 1
            }
        }
        // Peak hours carry several times the traffic of the quietest ones.
        assert!(by_hour[17] > 3 * by_hour[7], "{by_hour:?}");
        // March 2025 has 21 weekdays and 10 weekend days; weekend days are quieter.
        let per_weekday = f64::from(weekday) / 21.0;
        let per_weekend_day = f64::from(weekend) / 10.0;
        assert!(per_weekend_day < 0.5 * per_weekday);
        // The last timestamps reach the end of the range.
        assert!(previous > end - 6 * MS_PER_HOUR);
    }

    #[test]
    fn clock_handles_a_range_shorter_than_an_hour() {
        let mut clock = TrafficClock::new(1_000, 61_000, 10);
        let mut rng = SimRng::seed_from_u64(1);
        for _ in 0..10 {
            let t = clock.next_ms(&mut rng);
            assert!((1_000..61_000).contains(&t));
        }
    }
}
