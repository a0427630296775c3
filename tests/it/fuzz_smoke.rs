//! The fuzz smoke on stable, in every suite run: each fuzz target's body (`fuzz/src/lib.rs`,
//! included here by path, the very code `cargo +nightly fuzz run` drives) gets every file of its
//! committed corpus (`fuzz/corpus/<target>/`) and then inputs made from them by a seeded mutator
//! (bit flips, byte edits, cuts, repeats, splices and the target's own tokens). A panic anywhere
//! fails the test, naming the target and the input (hex) and where it was saved. Cheaper than
//! building the targets with nightly and ASan (docs/FUZZING.md has both, measured).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::time::Instant;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

#[path = "../../fuzz/src/lib.rs"]
mod bodies;

type Body = fn(&[u8]);

/// Each target, its body, and tokens worth splicing into its inputs.
const TARGETS: &[(&str, Body, &[&str])] = &[
    (
        "config",
        bodies::config,
        &[
            "[[upstream]]\n",
            "[[connector]]\n",
            "[[route]]\n",
            "[[chain]]\n",
            "id = \"x\"\n",
            "kind = \"rabbitmq\"\n",
            "url = \"http://u:pw@h/\"\n",
            "=",
            "\"",
            "'''",
            "\n",
            "[",
            "]",
            "{",
            "}",
            "\u{0}",
            "\u{ff}",
        ],
    ),
    (
        "connector_api",
        bodies::connector_api,
        &[
            "{\"items\":[",
            "]}",
            "\"payload_encoding\":\"base64\",",
            "\"payload\":\"=\",",
            "null",
            "\"status\":",
            "\\u0000",
            "\\ud800",
            "1e999",
            "-1",
            "{",
            "}",
            ",",
        ],
    ),
    (
        "amqp_headers",
        bodies::amqp_headers,
        &[
            "\u{0}",
            "\u{ff}",
            "x-death",
            "queue",
            "count",
            "routing-keys",
            "F",
            "A",
            "T",
            "S",
            "l",
            "x-triage-id",
        ],
    ),
    (
        "sanitize",
        bodies::sanitize,
        &[
            "\u{1b}[2J",
            "\u{9b}",
            "\u{202e}",
            "\u{2066}",
            "\r\n",
            "\t",
            "\u{7f}",
            "\u{0}",
        ],
    ),
    (
        "runbook",
        bodies::runbook,
        &[
            "# ", "\n", "- ", "1. ", "```", "> ", "[a](b)", "*", "**", "`", "<", "|", "\u{1b}",
            "\t", "    ",
        ],
    ),
    (
        "query",
        bodies::query,
        &[
            "status:", "re:", "age:<", "age:>", "since:", "until:", "header:", "origin:", "!",
            "\"", "\\", "=", "(", "[", "*", "\u{0}", "2h", "1d", " ",
        ],
    ),
];

fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("corpus entry").path())
        .collect();
    files.sort();
    files
        .iter()
        .map(|f| std::fs::read(f).expect("read corpus file"))
        .collect()
}

/// One input made from the corpus: a seed changed one to four times.
fn mutate(rng: &mut StdRng, seeds: &[Vec<u8>], tokens: &[&str]) -> Vec<u8> {
    let mut input = seeds[rng.random_range(0..seeds.len())].clone();
    for _ in 0..rng.random_range(1..=4) {
        let at = rng.random_range(0..=input.len());
        match rng.random_range(0..8) {
            0 if !input.is_empty() => {
                let i = at.min(input.len() - 1);
                input[i] ^= 1 << rng.random_range(0..8);
            }
            1 => input.insert(at, rng.random()),
            2 if !input.is_empty() => {
                let end = (at + rng.random_range(1..=16)).min(input.len());
                input.drain(at.min(end)..end);
            }
            3 => {
                let end = (at + rng.random_range(1..=32)).min(input.len());
                let piece = input[at..end].to_vec();
                for _ in 0..rng.random_range(1..=8) {
                    input.splice(at..at, piece.iter().copied());
                }
            }
            4 => {
                let other = &seeds[rng.random_range(0..seeds.len())];
                let from = rng.random_range(0..=other.len());
                input.splice(at..at, other[from..].iter().copied());
            }
            5 => input.truncate(at),
            _ => {
                let token = tokens[rng.random_range(0..tokens.len())];
                input.splice(at..at, token.bytes());
            }
        }
    }
    input
}

fn run(target: &str, body: Body, input: &[u8]) {
    if catch_unwind(AssertUnwindSafe(|| body(input))).is_err() {
        let dir = std::env::temp_dir().join("triage-fuzz-smoke");
        let _ = std::fs::create_dir_all(&dir);
        let file = dir.join(format!("crash-{target}-{:016x}", fxhash(input)));
        let _ = std::fs::write(&file, input);
        panic!(
            "fuzz target {target} crashed on {} (saved to {}; reproduce: cd fuzz && \
             cargo +nightly fuzz run {target} {})",
            hex::encode(input),
            file.display(),
            file.display()
        );
    }
}

fn fxhash(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h: u64, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[test]
fn every_fuzz_target_survives_its_corpus_and_mutations_of_it() {
    let per_target: usize = std::env::var("TRIAGE_FUZZ_SMOKE_INPUTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(20_000);
    for &(target, body, tokens) in TARGETS {
        let started = Instant::now();
        let seeds = corpus(target);
        assert!(!seeds.is_empty(), "fuzz/corpus/{target} is empty");
        for seed in &seeds {
            run(target, body, seed);
        }
        let mut rng = StdRng::seed_from_u64(fxhash(target.as_bytes()));
        for _ in 0..per_target {
            let input = mutate(&mut rng, &seeds, tokens);
            run(target, body, &input);
        }
        eprintln!(
            "fuzz smoke {target}: {} corpus files + {per_target} mutations in {:.2} s",
            seeds.len(),
            started.elapsed().as_secs_f64()
        );
    }
}
