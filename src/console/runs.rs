//! Replay and discard on marked dead letters (#11 point 3), the `update` side: `r`/`d` with
//! marks ask the store thread for a plan (`sync::runs::plan`: counts per connector and
//! destination, contract violations skipped, stages), a confirmation shows it, and `y` creates
//! a bulk recovery run (`Store::create_run`) that the console drives in a background task
//! (`Cmd::DriveRun`); its progress shows in the status line. Pause and cancel are the CLI's
//! (`triage runs pause|cancel ID`) for now.

use std::sync::Arc;

use super::app::{App, Dialog, StatusLevel};
use super::marks::{self, MarkKey, MarkList};
use super::msg::{Cmd, StoreCmd};
use crate::domain::run::{MemberState, RunMember, RunProgress, RunState};
use crate::domain::{ActionKind, sanitize};
use crate::sync::runs::{Plan, RunOptions};

/// Stages of a run started from the console (the CLI's default: a canary, a tenth, the rest).
pub const CONSOLE_STAGES: &str = "1,10%,rest";
/// Failures a stage may have before the run pauses (the CLI's default).
pub const CONSOLE_MAX_FAILURES: &str = "10%";

/// A plan as the operator saw it, frozen until confirmed (cheap to clone; equal when the same).
#[derive(Debug, Clone)]
pub struct FrozenPlan(pub Arc<(Plan, Vec<RunMember>, RunOptions)>);

impl PartialEq for FrozenPlan {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl FrozenPlan {
    pub fn plan(&self) -> &Plan {
        &self.0.0
    }
    pub fn members(&self) -> &[RunMember] {
        &self.0.1
    }
}

/// Where a run the console drives stands (the status line shows it).
#[derive(Debug, Clone, PartialEq)]
pub struct RunGauge {
    pub id: String,
    pub kind: ActionKind,
    pub state: RunState,
    pub progress: RunProgress,
    /// 1-based current stage and the number of stages.
    pub stage: Option<usize>,
    pub stages: usize,
    /// The driver stopped (done, paused, cancelled, or failed with `error`).
    pub finished: bool,
    pub error: Option<String>,
    /// How fast it goes: answers per second lately, the rate it sends at now (lowered while
    /// the upstream asks to wait), and the estimated seconds left.
    pub speed: Option<RunSpeed>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RunSpeed {
    pub rate: f64,
    pub sending_rate: Option<f64>,
    pub eta_secs: Option<f64>,
}

impl RunGauge {
    /// "48/s · ETA 1m20s", "12/s (slowed to 12/s) · ETA 3m" — None before the first answers.
    pub fn speed_text(&self) -> Option<String> {
        let speed = self.speed?;
        let mut text = format!("{:.0}/s", speed.rate);
        if let Some(limit) = speed.sending_rate {
            text.push_str(&format!(" (≤{limit:.0}/s)"));
        }
        if let Some(eta) = speed.eta_secs.filter(|e| e.is_finite() && *e >= 0.0) {
            let secs = eta.round() as u64;
            let eta = if secs >= 60 {
                format!("{}m{:02}s", secs / 60, secs % 60)
            } else {
                format!("{secs}s")
            };
            text.push_str(&format!(" · ETA {eta}"));
        }
        Some(text)
    }

