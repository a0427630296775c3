#!/usr/bin/env bash
# The full suite: starts isolated RabbitMQ, Alertmanager and moto (SQS) (scripts/upstreams.sh), installs the
# pinned schemathesis (scripts/schemathesis.sh), runs every test including those that need the real
# servers or schemathesis, and stops the servers even when a test fails.
set -euo pipefail
cd "$(dirname "$0")/.."
export TRIAGE_UPSTREAMS_DIR=${TRIAGE_UPSTREAMS_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/triage-upstreams.XXXXXX")}
trap 'scripts/upstreams.sh stop' EXIT
scripts/upstreams.sh start >/dev/null
# shellcheck disable=SC1091
. "$TRIAGE_UPSTREAMS_DIR/env"
export TRIAGE_FULL_SUITE=1
# The Connector API conformance check (tests/it/schemathesis.rs) runs this schemathesis.
TRIAGE_SCHEMATHESIS=$(scripts/schemathesis.sh)
export TRIAGE_SCHEMATHESIS
# Benches are built by clippy (--all-targets) and run with `cargo bench`; they build big stores;
# `scripts/bench --quick` below runs the table's benches at small sizes.
# One test crate runs its tests side by side: the broker-restart test gets the broker to itself,
# after the rest (a restart would cut every other test's connection).
status=0
cargo test --tests --no-fail-fast -- --include-ignored --skip rabbitmq_restart:: --skip sqs_bulk:: "$@" || status=$?
cargo test --test it --no-fail-fast -- --include-ignored rabbitmq_restart:: "$@" || status=$?
# The SQS bulk runs measure a rate (200/s within 10 %, 4/s within 10 %) against the local server:
# alone, one at a time, so no other test's load is in the figure.
cargo test --test it --no-fail-fast -- --include-ignored --test-threads 1 sqs_bulk:: "$@" || status=$?
# Every bench of the #15 table runs and prints its rows (debug build, small sizes).
scripts/bench --quick || status=$?
exit "$status"
