use chrono::{DateTime, Utc};
use writ_app::ports::Clock;

/// The wall clock, to the millisecond (the audit log keeps milliseconds).
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        let now = Utc::now();
        DateTime::from_timestamp_millis(now.timestamp_millis()).unwrap_or(now)
    }
}
