//! Bulk recovery runs: many replays (or discards) sent in stages at a safe rate, paused when a
//! stage fails too often, resumable after any crash. A run is a durable object in the store (its
//! selection frozen when it was planned); each member becomes an outbox action with its own
//! idempotency key when its stage comes. This module is the pure part: stage sizes, thresholds,
//! rates and the states; `store::runs` keeps runs and `sync::runs` drives them.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::{ActionKind, Timestamp};

/// How a run's members are cut into stages: `1,10%,rest` = a canary of one, then a tenth of the
/// selection, then everything left.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum StageSize {
    Count(usize),
    /// Percent of the whole selection (at least one member).
    Percent(u32),
    Rest,
}

/// Parses `1,10%,rest` (the default), `5,25%,50%,rest`, `rest`. Sizes after `rest` are refused;
/// a list without `rest` gets one (nothing chosen is left out).
pub fn parse_stages(text: &str) -> Result<Vec<StageSize>, String> {
    let mut stages = Vec::new();
    for (i, part) in text.split(',').map(str::trim).enumerate() {
        if stages.last() == Some(&StageSize::Rest) {
            return Err(format!("stage {}: nothing can come after `rest`", i + 1));
        }
        let stage = if part.eq_ignore_ascii_case("rest") {
            StageSize::Rest
        } else if let Some(pct) = part.strip_suffix('%') {
            match pct.trim().parse::<u32>() {
                Ok(p) if (1..=100).contains(&p) => StageSize::Percent(p),
                _ => {
                    return Err(format!(
                        "stage {}: {part:?} is not a percentage 1%–100%",
                        i + 1
                    ));
                }
            }
        } else {
            match part.parse::<usize>() {
                Ok(n) if n > 0 => StageSize::Count(n),
                _ => {
                    return Err(format!(
                        "stage {}: {part:?} is not a count, a percentage or `rest`",
                        i + 1
                    ));
                }
            }
        };
        stages.push(stage);
    }
    if stages.last() != Some(&StageSize::Rest) {
        stages.push(StageSize::Rest);
    }
    Ok(stages)
}

/// The number of members in each stage for a selection of `total` (empty stages dropped).
pub fn stage_sizes(stages: &[StageSize], total: usize) -> Vec<usize> {
    let mut left = total;
    let mut sizes = Vec::new();
    for stage in stages {
        if left == 0 {
            break;
        }
        let want = match stage {
            StageSize::Count(n) => *n,
            StageSize::Percent(p) => (total * *p as usize).div_ceil(100).max(1),
            StageSize::Rest => left,
        };
        let take = want.min(left);
        sizes.push(take);
        left -= take;
    }
    sizes
}

/// `10%` or `3`: how many failures a stage may have before the run pauses.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum FailureLimit {
    Percent(f64),
    Count(usize),
}

impl FailureLimit {
    pub fn parse(text: &str) -> Result<FailureLimit, String> {
        let text = text.trim();
        if let Some(pct) = text.strip_suffix('%') {
            return match pct.trim().parse::<f64>() {
                Ok(p) if (0.0..=100.0).contains(&p) => Ok(FailureLimit::Percent(p)),
                _ => Err(format!("{text:?} is not a percentage 0%–100%")),
            };
        }
        text.parse::<usize>()
            .map(FailureLimit::Count)
            .map_err(|_| format!("{text:?} is not a count or a percentage (e.g. 10%)"))
    }

    /// True when `failed` of a stage of `size` is more than allowed.
    pub fn exceeded(&self, failed: usize, size: usize) -> bool {
        match *self {
            FailureLimit::Count(n) => failed > n,
            FailureLimit::Percent(p) => size > 0 && failed as f64 * 100.0 > p * size as f64,
        }
    }
}

impl fmt::Display for FailureLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FailureLimit::Percent(p) => write!(f, "{p}%"),
            FailureLimit::Count(n) => write!(f, "{n}"),
        }
    }
}

