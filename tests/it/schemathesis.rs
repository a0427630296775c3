//! The demo upstream against its own OpenAPI document: schemathesis (pinned, installed by
//! `scripts/schemathesis.sh`; `scripts/test-all.sh` exports its path as `TRIAGE_SCHEMATHESIS`)
//! runs every check on every operation of `assets/connector-api.yaml` against a fresh
//! `triage demo --serve-only --token …`, and must find nothing: no failure, no error (a dropped
//! connection is one), no warning, and no panic in the demo's stderr.
//!
//! Half the generated ids are real ones (schemathesis dictionaries of the demo's incidents and
//! dead letters, written beside a copy of `tests/schemathesis.toml`), so actions reach the
//! demo's logic instead of stopping at 404; the other half are anything the schema allows.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::demo_cli::{Demo, Killed};

const TOKEN: &str = "schemathesis-token-0123456789";
/// The run took ≈ 25 s on a debug build; far beyond that something hangs.
const DEADLINE: Duration = Duration::from_secs(300);

fn schemathesis() -> PathBuf {
    match std::env::var_os("TRIAGE_SCHEMATHESIS") {
        Some(path) => PathBuf::from(path),
        None => panic!(
            "TRIAGE_SCHEMATHESIS is not set: run scripts/test-all.sh, or \
             TRIAGE_SCHEMATHESIS=$(scripts/schemathesis.sh) cargo test --test it schemathesis -- --ignored"
        ),
    }
}

/// The ids of a listing's first page, as a schemathesis (libFuzzer-format) dictionary file.
fn dictionary(demo: &Demo, listing: &str, file: &Path) -> usize {
    let page = demo.get_with_token(&format!("{listing}?limit=500"), TOKEN);
    let ids: Vec<String> = page["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|item| item["id"].as_str())
                .map(|id| serde_json::to_string(id).expect("quote"))
                .collect()
        })
        .unwrap_or_default();
    assert!(!ids.is_empty(), "{listing} lists nothing: {page}");
    std::fs::write(file, ids.join("\n") + "\n").expect("write dictionary");
    ids.len()
}

/// `tests/schemathesis.toml` plus the dictionaries of live ids and where they are used.
fn config(demo: &Demo, dir: &Path) -> PathBuf {
    let incidents = dir.join("incidents.dict");
    let dead_letters = dir.join("dead_letters.dict");
    dictionary(demo, "/v1/incidents", &incidents);
    dictionary(demo, "/v1/dead-letters", &dead_letters);
    let base = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/schemathesis.toml"
    ))
    .expect("tests/schemathesis.toml");
    let live = format!(
        r#"
[dictionaries.incidents]
from-file = {incidents:?}
[dictionaries.dead_letters]
from-file = {dead_letters:?}

[[operations]]
include-path-regex = "^/v1/incidents/"
parameters = {{ "path.id" = {{ dictionary = "incidents", probability = 0.5 }} }}

[[operations]]
include-path-regex = "^/v1/dead-letters/\\{{id\\}}/"
parameters = {{ "path.id" = {{ dictionary = "dead_letters", probability = 0.5 }} }}

[[operations]]
include-operation-id-regex = "DeadLettersBatch$"
parameters = {{ "body.items[*].id" = {{ dictionary = "dead_letters", probability = 0.5 }} }}
"#
    );
    let path = dir.join("schemathesis.toml");
    std::fs::write(&path, base + &live).expect("write config");
    path
}

/// The number before `label` on the summary's "Test cases:" line (`2185 generated, …`).
fn count(summary: &str, label: &str) -> Option<u64> {
    let line = summary.lines().find(|l| l.contains(" generated"))?;
    let words: Vec<&str> = line.split([' ', ',']).filter(|w| !w.is_empty()).collect();
    let at = words.iter().position(|w| *w == label)?;
    words.get(at.checked_sub(1)?)?.parse().ok()
}

#[test]
#[ignore = "needs schemathesis: run scripts/test-all.sh"]
fn the_demo_answers_as_its_openapi_document_says() {
    let st = schemathesis();
    let demo = Demo::start(&["--token", TOKEN]);
    let work = tempfile::tempdir().expect("tempdir");
    let config = config(&demo, work.path());
    let seed = std::env::var("TRIAGE_SCHEMATHESIS_SEED").unwrap_or_else(|_| "1".to_string());
    let spec = concat!(env!("CARGO_MANIFEST_DIR"), "/assets/connector-api.yaml");
    let output = work.path().join("st.out");
    let started = Instant::now();
    let child = Command::new(&st)
        .arg("--config-file")
        .arg(&config)
        .args(["--no-color", "run", spec])
        .args(["--url", &format!("http://127.0.0.1:{}", demo.port)])
        .args(["--checks", "all"])
        .args(["--header", &format!("Authorization: Bearer {TOKEN}")])
        .args(["--seed", &seed, "--generation-database", "none"])
        .args(["--request-timeout", "10"])
        // Its cwd is the temp dir: nothing it may write lands in the repository.
        .current_dir(work.path())
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&output).expect("output file"))
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("run {}: {e}", st.display()));
    let mut child = Killed(child);
    let status = loop {
        if let Some(status) = child.0.try_wait().expect("wait for schemathesis") {
            break status;
        }
        assert!(
            started.elapsed() < DEADLINE,
            "schemathesis still running after {DEADLINE:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let elapsed = started.elapsed();
    let report = std::fs::read_to_string(&output).unwrap_or_default();
    let demo_stderr = demo.stderr();
    assert!(
        !demo_stderr.contains("panicked"),
        "the demo panicked under schemathesis:\n{demo_stderr}\n\n{report}"
    );
    assert!(
        status.success(),
        "schemathesis failed ({status}):\n{report}"
    );
    let summary = &report[report.find("SUMMARY").unwrap_or(0)..];
    assert!(
        summary.contains("Tested: 12"),
        "not every operation was tested:\n{report}"
    );
    let generated = count(summary, "generated").unwrap_or(0);
    let passed = count(summary, "passed").unwrap_or(0);
    assert!(generated >= 1000, "only {generated} cases:\n{report}");
    assert_eq!(passed, generated, "cases that did not pass:\n{report}");
    for bad in ["failure", "error", "warning"] {
        assert!(
            !summary
                .lines()
                .any(|l| l.starts_with('=') && l.contains(bad)),
            "{bad} in the summary:\n{report}"
        );
    }
    eprintln!(
        "schemathesis: {generated} cases, {passed} passed, 0 failures in {:.1} s (seed {seed})",
        elapsed.as_secs_f64()
    );
}
