//! The demo upstream's live state: connectors with their fault and queue numbers, incidents and
//! dead letters kept in (updated_at, id) order for keyset pages, idempotency records and the
//! per-dead-letter delivery counter. One `Mutex` guards it; nothing awaits while holding it.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Bound;

use chrono::Utc;
use rand::SeedableRng;
use rand::rngs::StdRng;

use super::contract::Contract;
use super::cursor::{self, Position, SortKey};
use super::problem::ApiError;
use super::scenario::{ConnectorSpec, Scenario};
use crate::api::{DeadLetterDto, IncidentDto, Page, QueueDto, RatesDto, ReplayResponse};
use crate::domain::{DeadLetterState, Timestamp};

/// One simulated connector.
#[derive(Debug)]
pub struct ConnectorRuntime {
    pub spec: ConnectorSpec,
    pub contract: Contract,
    /// True once `/demo/connectors/{id}/fix` was called: replays deliver, no new dead letters.
    pub fixed: bool,
    pub queue: QueueDto,
    pub rates: RatesDto,
    pub updated_at: Timestamp,
    /// Dead letters generated so far (drives the payload generator's variety).
    pub generated: u32,
}

/// A replay answered once, kept so the same idempotency key gets the same answer.
#[derive(Debug, Clone)]
pub struct ReplayRecord {
    pub dead_letter_id: String,
    pub response: ReplayResponse,
}

#[derive(Debug)]
pub struct DemoState {
    pub seed: u64,
    pub rng: StdRng,
    pub connectors: Vec<ConnectorRuntime>,
    incidents: HashMap<String, IncidentDto>,
    incident_order: BTreeSet<SortKey>,
    dead_letters: HashMap<String, DeadLetterDto>,
    dead_letter_order: BTreeSet<SortKey>,
    /// Dead letters still waiting, per connector (kept by `put_dead_letter`: `--scale` serves
    /// millions, and every connectors listing asks).
    dead_counts: HashMap<String, u64>,
    pub replays: HashMap<String, ReplayRecord>,
    /// Incident actions by idempotency key: (incident id, answer).
    pub incident_actions: HashMap<String, (String, IncidentDto)>,
    /// Successful deliveries to the destination, per dead letter.
    pub deliveries: BTreeMap<String, u64>,
    last_ms: i64,
}

impl DemoState {
    /// An empty stack for `scenario` (no dead letters or incidents yet; `sim::seed` adds them).
    pub fn new(scenario: &Scenario, seed: u64) -> Result<DemoState, String> {
        let now = cursor::from_millis(Utc::now().timestamp_millis());
        let mut connectors = Vec::with_capacity(scenario.connectors.len());
        for spec in &scenario.connectors {
            let contract = Contract::builtin(&spec.contract)
                .map_err(|e| format!("connector {}: {e}", spec.id))?;
            connectors.push(ConnectorRuntime {
                spec: spec.clone(),
                contract,
                fixed: false,
                queue: QueueDto {
                    ready: spec.baseline.ready,
                    in_flight: spec.baseline.in_flight,
                    retrying: spec.baseline.retrying,
                    dead: 0,
                },
                rates: RatesDto {
                    in_per_s: spec.baseline.rate_in,
                    out_per_s: spec.baseline.rate_out,
                    fail_per_s: spec.baseline.rate_fail,
                },
                updated_at: now,
                generated: 0,
            });
        }
        Ok(DemoState {
            seed,
            rng: StdRng::seed_from_u64(seed),
            connectors,
            incidents: HashMap::new(),
            incident_order: BTreeSet::new(),
            dead_letters: HashMap::new(),
            dead_letter_order: BTreeSet::new(),
            dead_counts: HashMap::new(),
            replays: HashMap::new(),
            incident_actions: HashMap::new(),
            deliveries: BTreeMap::new(),
            last_ms: 0,
        })
    }

    /// The current time in milliseconds, strictly later than any time handed out before, so
    /// every change gets its own place in the (updated_at, id) order.
    pub fn now(&mut self) -> Timestamp {
        let ms = Utc::now().timestamp_millis().max(self.last_ms + 1);
        self.last_ms = ms;
        cursor::from_millis(ms)
    }

    pub fn connector(&self, id: &str) -> Option<&ConnectorRuntime> {
        self.connectors.iter().find(|c| c.spec.id == id)
    }

    pub fn connector_mut(&mut self, id: &str) -> Option<&mut ConnectorRuntime> {
        self.connectors.iter_mut().find(|c| c.spec.id == id)
    }

    pub fn incident(&self, id: &str) -> Option<&IncidentDto> {
        self.incidents.get(id)
    }

    pub fn incidents(&self) -> impl Iterator<Item = &IncidentDto> {
        self.incidents.values()
    }

