//! How figures read on screen: durations with a unit that keeps them short, rates, counts, and text cut to a
//! width without splitting a character.

/// Durations (in at most 7 characters: `812 µs`, `4.2 ms`, `38 ms`, `2.51 s`, `1m 05s`) and ratios (`7.9 %`),
/// by the rule the collector's own sentences use.
pub use protocol::units::{ms, percent};

/// A rate a second: `0.4/s`, `12/s`, `1.2k/s`.
pub fn per_second(rate: f64) -> String {
    if rate < 10.0 {
        format!("{rate:.1}/s")
    } else if rate < 10_000.0 {
        format!("{rate:.0}/s")
    } else {
        format!("{:.1}k/s", rate / 1000.0)
    }
}

/// A count: `812`, `12.3k`, `4.1M`.
pub fn count(n: u64) -> String {
    if n < 10_000 {
        n.to_string()
    } else if n < 10_000_000 {
        format!("{:.1}k", n as f64 / 1e3)
    } else {
        format!("{:.1}M", n as f64 / 1e6)
    }
}

/// `text` cut to `width` characters, ending in `…` when cut.
pub fn fit(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_owned();
    }
    if width == 0 {
        return String::new();
    }
    let mut out: String = text.chars().take(width - 1).collect();
    out.push('…');
    out
}

/// A count and its noun, singular or plural: `1 error`, `3 errors`.
pub fn counted(n: u64, noun: &str) -> String {
    match n {
        1 => format!("1 {noun}"),
        n => format!("{n} {noun}s"),
    }
}

/// Unix nanoseconds as the UTC time of day, `14:03:07.250`: traces of a workshop are minutes apart, and the
/// date adds nothing on a screen this small.
pub fn clock(unix_nano: u64) -> String {
    let ms_of_day = (unix_nano / 1_000_000) % 86_400_000;
    let (h, rest) = (ms_of_day / 3_600_000, ms_of_day % 3_600_000);
    let (m, rest) = (rest / 60_000, rest % 60_000);
    format!("{h:02}:{m:02}:{:02}.{:03}", rest / 1000, rest % 1000)
}

/// Sender text made safe to draw: what `protocol::text` calls unsafe (a terminal escape sequence, a newline
/// in a message) becomes spaces, so nothing a service sends can move the cursor or break a row.
pub fn clean(text: &str) -> String {
    protocol::text::for_cells(text).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_short() {
        let cases = [
            (0.0, "0 ms"),
            (0.812, "812 µs"),
            (4.24, "4.2 ms"),
            (38.4, "38 ms"),
            (2515.5, "2.52 s"),
            (65_000.0, "1m 05s"),
        ];
        for (value, expected) in cases {
            assert_eq!(ms(value), expected, "{value}");
        }
    }

    #[test]
    fn fit_cuts_on_characters() {
        assert_eq!(fit("SELECT … FROM x", 8), "SELECT …");
        assert_eq!(fit("short", 8), "short");
        assert_eq!(fit("ééééé", 3), "éé…");
    }

    #[test]
    fn clean_removes_escapes() {
        assert_eq!(clean("a\x1b[2Jb\nc"), "a [2Jb c");
    }

    #[test]
    fn figures() {
        assert_eq!(percent(0.0792), "7.9 %");
        assert_eq!(percent(1.0), "100 %");
        assert_eq!(per_second(0.42), "0.4/s");
        assert_eq!(per_second(12_345.0), "12.3k/s");
        assert_eq!(count(12_345), "12.3k");
        assert_eq!(clock(1_700_000_007_250_000_000), "22:13:27.250");
    }
}
