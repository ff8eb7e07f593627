//! How fast a replay goes: [`Speed`], and when it sends each request.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// Longest wait before one request; slower paces are capped rather than overflowing.
const MAX_DELAY: Duration = Duration::from_secs(365 * 24 * 3600);

/// How fast to replay.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Speed {
    /// Recorded gaps divided by this factor: 1 is the recorded pace, 10 is ten times faster.
    Factor(f64),
    /// No waiting at all; only the concurrency limit holds requests back.
    Max,
}

impl Default for Speed {
    fn default() -> Self {
        Speed::Factor(1.0)
    }
}

/// Why a speed could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid speed {0:?}: expected a positive factor such as 1, 10x or 0.5x, or \"max\"")]
pub struct ParseSpeedError(String);

impl FromStr for Speed {
    type Err = ParseSpeedError;

    /// Accepts `max`, or a positive number with an optional `x` suffix (`10`, `10x`, `0.5x`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("max") {
            return Ok(Speed::Max);
        }
        let number = s.strip_suffix(['x', 'X']).unwrap_or(s);
        match number.parse::<f64>() {
            Ok(factor) if factor.is_finite() && factor > 0.0 => Ok(Speed::Factor(factor)),
            _ => Err(ParseSpeedError(s.to_owned())),
        }
    }
}

impl fmt::Display for Speed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Speed::Factor(factor) => write!(f, "{factor}x"),
            Speed::Max => f.write_str("max"),
        }
    }
}

impl Speed {
    /// How long after the start of a pass to send a request recorded `offset_ns` after the
    /// first one; `None` means at once.
    pub(super) fn delay(self, offset_ns: u64) -> Option<Duration> {
        match self {
            Speed::Max => None,
            Speed::Factor(factor) => {
                let secs = offset_ns as f64 / 1e9 / factor;
                Some(Duration::try_from_secs_f64(secs).map_or(MAX_DELAY, |d| d.min(MAX_DELAY)))
            }
        }
    }
}
