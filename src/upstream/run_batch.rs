//! What a run's driver tells an adapter about a batch it hands over: the run's rate, a signal
//! that turns true when the run is paused or cancelled while the batch is in flight, and where
//! to report a move the upstream makes itself (SQS's `StartMessageMoveTask`). Adapters that send
//! message by message ignore it (the driver paces them); one that hands a whole DLQ to the server
//! passes the rate on, cancels the server's task when the run stops, and reports its progress.

use std::sync::Arc;

use serde::Serialize;
use tokio::sync::watch;

/// How a move the upstream makes itself goes, as its last listing said.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServerMove {
    /// The queue it moves from (a DLQ).
    pub queue: String,
    /// The server's word: `RUNNING`, `COMPLETED`, `CANCELLING`, `CANCELLED`, `FAILED`.
    pub status: String,
    pub moved: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to_move: Option<u64>,
}

/// A batch of a run, as the driver hands it to [`Upstream::perform_run_batch`](super::Upstream::perform_run_batch).
#[derive(Debug, Clone)]
pub struct RunBatch {
    pub run: String,
    /// The run's rate (members per second), when it has one.
    pub rate: Option<f64>,
    stop: watch::Receiver<bool>,
    progress: Arc<watch::Sender<Option<ServerMove>>>,
}

/// The driver's side of a [`RunBatch`]: stops it, and reads the progress adapters report.
#[derive(Debug)]
pub struct RunBatchControl {
    stop: watch::Sender<bool>,
    pub progress: watch::Receiver<Option<ServerMove>>,
}

impl RunBatch {
    /// A batch of run `run` at `rate`, and its control.
    pub fn new(run: &str, rate: Option<f64>) -> (RunBatch, RunBatchControl) {
        let (stop_tx, stop_rx) = watch::channel(false);
        let (progress_tx, progress_rx) = watch::channel(None);
        (
            RunBatch {
                run: run.to_string(),
                rate,
                stop: stop_rx,
                progress: Arc::new(progress_tx),
            },
            RunBatchControl {
                stop: stop_tx,
                progress: progress_rx,
            },
        )
    }

    /// True once the run was paused or cancelled.
    pub fn stopped(&self) -> bool {
        *self.stop.borrow()
    }

    /// Resolves when the run is paused or cancelled (never, when its driver is gone).
    pub async fn stopping(&self) {
        let mut stop = self.stop.clone();
        if stop.wait_for(|s| *s).await.is_err() {
            std::future::pending::<()>().await;
        }
    }

    /// Reports how the server's move goes.
    pub fn report(&self, progress: ServerMove) {
        self.progress.send_replace(Some(progress));
    }
}

impl RunBatchControl {
    /// The run stopped (paused or cancelled): the batch's adapter is told.
    pub fn stop(&self) {
        self.stop.send_replace(true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_stop_reaches_the_batch_and_progress_reaches_the_driver() {
        let (batch, mut control) = RunBatch::new("r1", Some(5.0));
        assert!(!batch.stopped());
        let waiting = batch.clone();
        let stopped = tokio::spawn(async move { waiting.stopping().await });
        control.stop();
        tokio::time::timeout(std::time::Duration::from_secs(5), stopped)
            .await
            .expect("stopped in time")
            .expect("task");
        assert!(batch.stopped());
        batch.report(ServerMove {
            queue: "dlq".into(),
            status: "RUNNING".into(),
            moved: 2,
            to_move: Some(5),
        });
        assert!(control.progress.has_changed().unwrap_or(false));
        assert_eq!(
            control
                .progress
                .borrow_and_update()
                .as_ref()
                .map(|m| m.moved),
            Some(2)
        );
    }
}