    /// "replay run r-1: 40 done · 2 failed · 5 skipped · 265 left · stage 2/3".
    pub fn line(&self) -> String {
        let p = &self.progress;
        let left = p.total.saturating_sub(p.sent + p.failed + p.skipped);
        let stage = match self.stage {
            Some(s) => format!(" · stage {s}/{}", self.stages),
            None => String::new(),
        };
        let mut text = format!(
            "{} run {}: {} done · {} failed · {} skipped · {left} left{stage}",
            self.kind.as_str(),
            sanitize::line(&self.id),
            p.sent,
            p.failed,
            p.skipped
        );
        if let Some(speed) = self.speed_text().filter(|_| !self.finished) {
            text.push_str(&format!(" · {speed}"));
        }
        if self.finished {
            text.push_str(&format!(" — {}", self.state.as_str()));
            if let Some(e) = &self.error {
                text.push_str(&format!(": {}", sanitize::line(e)));
            }
        }
        text
    }
}

/// `r`/`d` with marked dead letters: plan first.
pub fn prepare(app: &mut App, kind: ActionKind) -> Vec<Cmd> {
    let keys = app.marks.keys(MarkList::DeadLetters);
    app.set_status(
        StatusLevel::Info,
        format!(
            "{}: planning {} marked {}…",
            kind.as_str(),
            keys.len(),
            MarkList::DeadLetters.noun(keys.len())
        ),
    );
    vec![Cmd::store(StoreCmd::PlanRun {
        kind,
        keys,
        operator: app.operator.clone(),
    })]
}

/// The plan came back: confirm it (or say why there is nothing to send).
pub fn planned(app: &mut App, plan: FrozenPlan, gone: Vec<MarkKey>) {
    marks::forget(app, MarkList::DeadLetters, &gone);
    app.dirty = true;
    let p = plan.plan();
    if p.to_send == 0 {
        let why = if p.violations > 0 {
            format!("{} violate their contract", p.violations)
        } else {
            "none of the marked letters is still dead".into()
        };
        app.set_status(
            StatusLevel::Info,
            format!("nothing to {}: {why}", p.kind.as_str()),
        );
        return;
    }
    app.status = None;
    app.dialog = Some(Dialog::ConfirmRun { plan });
}

/// `y`: create the run (the store thread answers `RunCreated`, then the console drives it).
pub fn confirm(app: &mut App, plan: FrozenPlan) -> Vec<Cmd> {
    app.marks.dead_letters.clear();
    app.set_status(StatusLevel::Info, "creating the run…");
    vec![Cmd::store(StoreCmd::CreateRun { plan, at: app.now })]
}

/// The run exists: drive it here.
pub fn created(
    app: &mut App,
    id: String,
    kind: ActionKind,
    total: usize,
    stages: usize,
) -> Vec<Cmd> {
    app.run = Some(RunGauge {
        id: id.clone(),
        kind,
        state: RunState::Running,
        progress: RunProgress {
            total,
            ..Default::default()
        },
        stage: Some(1),
        stages,
        finished: false,
        error: None,
        speed: None,
    });
    app.set_status(
        StatusLevel::Info,
        format!(
            "run {} started: {total} {} in {stages} stage(s) (triage runs pause {} stops it)",
            sanitize::line(&id),
            MarkList::DeadLetters.noun(total),
            sanitize::line(&id)
        ),
    );
    vec![Cmd::DriveRun { id }]
}

/// A progress report from the driver task.
pub fn progress(app: &mut App, gauge: RunGauge) -> Vec<Cmd> {
    let level = match (gauge.finished, gauge.state) {
        (false, _) => StatusLevel::Info,
        (true, RunState::Done) if gauge.progress.failed == 0 && gauge.error.is_none() => {
            StatusLevel::Success
        }
        (true, RunState::Done) => StatusLevel::Warning,
        (true, _) => StatusLevel::Warning,
    };
    app.set_status(level, gauge.line());
    app.run = Some(gauge);
    app.dirty = true;
    Vec::new()
}

/// The confirmation's lines: per connector and destination, what is left out, the stages, ids.
pub fn plan_lines(plan: &FrozenPlan) -> Vec<String> {
    let p = plan.plan();
    let mut lines: Vec<String> = p
        .groups
        .iter()
        .map(|g| {
            format!(
                "{} → {}: {}",
                sanitize::line(&g.connector),
                sanitize::line(&g.destination),
                g.count
            )
        })
        .collect();
    if p.violations > 0 {
        let example = p
            .violation_examples
            .first()
            .map(|(id, why)| format!(" ({}: {})", sanitize::line(id), sanitize::line(why)))
            .unwrap_or_default();
        let what = if p.force { "sent anyway" } else { "skipped" };
        lines.push(format!(
            "contract violations: {} {what}{example}",
            p.violations
        ));
    }
    if p.replayed_before > 0 {
        lines.push(format!(
            "replayed before and dead again: {}",
            p.replayed_before
        ));
    }
    if p.not_dead > 0 {
        lines.push(format!("no longer dead (left out): {}", p.not_dead));
    }
    let stages: Vec<String> = p.stages.iter().map(|s| s.to_string()).collect();
    lines.push(format!(
        "stages: {} · pause when a stage fails > {}",
        stages.join(", "),
        p.max_failures
    ));
    let ids: Vec<MarkKey> = plan
        .members()
        .iter()
        .filter(|m| m.state != MemberState::Skipped)
        .map(|m| (m.connector.clone(), m.target.clone()))
        .collect();
    lines.extend(marks::targets_summary(&ids, super::bulk::IDS_PER_CONNECTOR));
    lines
}
