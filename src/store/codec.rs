//! Conversions between domain values and their SQLite columns: timestamps as i64 milliseconds
//! since the epoch (UTC), unsigned counters as i64, enums as their snake_case names.

use chrono::DateTime;

use crate::domain::{Direction, IncidentStatus, Timestamp};

/// Milliseconds since the epoch (UTC).
pub(crate) fn ms(at: Timestamp) -> i64 {
    at.timestamp_millis()
}

pub(crate) fn opt_ms(at: Option<Timestamp>) -> Option<i64> {
    at.map(ms)
}

/// The timestamp of a stored millisecond value, `None` when out of chrono's range.
pub(crate) fn from_ms(value: i64) -> Option<Timestamp> {
    DateTime::from_timestamp_millis(value)
}

/// Unsigned counters stored as SQLite integers (saturating: SQLite has no u64).
pub(crate) fn u64_col(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// A stored counter read back; negatives (which the store never writes) read as 0.
pub(crate) fn col_u64(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

pub(crate) fn col_u32(value: i64) -> u32 {
    u32::try_from(value.max(0)).unwrap_or(u32::MAX)
}

/// Urgency rank of an incident status: open 0, acknowledged 1, suppressed 2, resolved 3
/// (schema V3; before it resolved was 2). Unresolved = rank < [`RESOLVED_RANK`].
pub(crate) fn status_rank(status: IncidentStatus) -> u8 {
    match status {
        IncidentStatus::Open => 0,
        IncidentStatus::Acknowledged => 1,
        IncidentStatus::Suppressed => 2,
        IncidentStatus::Resolved => RESOLVED_RANK,
    }
}

/// The rank of a resolved incident.
pub(crate) const RESOLVED_RANK: u8 = 3;

/// Sort value of an ack deadline: milliseconds, or `i64::MAX` (last) when there is none.
pub(crate) fn deadline_ms(deadline: Option<Timestamp>) -> i64 {
    deadline.map_or(i64::MAX, ms)
}

pub(crate) fn parse_direction(s: &str) -> Option<Direction> {
    match s {
        "inbound" => Some(Direction::Inbound),
        "outbound" => Some(Direction::Outbound),
        "bidirectional" => Some(Direction::Bidirectional),
        _ => None,
    }
}

/// Clamps a page size to 1..=1000.
pub(crate) fn page_limit(limit: usize) -> i64 {
    limit.clamp(1, 1000) as i64
}

/// `WHERE a AND b …` for a query's conditions; empty without any.
pub(crate) fn where_clause(conditions: &[String]) -> String {
    if conditions.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", conditions.join(" AND "))
    }
}