/// `50/s`, `120/m`, `50` (per second); `0` or `none` = as fast as the upstream answers.
pub fn parse_rate(text: &str) -> Result<Option<f64>, String> {
    let text = text.trim();
    if text == "0" || text.eq_ignore_ascii_case("none") {
        return Ok(None);
    }
    let (number, per) = match text.split_once('/') {
        Some((n, unit)) => (n, unit.trim()),
        None => (text, "s"),
    };
    let seconds = match per {
        "s" | "sec" => 1.0,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        other => {
            return Err(format!(
                "{text:?}: unknown unit {other:?} (use /s, /m or /h)"
            ));
        }
    };
    match number.trim().parse::<f64>() {
        Ok(n) if n > 0.0 && n.is_finite() => Ok(Some(n / seconds)),
        _ => Err(format!("{text:?} is not a rate like 50/s")),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    /// Sending, stage by stage (or waiting for a process to drive it: `triage runs resume`).
    Running,
    /// Stopped by the operator or by a stage over its failure limit; `resume` goes on.
    Paused,
    /// Stopped for good; members not yet sent are left out.
    Cancelled,
    /// Every member sent, failed or skipped.
    Done,
}

impl RunState {
    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Running => "running",
            RunState::Paused => "paused",
            RunState::Cancelled => "cancelled",
            RunState::Done => "done",
        }
    }

    pub fn parse(text: &str) -> Option<RunState> {
        Some(match text {
            "running" => RunState::Running,
            "paused" => RunState::Paused,
            "cancelled" => RunState::Cancelled,
            "done" => RunState::Done,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MemberState {
    /// Chosen, not yet handed to the outbox.
    Planned,
    /// Left out when planned (a contract violation without `--force`), or by a cancel.
    Skipped,
    /// In the outbox, waiting for the upstream's answer.
    Queued,
    Sent,
    Failed,
}

impl MemberState {
    pub fn as_str(self) -> &'static str {
        match self {
            MemberState::Planned => "planned",
            MemberState::Skipped => "skipped",
            MemberState::Queued => "queued",
            MemberState::Sent => "sent",
            MemberState::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Option<MemberState> {
        Some(match text {
            "planned" => MemberState::Planned,
            "skipped" => MemberState::Skipped,
            "queued" => MemberState::Queued,
            "sent" => MemberState::Sent,
            "failed" => MemberState::Failed,
            _ => return None,
        })
    }
}

/// A run as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Run {
    pub id: String,
    pub kind: ActionKind,
    /// The selection as the operator gave it (a query, or the marked ids).
    pub selection: String,
    pub operator: String,
    pub state: RunState,
    /// Why it paused or was cancelled.
    pub reason: Option<String>,
    /// Members per stage, in order.
    pub stages: Vec<usize>,
    pub max_failures: FailureLimit,
    /// Actions per second; None = as fast as the upstream answers.
    pub rate: Option<f64>,
    /// Members in flight at once (as many more may wait in the outbox behind them).
    pub concurrency: usize,
    /// Contract violators are sent too.
    pub force: bool,
    pub destination: Option<String>,
    pub drop_ttl: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// One chosen dead letter of a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunMember {
    pub seq: usize,
    pub upstream: String,
    pub target: String,
    pub connector: String,
    pub stage: usize,
    pub state: MemberState,
    /// Why it was skipped, or the upstream's answer when it failed.
    pub note: Option<String>,
}

/// Where a run stands: counts per state, and per stage.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RunProgress {
    pub total: usize,
    pub planned: usize,
    pub queued: usize,
    pub sent: usize,
    pub failed: usize,
    pub skipped: usize,
    /// The first stage with members not yet answered (0-based; None when all are). Not in
    /// JSON: what is shown is 1-based, next to it.
    #[serde(skip)]
    pub stage: Option<usize>,
}

impl RunProgress {
    pub fn add(&mut self, state: MemberState, n: usize) {
        self.total += n;
        match state {
            MemberState::Planned => self.planned += n,
            MemberState::Queued => self.queued += n,
            MemberState::Sent => self.sent += n,
            MemberState::Failed => self.failed += n,
            MemberState::Skipped => self.skipped += n,
        }
    }

    /// Members answered (sent, failed) or left out (skipped).
    pub fn finished(&self) -> usize {
        self.sent + self.failed + self.skipped
    }

    pub fn remaining(&self) -> usize {
        self.planned + self.queued
    }
}

/// A new run id: `run-` and 10 base32 characters of the time (ms) and 3 random ones, sortable
/// and short enough to type.
pub fn new_run_id(now: Timestamp) -> String {
    const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";
    let mut n = u64::try_from(now.timestamp_millis()).unwrap_or(0);
    let mut time = [0u8; 9];
    for slot in time.iter_mut().rev() {
        *slot = ALPHABET[(n & 31) as usize];
        n >>= 5;
    }
    let mut r = uuid::Uuid::new_v4().as_u128();
    let mut random = [0u8; 3];
    for slot in &mut random {
        *slot = ALPHABET[(r & 31) as usize];
        r >>= 5;
    }
    format!(
        "run-{}{}",
        String::from_utf8_lossy(&time),
        String::from_utf8_lossy(&random)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_parse_and_cut_the_selection() {
        let stages = parse_stages("1,10%,rest").expect("default");
        assert_eq!(stage_sizes(&stages, 1800), vec![1, 180, 1619]);
        assert_eq!(stage_sizes(&stages, 1), vec![1]);
        assert_eq!(stage_sizes(&stages, 5), vec![1, 1, 3]);
        assert_eq!(stage_sizes(&stages, 0), Vec::<usize>::new());
        assert_eq!(
            parse_stages("5, 25%").expect("rest added"),
            vec![StageSize::Count(5), StageSize::Percent(25), StageSize::Rest]
        );
        assert_eq!(
            stage_sizes(&parse_stages("rest").expect("rest"), 7),
            vec![7]
        );
        assert!(parse_stages("rest,1").is_err());
        assert!(parse_stages("0").is_err());
        assert!(parse_stages("101%").is_err());
        assert!(parse_stages("ten").expect_err("bad").contains("stage 1"));
    }

    #[test]
    fn failure_limits_and_rates() {
        let limit = FailureLimit::parse("10%").expect("pct");
        assert!(!limit.exceeded(1, 10));
        assert!(limit.exceeded(2, 10));
        assert!(!limit.exceeded(0, 1));
        assert!(limit.exceeded(1, 1), "a failed canary is over 10%");
        assert!(FailureLimit::parse("0").expect("count").exceeded(1, 100));
        assert!(FailureLimit::parse("x").is_err());
        assert_eq!(parse_rate("50/s"), Ok(Some(50.0)));
        assert_eq!(parse_rate("120/m"), Ok(Some(2.0)));
        assert_eq!(parse_rate("8"), Ok(Some(8.0)));
        assert_eq!(parse_rate("none"), Ok(None));
        assert!(parse_rate("5/d").is_err());
        assert!(parse_rate("-1/s").is_err());
    }

    #[test]
    fn run_ids_sort_by_time() {
        let a = new_run_id(chrono::DateTime::from_timestamp(1_700_000_000, 0).expect("t"));
        let b = new_run_id(chrono::DateTime::from_timestamp(1_700_000_001, 0).expect("t"));
        assert!(a < b, "{a} < {b}");
        assert_eq!(a.len(), "run-".len() + 12);
    }
}
