//! A plan's contract check: each letter's payload against its connector's JSON Schema (from
//! the config; compiled once per file), the letters split over the machine's cores — for a
//! selection of thousands this is most of what planning costs, and the letters do not depend
//! on each other.

use std::collections::HashMap;
use std::path::PathBuf;

use crate::config::Config;
use crate::demo::contract::Contract;
use crate::domain::DeadLetter;

/// Below this many letters a plan checks them on one thread (starting threads costs more).
const PARALLEL_FROM: usize = 256;

/// The first contract violation of each letter (None: conforms, or its connector has no
/// contract), in the letters' order. A payload that is not JSON violates any contract; a
/// contract that cannot be read or compiled is every letter's violation.
pub(super) fn first_violations(config: &Config, letters: &[&DeadLetter]) -> Vec<Option<String>> {
    let contracts = Contracts::compile(config, letters);
    if contracts.by_connector.is_empty() {
        return vec![None; letters.len()];
    }
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    if threads < 2 || letters.len() < PARALLEL_FROM {
        return letters.iter().map(|l| contracts.violation(l)).collect();
    }
    let chunk = letters.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let workers: Vec<_> = letters
            .chunks(chunk)
            .map(|part| {
                let contracts = &contracts;
                scope.spawn(move || {
                    part.iter()
                        .map(|l| contracts.violation(l))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| {
                // A worker only panics if the validator does; say so rather than lose letters.
                w.join().unwrap_or_else(|_| {
                    vec![Some("the contract check failed (see the log)".to_string()); chunk]
                })
            })
            .take(letters.len())
            .collect()
    })
}

/// The contracts of the connectors the letters belong to, compiled once per file.
struct Contracts {
    by_connector: HashMap<String, std::sync::Arc<Result<Contract, String>>>,
}

impl Contracts {
    fn compile(config: &Config, letters: &[&DeadLetter]) -> Contracts {
        let mut files: HashMap<PathBuf, std::sync::Arc<Result<Contract, String>>> = HashMap::new();
        let mut by_connector = HashMap::new();
        for letter in letters {
            if by_connector.contains_key(&letter.connector) {
                continue;
            }
            let Some(path) = config
                .connector(&letter.connector)
                .and_then(|c| c.contract.clone())
            else {
                continue;
            };
            let contract = files
                .entry(path.clone())
                .or_insert_with(|| std::sync::Arc::new(Contract::from_file(&path)))
                .clone();
            by_connector.insert(letter.connector.clone(), contract);
        }
        Contracts { by_connector }
    }

    fn violation(&self, letter: &DeadLetter) -> Option<String> {
        let contract = match self.by_connector.get(&letter.connector)?.as_ref() {
            Ok(contract) => contract,
            Err(e) => return Some(e.clone()),
        };
        match serde_json::from_slice::<serde_json::Value>(&letter.payload) {
            Ok(value) => contract.first_violation(&value),
            Err(e) => Some(format!("payload is not JSON: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ConnectorConfig;
    use crate::domain::{DeadLetterError, DeadLetterState, Direction};

    fn connector(id: &str, contract: Option<PathBuf>) -> ConnectorConfig {
        ConnectorConfig {
            id: id.into(),
            name: id.into(),
            source: "s".into(),
            destination: "d".into(),
            direction: Direction::Outbound,
            purpose: String::new(),
            upstream: "demo".into(),
            owner: "o".into(),
            backup: None,
            ack_sla: std::time::Duration::from_secs(60),
            runbook: None,
            contract,
            queue: None,
            dead_letter_queue: None,
            line: 1,
        }
    }

    fn letter(i: usize, connector: &str, payload: &str) -> DeadLetter {
        let now = chrono::Utc::now();
        DeadLetter {
            upstream: "demo".into(),
            id: format!("dl-{i}"),
            connector: connector.into(),
            payload: payload.as_bytes().to_vec(),
            content_type: None,
            headers: Vec::new(),
            error: DeadLetterError {
                code: "E".into(),
                message: "m".into(),
                http_status: None,
                vendor_response: None,
            },
            attempts: 1,
            first_failed_at: now,
            last_failed_at: now,
            state: DeadLetterState::Dead,
            updated_at: now,
        }
    }

    #[test]
    fn the_parallel_check_finds_what_one_thread_finds_in_the_letters_order() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("lead.json");
        let (_, schema) = crate::demo::contract::BUILTIN_CONTRACTS
            .iter()
            .find(|(name, _)| *name == "hubspot-form-lead.json")
            .unwrap();
        std::fs::write(&file, schema).unwrap();
        let config = Config {
            file: None,
            operator: "op".into(),
            read_only: false,
            store: None,
            default_ack_sla: std::time::Duration::from_secs(900),
            upstreams: Vec::new(),
            connectors: vec![
                connector("crm", Some(file)),
                connector("free", None),
                connector("broken", Some(dir.path().join("missing.json"))),
            ],
            people: Vec::new(),
            teams: Vec::new(),
        };
        let good = r#"{"form_id":"f","submitted_at":"2026-11-29T08:00:00Z","email":"a@b.co"}"#;
        let no_email = r#"{"form_id":"f","submitted_at":"2026-11-29T08:00:00Z"}"#;
        let letters: Vec<DeadLetter> = (0..1000)
            .map(|i| match i % 5 {
                0 => letter(i, "crm", good),
                1 => letter(i, "crm", no_email),
                2 => letter(i, "crm", "not json"),
                3 => letter(i, "free", "anything"),
                _ => letter(i, "broken", good),
            })
            .collect();
        let refs: Vec<&DeadLetter> = letters.iter().collect();
        let found = first_violations(&config, &refs);
        let contracts = Contracts::compile(&config, &refs);
        let one_thread: Vec<Option<String>> = refs.iter().map(|l| contracts.violation(l)).collect();
        assert_eq!(found, one_thread);
        assert_eq!(found.len(), 1000);
        assert_eq!(found[0], None);
        assert!(
            found[1].as_deref().is_some_and(|v| v.contains("email")),
            "{:?}",
            found[1]
        );
        assert!(found[2].as_deref().is_some_and(|v| v.contains("not JSON")));
        assert_eq!(found[3], None);
        assert!(
            found[4]
                .as_deref()
                .is_some_and(|v| v.contains("missing.json"))
        );
        assert_eq!(found[995], None);
        assert!(found[996].is_some());
    }
}
