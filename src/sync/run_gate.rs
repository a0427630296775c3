//! A run's stage gate and state changes, for the driver (`run_driver`): a stage starts only
//! when the one before stayed within the run's failure limit (or the operator resumed after it
//! paused the run); otherwise the run pauses, saying why with the stage's top errors grouped.

use chrono::Utc;

use super::run_driver::Driver;
use crate::domain::run::{FailureLimit, Run, RunProgress, RunState};
use crate::domain::run_tally::RunTally;
use crate::store::StoreError;

impl Driver<'_> {
    /// None when `stage` may start (the gate was open, or the stage before stayed within
    /// `limit` and the gate opens now); else why the run pauses.
    pub(super) async fn gate(
        &self,
        stage: usize,
        limit: FailureLimit,
        tally: &RunTally,
    ) -> Result<Option<String>, StoreError> {
        let run_id = self.id.clone();
        let before = tally.stage(stage - 1);
        self.store
            .call(move |s| {
                if s.run_gate(&run_id)? >= stage {
                    return Ok(None);
                }
                if limit.exceeded(before.failed, before.sent + before.failed) {
                    let top = s.run_failures(&run_id, Some(stage - 1))?;
                    return Ok(Some(pause_reason(stage, &before, &top, limit)));
                }
                s.open_run_gate(&run_id, stage)?;
                Ok(None)
            })
            .await
    }

    pub(super) async fn set_state(
        &self,
        run: &Run,
        state: RunState,
        reason: &str,
    ) -> Result<(), StoreError> {
        let (run_id, operator, reason) = (run.id.clone(), run.operator.clone(), reason.to_string());
        self.store
            .call(move |s| s.set_run_state(&run_id, state, Some(&reason), &operator, Utc::now()))
            .await
            .map(|_| ())
    }
}

fn pause_reason(
    stage: usize,
    before: &RunProgress,
    top: &[(String, usize)],
    limit: FailureLimit,
) -> String {
    let errors: Vec<String> = top.iter().map(|(e, n)| format!("{n}× {e}")).collect();
    format!(
        "stage {stage} failed {} of {} (limit {limit}): {}",
        before.failed,
        before.sent + before.failed,
        errors.join("; ")
    )
}
