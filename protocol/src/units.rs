//! How a duration or a ratio is written wherever a person reads it (the dashboard, the text report, the
//! deployments' comparisons, which the collector writes as sentences): one rule, so the same figure reads the
//! same in every place it appears.

/// A duration given in milliseconds: `522 µs`, `1.4 ms`, `43 ms`, `2.51 s`, `1m 05s`.
pub fn ms(value: f64) -> String {
    // Each unit is chosen for the value as it will be rounded, so 999.6 ms reads 1.00 s, not 1000 ms.
    if !value.is_finite() || value <= 0.0 {
        "0 ms".to_owned()
    } else if value < 0.9995 {
        format!("{:.0} µs", value * 1000.0)
    } else if value < 9.95 {
        format!("{value:.1} ms")
    } else if value < 999.5 {
        format!("{value:.0} ms")
    } else if value < 59_995.0 {
        format!("{:.2} s", value / 1000.0)
    } else {
        let seconds = (value / 1000.0).round() as u64;
        format!("{}m {:02}s", seconds / 60, seconds % 60)
    }
}

/// A ratio as a percentage: `0.0 %`, `7.9 %`, `100 %`.
pub fn percent(rate: f64) -> String {
    let p = rate * 100.0;
    if p >= 99.95 {
        "100 %".to_owned()
    } else {
        format!("{p:.1} %")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_ratios_read_the_same_everywhere() {
        for (value, written) in [
            (0.0, "0 ms"),
            (0.522, "522 µs"),
            (1.44, "1.4 ms"),
            (43.2, "43 ms"),
            (2512.0, "2.51 s"),
            (65_000.0, "1m 05s"),
            (0.9996, "1.0 ms"),
            (9.96, "10 ms"),
            (999.6, "1.00 s"),
            (59_999.0, "1m 00s"),
        ] {
            assert_eq!(ms(value), written);
        }
        assert_eq!(percent(0.0), "0.0 %");
        assert_eq!(percent(0.079), "7.9 %");
        assert_eq!(percent(0.99951), "100 %");
    }
}
