//! The report: one row per connector and per owning team over a window, sorted worst first,
//! with the DLQ depth series per connector and incidents opened per day. Definitions of every
//! number are on [`MetricsRow`]'s fields and in `docs/METRICS.md`.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::Serialize;

use super::accumulate::Accumulator;
use super::fnv::FnvMap;
use super::input::{DlqSeries, MetricsInput, MetricsWindow};
use super::stats::DurationStats;

/// One row: a connector (`upstream` + `connector` set) or a team (`team` set, `connector` not).
/// Incident numbers cover incidents *opened* in the window, whatever happened to them later.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct MetricsRow {
    pub upstream: Option<String>,
    pub connector: Option<String>,
    /// The connector's owner from the inventory (connector rows only).
    pub owner: Option<String>,
    /// The owner's team; `None` on a team row means "no team known".
    pub team: Option<String>,
    pub incidents_opened: u64,
    /// Time to acknowledge: `acked_at − opened_at` of incidents acked (not before opening).
    pub mtta: DurationStats,
    /// Time to resolve: `resolved_at − opened_at` of incidents resolved (not before opening).
    pub mttr: DurationStats,
    /// Incidents that reopened at least once (resolved, then unresolved again).
    pub reopened: u64,
    /// Reopen events of those incidents.
    pub reopens: u64,
    /// `reopened / incidents_opened`.
    pub reopen_rate: Option<f64>,
    /// Incidents whose ack SLA could be judged (see `ack_within_sla`).
    pub ack_sla_judged: u64,
    pub acked_within_sla: u64,
    /// `100 × acked_within_sla / ack_sla_judged`.
    pub ack_within_sla_pct: Option<f64>,
    /// Escalation steps taken (every level of every ack cycle counts once).
    pub escalations: u64,
    /// The highest level reached (0 = never escalated).
    pub max_escalation_level: u32,
    /// Notifications sent to a team other than the connector owner's team.
    pub cross_team_pings: u64,
    /// `cross_team_pings / incidents_opened`.
    pub cross_team_pings_per_incident: Option<f64>,
    /// Dead letters waiting now (live count).
    pub dlq_now: u64,
    /// DLQ depth at the first and last queue snapshot in the window.
    pub dlq_first: Option<u64>,
    pub dlq_last: Option<u64>,
    /// `dlq_last − dlq_first` (positive: the DLQ grew).
    pub dlq_trend: Option<i64>,
    /// Replays queued in the window (delivered + failed + pending).
    pub replays: u64,
    pub replays_delivered: u64,
    pub replays_failed: u64,
    pub replays_pending: u64,
    /// `delivered / (delivered + failed)`; pending replays are not judged.
    pub replay_success_rate: Option<f64>,
}

/// Incidents opened on one UTC day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DayCount {
    pub day: NaiveDate,
    pub opened: u64,
}

/// The metrics view's and `triage report`'s data.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricsReport {
    pub window: MetricsWindow,
    /// Every connector, worst first (see [`worst_first`]).
    pub connectors: Vec<MetricsRow>,
    /// Every owning team (connectors without one under `team: None`), worst first.
    pub teams: Vec<MetricsRow>,
    /// Everything in the window together.
    pub total: MetricsRow,
    /// DLQ depth per connector, in the order of `connectors`.
    pub dlq_series: Vec<DlqSeries>,
    /// Every UTC day the window touches, oldest first, zero days included.
    pub incidents_per_day: Vec<DayCount>,
}

impl MetricsReport {
    /// The row of one connector (the console's header numbers).
    pub fn connector(&self, upstream: &str, connector: &str) -> Option<&MetricsRow> {
        self.connectors.iter().find(|r| {
            r.upstream.as_deref() == Some(upstream) && r.connector.as_deref() == Some(connector)
        })
    }
}

/// Worst first: more incidents opened, then the slower MTTR p90, then the slower MTTA p90,
/// then the deeper DLQ now, then the DLQ that grew more; ties by name.
pub fn worst_first(a: &MetricsRow, b: &MetricsRow) -> Ordering {
    let secs = |s: &DurationStats| s.p90_secs.unwrap_or(-1.0);
    b.incidents_opened
        .cmp(&a.incidents_opened)
        .then(secs(&b.mttr).total_cmp(&secs(&a.mttr)))
        .then(secs(&b.mtta).total_cmp(&secs(&a.mtta)))
        .then(b.dlq_now.cmp(&a.dlq_now))
        .then(b.dlq_trend.unwrap_or(0).cmp(&a.dlq_trend.unwrap_or(0)))
        .then((&a.team, &a.connector, &a.upstream).cmp(&(&b.team, &b.connector, &b.upstream)))
}

