//! `triage watch` adopts runs nobody drives: a run still `running` whose driver is gone (the
//! console that started it quit, a `replay --where` was killed, an SSH session closed) has no
//! live lease (`run_lease`); the active watcher drives it to its end like `triage runs resume`
//! would, one task per run, with its own upstream adapters. A run paused or cancelled meanwhile
//! stops its task; a driver that comes back finds the run driven and says so.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::Utc;
use tokio::sync::broadcast;
use tokio::task::JoinHandle;

use super::run_driver::{Driven, drive};
use super::{StoreWriter, Upstreams};
use crate::config::{Config, RoutingConfig};
use crate::domain::run::RunState;
use crate::store::{ChangeNotice, StoreError};

/// The runs this watcher drives, by id.
pub struct RunAdopter {
    upstreams: Arc<Upstreams>,
    changes: broadcast::Sender<ChangeNotice>,
    tasks: HashMap<String, JoinHandle<()>>,
}

impl RunAdopter {
    pub async fn new(config: &Config, routing: &RoutingConfig, store: &StoreWriter) -> RunAdopter {
        // Errors building an upstream are recorded by the sync the watcher starts.
        let (upstreams, _errors) = Upstreams::from_config(config, routing);
        upstreams.remember_handled(store).await;
        RunAdopter {
            upstreams: Arc::new(upstreams),
            changes: broadcast::channel(16).0,
            tasks: HashMap::new(),
        }
    }

    /// Starts driving every running run without a live driver; returns the ids adopted now.
    pub async fn adopt_orphans(&mut self, store: &StoreWriter) -> Result<Vec<String>, StoreError> {
        self.tasks.retain(|_, task| !task.is_finished());
        let orphans = store
            .call(|s| {
                let driven: Vec<String> = s
                    .lock_holders("run:", Utc::now())?
                    .into_iter()
                    .map(|(name, _)| name)
                    .collect();
                Ok(s.runs()?
                    .into_iter()
                    .filter(|r| r.state == RunState::Running)
                    .filter(|r| !driven.contains(&super::run_lease::lock_name(&r.id)))
                    .map(|r| r.id)
                    .collect::<Vec<String>>())
            })
            .await?;
        let mut adopted = Vec::new();
        for id in orphans {
            if self.tasks.contains_key(&id) {
                continue;
            }
            let (store, upstreams, changes) =
                (store.clone(), self.upstreams.clone(), self.changes.clone());
            let run = id.clone();
            let task = tokio::spawn(async move {
                match drive(&run, &store, &upstreams, &changes, |_| {}).await {
                    Ok(Driven::Ended(state)) => {
                        eprintln!(
                            "watch: run {run} adopted and driven until {}",
                            state.as_str()
                        )
                    }
                    Ok(Driven::Elsewhere(other)) => {
                        eprintln!("watch: run {run} is driven by {}", other.holder)
                    }
                    Err(e) => eprintln!(
                        "watch: run {run}: {}",
                        crate::domain::redact::scrub(&e.to_string())
                    ),
                }
            });
            self.tasks.insert(id.clone(), task);
            adopted.push(id);
        }
        Ok(adopted)
    }

    /// Stops driving (the watcher stops or lost its lease): what is in flight keeps its
    /// idempotency keys, and the next driver takes the leases over.
    pub fn stop(&mut self) {
        for (_, task) in self.tasks.drain() {
            task.abort();
        }
    }
}
