//! A run's members counted per stage and state at once (`Store::run_tally`: one pass over the
//! run's index entries), from which the driver reads the whole run's progress, the current
//! stage, and the stage before it — instead of one count query each.

use super::run::{MemberState, RunProgress};

/// Counts per stage (index = 0-based stage) and state.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunTally {
    stages: Vec<RunProgress>,
}

impl RunTally {
    /// Counts `n` members of `stage` in `state`.
    pub fn add(&mut self, stage: usize, state: MemberState, n: usize) {
        if self.stages.len() <= stage {
            self.stages.resize(stage + 1, RunProgress::default());
        }
        self.stages[stage].add(state, n);
    }

    /// The first stage with members not yet answered (planned or queued); None when all are.
    pub fn current(&self) -> Option<usize> {
        self.stages.iter().position(|p| p.remaining() > 0)
    }

    /// One stage's counts (its `stage` field set to it while it has members left).
    pub fn stage(&self, stage: usize) -> RunProgress {
        let mut progress = self.stages.get(stage).cloned().unwrap_or_default();
        progress.stage = (progress.remaining() > 0).then_some(stage);
        progress
    }

    /// The whole run's counts, with the current stage.
    pub fn whole(&self) -> RunProgress {
        let mut progress = RunProgress::default();
        for p in &self.stages {
            progress.total += p.total;
            progress.planned += p.planned;
            progress.queued += p.queued;
            progress.sent += p.sent;
            progress.failed += p.failed;
            progress.skipped += p.skipped;
        }
        progress.stage = self.current();
        progress
    }

    /// Stages that have members in the outbox waiting for an answer.
    pub fn stages_with_queued(&self) -> impl Iterator<Item = usize> + '_ {
        self.stages
            .iter()
            .enumerate()
            .filter(|(_, p)| p.queued > 0)
            .map(|(i, _)| i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tally_gives_the_whole_run_each_stage_and_the_current_one() {
        let mut tally = RunTally::default();
        tally.add(0, MemberState::Failed, 1);
        tally.add(1, MemberState::Sent, 8);
        tally.add(1, MemberState::Queued, 2);
        tally.add(2, MemberState::Planned, 30);
        tally.add(0, MemberState::Skipped, 4);
        assert_eq!(tally.current(), Some(1));
        let whole = tally.whole();
        assert_eq!(
            (whole.total, whole.sent, whole.failed, whole.skipped),
            (45, 8, 1, 4)
        );
        assert_eq!((whole.planned, whole.queued, whole.stage), (30, 2, Some(1)));
        let first = tally.stage(0);
        assert_eq!((first.failed, first.skipped, first.stage), (1, 4, None));
        assert_eq!(tally.stage(2).stage, Some(2));
        assert_eq!(tally.stage(7), RunProgress::default());
        assert_eq!(tally.stages_with_queued().collect::<Vec<_>>(), vec![1]);
        assert_eq!(RunTally::default().whole().stage, None);
    }
}