    /// Inserts or replaces an incident, keeping the listing order in step.
    pub fn put_incident(&mut self, incident: IncidentDto) {
        if let Some(old) = self.incidents.get(&incident.id) {
            self.incident_order
                .remove(&(cursor::millis(&old.updated_at), old.id.clone()));
        }
        self.incident_order
            .insert((cursor::millis(&incident.updated_at), incident.id.clone()));
        self.incidents.insert(incident.id.clone(), incident);
    }

    pub fn dead_letter(&self, id: &str) -> Option<&DeadLetterDto> {
        self.dead_letters.get(id)
    }

    /// Inserts or replaces a dead letter, keeping the listing order in step.
    pub fn put_dead_letter(&mut self, dead_letter: DeadLetterDto) {
        if let Some(old) = self.dead_letters.get(&dead_letter.id) {
            self.dead_letter_order
                .remove(&(cursor::millis(&old.updated_at), old.id.clone()));
            if old.state == DeadLetterState::Dead
                && let Some(n) = self.dead_counts.get_mut(&old.connector)
            {
                *n = n.saturating_sub(1);
            }
        }
        if dead_letter.state == DeadLetterState::Dead {
            *self
                .dead_counts
                .entry(dead_letter.connector.clone())
                .or_default() += 1;
        }
        self.dead_letter_order.insert((
            cursor::millis(&dead_letter.updated_at),
            dead_letter.id.clone(),
        ));
        self.dead_letters
            .insert(dead_letter.id.clone(), dead_letter);
    }

    /// Forgets replayed/discarded dead letters last changed before `cutoff` (tombstone expiry).
    pub fn prune_tombstones(&mut self, cutoff: &Timestamp) {
        let expired: Vec<SortKey> = self
            .dead_letter_order
            .iter()
            .take_while(|(ms, _)| *ms < cursor::millis(cutoff))
            .filter(|(_, id)| {
                self.dead_letters
                    .get(id)
                    .is_some_and(|d| d.state != DeadLetterState::Dead)
            })
            .cloned()
            .collect();
        for key in expired {
            self.dead_letter_order.remove(&key);
            self.dead_letters.remove(&key.1);
        }
    }

    /// Dead letters still waiting (state dead) on `connector`.
    pub fn dead_count(&self, connector: &str) -> u64 {
        self.dead_counts.get(connector).copied().unwrap_or(0)
    }

    pub fn list_incidents(
        &self,
        updated_since: Option<&Timestamp>,
        cursor_text: Option<&str>,
        limit: Option<usize>,
    ) -> Result<Page<IncidentDto>, ApiError> {
        let after = decode_cursor(cursor_text)?;
        let (keys, next_cursor) = cursor::page(
            keys_from(&self.incident_order, updated_since, after.as_ref()),
            updated_since,
            after.as_ref(),
            page_limit(limit)?,
            |_| true,
        );
        let items = keys
            .iter()
            .filter_map(|(_, id)| self.incidents.get(id).cloned())
            .collect();
        Ok(Page { items, next_cursor })
    }

    /// Without `updated_since` only dead ones; with it, tombstones (replayed, discarded) too.
    pub fn list_dead_letters(
        &self,
        connector: Option<&str>,
        updated_since: Option<&Timestamp>,
        cursor_text: Option<&str>,
        limit: Option<usize>,
    ) -> Result<Page<DeadLetterDto>, ApiError> {
        let after = decode_cursor(cursor_text)?;
        let (keys, next_cursor) = cursor::page(
            keys_from(&self.dead_letter_order, updated_since, after.as_ref()),
            updated_since,
            after.as_ref(),
            page_limit(limit)?,
            |(_, id)| {
                self.dead_letters.get(id).is_some_and(|d| {
                    connector.is_none_or(|c| d.connector == c)
                        && (updated_since.is_some() || d.state == DeadLetterState::Dead)
                })
            },
        );
        let items = keys
            .iter()
            .filter_map(|(_, id)| self.dead_letters.get(id).cloned())
            .collect();
        Ok(Page { items, next_cursor })
    }
}

/// The keys from the later of `updated_since` and the cursor's instant on, straight from the
/// ordered index (`cursor::page` skips those at or before the cursor's position).
fn keys_from<'a>(
    order: &'a BTreeSet<SortKey>,
    updated_since: Option<&Timestamp>,
    after: Option<&Position>,
) -> impl Iterator<Item = &'a SortKey> {
    let lower = match cursor::lower_bound(updated_since, after) {
        Some(key) => Bound::Included(key),
        None => Bound::Unbounded,
    };
    order.range((lower, Bound::Unbounded))
}

fn decode_cursor(cursor_text: Option<&str>) -> Result<Option<Position>, ApiError> {
    cursor_text
        .map(|c| {
            cursor::decode(c).map_err(|e| {
                ApiError::bad_request(format!("{e}; pass the next_cursor of a previous page"))
            })
        })
        .transpose()
}

fn page_limit(limit: Option<usize>) -> Result<usize, ApiError> {
    cursor::page_limit(limit).map_err(ApiError::bad_request)
}
