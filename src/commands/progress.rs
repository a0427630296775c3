//! What a foreground `triage sync` or `triage watch` tells on stderr while it runs: each change
//! of an upstream's connection state ("demo: down (connection refused) — retrying") and, for
//! `watch`, each escalation step and notification as it is recorded in the audit log. Plain
//! lines, sanitised, no colours: readable in a terminal and in journald.

use std::collections::HashMap;

use color_eyre::eyre::Result;

use crate::domain::{ConnectionState, sanitize};
use crate::store::AuditEntry;
use crate::sync::StoreWriter;

/// Prints an upstream's state when it changes (live, stale, down, connecting).
#[derive(Debug, Default)]
pub struct StateReporter {
    last: HashMap<String, &'static str>,
}

impl StateReporter {
    /// Reads the stored states and prints those that changed since the last call.
    pub async fn report(&mut self, writer: &StoreWriter) -> Result<()> {
        let states = writer.call(|s| s.upstream_states()).await?;
        for line in self.changes(&states) {
            crate::signals::notice(format_args!("{line}"));
        }
        Ok(())
    }

    /// The lines for the states that changed (and remembers them).
    pub fn changes(&mut self, states: &[(String, ConnectionState)]) -> Vec<String> {
        let mut lines = Vec::new();
        for (upstream, state) in states {
            let name = state.label();
            if self.last.insert(upstream.clone(), name) != Some(name) {
                lines.push(state_line(upstream, state));
            }
        }
        lines
    }
}

/// `demo: down (connection refused) — retrying`.
pub fn state_line(upstream: &str, state: &ConnectionState) -> String {
    let upstream = sanitize::line(upstream);
    match state {
        ConnectionState::Connecting => format!("{upstream}: connecting"),
        ConnectionState::Live { .. } => format!("{upstream}: live"),
        ConnectionState::Stale { error, .. } => format!(
            "{upstream}: stale ({}) — keeping the last good data; retrying",
            sanitize::line(error)
        ),
        ConnectionState::Down { error, .. } => {
            format!("{upstream}: down ({}) — retrying", sanitize::line(error))
        }
    }
}

/// Prints the audit rows of escalation steps and notifications written since it started.
#[derive(Debug)]
pub struct EscalationReporter {
    last_seq: i64,
}

impl EscalationReporter {
    /// Starts after the newest audit row (older steps are not repeated).
    pub async fn start(writer: &StoreWriter) -> Result<EscalationReporter> {
        let newest = writer.call(|s| s.page_audit(None, 1)).await?;
        Ok(EscalationReporter {
            last_seq: newest.first().map_or(0, |e| e.seq),
        })
    }

    pub async fn report(&mut self, writer: &StoreWriter) -> Result<()> {
        let after = self.last_seq;
        let rows = writer
            .call(move |s| {
                let mut rows = Vec::new();
                let mut before = None;
                loop {
                    let page = s.page_audit(before, 200)?;
                    let done = page.len() < 200;
                    for row in page {
                        if row.seq <= after {
                            return Ok(rows);
                        }
                        before = Some(row.seq);
                        rows.push(row);
                    }
                    if done {
                        return Ok(rows);
                    }
                }
            })
            .await?;
        for row in rows.iter().rev() {
            self.last_seq = self.last_seq.max(row.seq);
            if let Some(line) = escalation_line(row) {
                crate::signals::notice(format_args!("{line}"));
            }
        }
        Ok(())
    }
}

/// Characters of an audit row's detail on a progress line.
const DETAIL_CHARS: usize = 160;

/// `watch: escalated demo:inc-101 — no ack by 09:41:00 UTC: level 1 of chain major → backup`,
/// `watch: notify slack → demo:inc-101 sent: 200`; `None` for other audit rows.
pub fn escalation_line(row: &AuditEntry) -> Option<String> {
    let (kind, outcome) = row.event.split_once('.')?;
    // An upstream's whole answer can be long (the escalated incident as JSON): its start says
    // enough on one journald line; `triage audit` has it all.
    let detail = sanitize::line(&row.detail);
    let detail = match detail.char_indices().nth(DETAIL_CHARS) {
        Some((cut, _)) => format!("{}…", &detail[..cut]),
        None => detail,
    };
    let target = sanitize::line(&row.target);
    let upstream = sanitize::line(&row.upstream);
    let line = match (kind, outcome) {
        ("watch", "escalated") => format!("watch: escalated {upstream}:{target} — {detail}"),
        ("notify", _) => format!("watch: notify {upstream} for {target} {outcome}: {detail}"),
        ("escalate", _) => format!("watch: escalate {upstream}:{target} {outcome}: {detail}"),
        _ => return None,
    };
    Some(line.trim_end_matches([':', ' ']).to_string())
}
