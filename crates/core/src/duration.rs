//! Access durations written the way people say them: `30m`, `8h`, `7d`, `1h30m`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::DomainError;

/// A positive length of time, in whole seconds.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AccessDuration(i64);

impl AccessDuration {
    /// The longest duration anything may last: 100 years (36,500 days).
    pub const MAX_SECS: i64 = 36_500 * 86_400;

    pub fn from_secs(secs: i64) -> Result<Self, DomainError> {
        if secs <= 0 {
            return Err(DomainError::invalid("duration", "must be longer than zero"));
        }
        if secs > Self::MAX_SECS {
            return Err(DomainError::invalid("duration", "is longer than 36500d (100 years): nothing lasts that long"));
        }
        Ok(Self(secs))
    }
    pub fn secs(self) -> i64 {
        self.0
    }
    pub fn as_delta(self) -> chrono::TimeDelta {
        chrono::TimeDelta::seconds(self.0)
    }

    /// Parses `90s`, `30m`, `8h`, `7d`, `2w` and sums such as `1h30m`: see
    /// [`Self::secs_written`] and [`Self::from_secs`].
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        Self::from_secs(Self::secs_written(s)?)
    }

    /// The seconds `s` writes, if it has the shape of a duration: one to five
    /// parts, each a number from 1 to 9,999,999 (no leading zero) and a unit
    /// (the API's schema states the same shape). Whether so long a duration
    /// is allowed is [`Self::from_secs`]'s rule.
    pub fn secs_written(s: &str) -> Result<i64, DomainError> {
        let bad = || DomainError::invalid("duration", format!("`{s}` is not a duration: write e.g. `30m`, `8h`, `7d` or `1h30m`"));
        let mut total: i64 = 0;
        let mut parts = 0;
        let mut digits = String::new();
        for c in s.chars() {
            if c.is_ascii_digit() {
                if (digits.is_empty() && c == '0') || digits.len() == 7 {
                    return Err(bad());
                }
                digits.push(c);
                continue;
            }
            parts += 1;
            if parts > 5 {
                return Err(bad());
            }
            let unit = match c {
                's' => 1,
                'm' => 60,
                'h' => 3_600,
                'd' => 86_400,
                'w' => 604_800,
                _ => return Err(bad()),
            };
            let n: i64 = digits.parse().map_err(|_| bad())?;
            total = n.checked_mul(unit).and_then(|v| total.checked_add(v)).ok_or_else(bad)?;
            digits.clear();
        }
        if !digits.is_empty() || total == 0 {
            return Err(bad());
        }
        Ok(total)
    }
}

impl fmt::Display for AccessDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        for (unit, len) in [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)] {
            if rest >= len {
                write!(f, "{}{unit}", rest / len)?;
                rest %= len;
            }
        }
        Ok(())
    }
}
impl fmt::Debug for AccessDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AccessDuration({self})")
    }
}
impl FromStr for AccessDuration {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, DomainError> {
        Self::parse(s)
    }
}
impl TryFrom<String> for AccessDuration {
    type Error = DomainError;
    fn try_from(s: String) -> Result<Self, DomainError> {
        Self::parse(&s)
    }
}
impl From<AccessDuration> for String {
    fn from(d: AccessDuration) -> String {
        d.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        for (s, secs, back) in [("30m", 1800, "30m"), ("8h", 28_800, "8h"), ("1h30m", 5400, "1h30m"), ("2w", 1_209_600, "14d"), ("90s", 90, "1m30s")] {
            let d = AccessDuration::parse(s).unwrap();
            assert_eq!(d.secs(), secs, "{s}");
            assert_eq!(d.to_string(), back);
        }
        for bad in ["", "8", "h", "8x", "-1h", "0h", "08h", "1h0m", " 8h", "12345678d", "1w1d1h1m1s1s", "99999999999999999999d", "36501d"] {
            assert!(AccessDuration::parse(bad).is_err(), "{bad:?}");
        }
    }
}
