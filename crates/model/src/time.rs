//! Time as Trellis stores it: milliseconds since the Unix epoch (UTC).

/// Milliseconds since the Unix epoch, now.
pub fn now_millis() -> i64 {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}