/// The connector rows being filled, by `(upstream, connector)`.
#[derive(Default)]
struct Rows<'a> {
    index: FnvMap<(&'a str, &'a str), usize>,
    keys: Vec<(String, String, Option<String>, Option<String>)>,
    accs: Vec<Accumulator>,
}

impl<'a> Rows<'a> {
    fn slot(&mut self, upstream: &'a str, connector: &'a str) -> usize {
        if let Some(i) = self.index.get(&(upstream, connector)) {
            return *i;
        }
        self.keys
            .push((upstream.to_owned(), connector.to_owned(), None, None));
        self.accs.push(Accumulator::default());
        self.index
            .insert((upstream, connector), self.accs.len() - 1);
        self.accs.len() - 1
    }
}

/// Applies every definition to `input`.
pub fn compute_report(input: &MetricsInput) -> MetricsReport {
    let window = input.window;
    let mut rows = Rows::default();
    let owned: Vec<usize> = input
        .connectors
        .iter()
        .map(|c| rows.slot(&c.upstream, &c.connector))
        .collect();
    let incident_slots: Vec<usize> = input
        .incidents
        .iter()
        .map(|i| rows.slot(&i.upstream[..], &i.connector[..]))
        .collect();
    let replay_slots: Vec<usize> = input
        .replays
        .iter()
        .map(|r| rows.slot(&r.upstream, &r.connector))
        .collect();
    let dlq_slots: Vec<usize> = input
        .dlq
        .iter()
        .map(|d| rows.slot(&d.upstream, &d.connector))
        .collect();
    let Rows { keys, mut accs, .. } = rows;
    let mut keys = keys;
    for (c, i) in input.connectors.iter().zip(&owned) {
        keys[*i].2 = c.owner.clone();
        keys[*i].3 = c.team.clone();
        accs[*i].dlq_now = c.dlq_now;
    }
    // Incidents per UTC day, indexed by days since the window's first day.
    let first_day = window.since.timestamp().div_euclid(86_400);
    let mut days: Vec<u64> = Vec::new();
    if window.since < window.until {
        // The last day is the one holding the window's last millisecond.
        let last_day = (window.until.timestamp_millis() - 1).div_euclid(86_400_000);
        days = vec![0; usize::try_from(last_day - first_day + 1).unwrap_or(0)];
    }
    for (incident, i) in input.incidents.iter().zip(incident_slots) {
        if !window.contains(incident.opened_at) {
            continue;
        }
        let team = keys[i].3.as_deref();
        accs[i].add_incident(incident, team, &window);
        let day = incident.opened_at.timestamp().div_euclid(86_400) - first_day;
        if let Some(count) = usize::try_from(day).ok().and_then(|d| days.get_mut(d)) {
            *count += 1;
        }
    }
    for (tally, i) in input.replays.iter().zip(replay_slots) {
        let r = &mut accs[i].replays;
        r.delivered += tally.delivered;
        r.failed += tally.failed;
        r.pending += tally.pending;
    }
    for (series, i) in input.dlq.iter().zip(&dlq_slots) {
        accs[*i].dlq_first = series.first.map(|p| p.dead);
        accs[*i].dlq_last = series.last.map(|p| p.dead);
    }
    for acc in &mut accs {
        acc.sort_samples();
    }
    let mut teams: BTreeMap<Option<String>, Accumulator> = BTreeMap::new();
    let mut total = Accumulator::default();
    for (key, acc) in keys.iter().zip(&accs) {
        teams.entry(key.3.clone()).or_default().merge(acc);
        total.merge(acc);
    }
    let mut connectors: Vec<MetricsRow> = keys
        .into_iter()
        .zip(accs)
        .map(|((upstream, connector, owner, team), acc)| MetricsRow {
            upstream: Some(upstream),
            connector: Some(connector),
            owner,
            team,
            ..acc.finish()
        })
        .collect();
    connectors.sort_by(worst_first);
    let mut team_rows: Vec<MetricsRow> = teams
        .into_iter()
        .map(|(team, acc)| MetricsRow {
            team,
            ..acc.finish()
        })
        .collect();
    team_rows.sort_by(worst_first);
    let mut dlq_series: Vec<DlqSeries> = Vec::with_capacity(input.dlq.len());
    for row in &connectors {
        if let Some(series) = input.dlq.iter().find(|d| {
            row.upstream.as_deref() == Some(d.upstream.as_str())
                && row.connector.as_deref() == Some(d.connector.as_str())
        }) {
            dlq_series.push(series.clone());
        }
    }
    MetricsReport {
        window,
        connectors,
        teams: team_rows,
        total: total.finish(),
        dlq_series,
        incidents_per_day: days
            .into_iter()
            .enumerate()
            .filter_map(|(offset, opened)| {
                let day = window
                    .since
                    .date_naive()
                    .checked_add_days(chrono::Days::new(offset as u64))?;
                Some(DayCount { day, opened })
            })
            .collect(),
    }
}
