//! The inventory export the playbook's first stage asks for, as CSV, with the per-connector
//! incident numbers `triage inventory export` has always shown (count, reopens, mean MTTA/MTTR).
//! Pure: the store computes the numbers.

use std::time::Duration;

use serde::Serialize;

use crate::domain::Connector;

/// Incident numbers for one connector over a window (e.g. the last 30 days).
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct ConnectorMetrics {
    pub upstream: String,
    pub connector: String,
    /// Incidents opened in the window.
    pub incidents: u64,
    /// Incidents that were resolved and opened again. Always 0 until the store records
    /// times a resolved incident opened again (same upstream id).
    pub reopens: u64,
    /// Mean time from open to ack, over incidents in the window that were acked.
    #[serde(with = "humantime_serde")]
    pub mtta: Option<Duration>,
    /// Mean time from open to resolve, over incidents in the window that were resolved.
    #[serde(with = "humantime_serde")]
    pub mttr: Option<Duration>,
}

pub const INVENTORY_CSV_HEADER: &str = "connector,owner,backup,purpose,source,destination,direction,ack_sla,incidents_30d,reopens,mtta,mttr";

/// One CSV field, quoted when it holds a comma, quote or line break (RFC 4180).
fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

fn duration_text(duration: Option<Duration>) -> String {
    duration.map_or_else(String::new, |d| {
        humantime::format_duration(Duration::from_secs(d.as_secs())).to_string()
    })
}

/// The inventory as CSV (header + one row per connector, in inventory order). Connectors with
/// no metrics row had no incidents in the window. Durations are humantime (`1h 4m`), empty
/// when unknown.
pub fn inventory_csv(inventory: &[Connector], metrics: &[ConnectorMetrics]) -> String {
    let mut out = String::from(INVENTORY_CSV_HEADER);
    out.push('\n');
    for c in inventory {
        let m = metrics
            .iter()
            .find(|m| m.connector == c.id && m.upstream == c.upstream);
        let text = |v: &Option<String>| v.clone().unwrap_or_default();
        let fields = [
            c.id.clone(),
            text(&c.owner),
            text(&c.backup),
            text(&c.purpose),
            text(&c.source),
            text(&c.destination),
            c.direction
                .map(|d| d.as_str().to_owned())
                .unwrap_or_default(),
            duration_text(c.ack_sla),
            m.map_or(0, |m| m.incidents).to_string(),
            m.map_or(0, |m| m.reopens).to_string(),
            duration_text(m.and_then(|m| m.mtta)),
            duration_text(m.and_then(|m| m.mttr)),
        ];
        let row: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
        out.push_str(&row.join(","));
        out.push('\n');
    }
    out
}
