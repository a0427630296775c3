//! Per-connector incident metrics for `triage inventory export`: incidents opened in a window,
//! mean time to acknowledge (MTTA) and to resolve (MTTR). One grouped query; it runs on demand
//! (an export), never per frame.

use super::codec::{col_u64, ms};
use super::{Result, Store};
use crate::domain::Timestamp;
use crate::domain::metrics::ConnectorMetrics;

impl Store {
    /// Metrics of every connector with an incident opened at or after `since`, ordered by
    /// upstream and connector. MTTA averages incidents that were acked, MTTR those resolved.
    /// `reopens` counts resolved incidents that opened again under the same upstream id (a
    /// trigger keeps the count as the sync upserts them).
    pub fn connector_metrics(&self, since: Timestamp) -> Result<Vec<ConnectorMetrics>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT upstream, connector, COUNT(*),
                        AVG(CASE WHEN acked_ms IS NOT NULL AND acked_ms >= opened_ms
                                 THEN acked_ms - opened_ms END),
                        AVG(CASE WHEN resolved_ms IS NOT NULL AND resolved_ms >= opened_ms
                                 THEN resolved_ms - opened_ms END),
                        SUM(reopens)
                 FROM incidents
                 WHERE opened_ms >= ?1
                 GROUP BY upstream, connector
                 ORDER BY upstream, connector",
            )
            .map_err(|e| self.sqlite(e))?;
        let millis = |avg: Option<f64>| {
            avg.filter(|v| v.is_finite() && *v >= 0.0)
                .map(|v| std::time::Duration::from_millis(v.round() as u64))
        };
        let rows = stmt
            .query_map([ms(since)], |row| {
                Ok(ConnectorMetrics {
                    upstream: row.get(0)?,
                    connector: row.get(1)?,
                    incidents: col_u64(row.get(2)?),
                    reopens: col_u64(row.get::<_, Option<i64>>(5)?.unwrap_or(0)),
                    mtta: millis(row.get(3)?),
                    mttr: millis(row.get(4)?),
                })
            })
            .map_err(|e| self.sqlite(e))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.sqlite(e))
    }
}
