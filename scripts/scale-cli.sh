#!/usr/bin/env bash
# `scripts/scale-cli.sh` (after `cargo build --release`): 1M letters from `triage demo --scale` through
# the real HTTP path into a fresh store, then the CLI listings timed with their peak memory.
set -euo pipefail
cd "$(dirname "$0")/.."
B=target/release/triage
D=/tmp/scale; rm -rf $D; mkdir -p $D
PORT=47400
start=$(date +%s.%N)
XDG_STATE_HOME=$D/state $B demo --serve-only --scale 1000000 --listen 127.0.0.1:$PORT --write-config $D/triage.toml > $D/demo.out 2> $D/demo.err &
DEMO=$!
trap 'kill $DEMO 2>/dev/null || true' EXIT
until [ -f $D/triage.toml ] && (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null; do sleep 0.5; done
echo "demo up with 1M letters after $(echo "$(date +%s.%N) - $start" | bc) s"
C="$B --config $D/triage.toml --store $D/t.db"
s=$(date +%s.%N); n=0
while :; do
  n=$((n+1)); XDG_STATE_HOME=$D/state $C sync --once > /dev/null 2>&1 || true
  have=$(sqlite3 $D/t.db "select count(*) from dead_letters" 2>/dev/null || echo 0)
  [ "$have" -ge 1000000 ] && break
  [ $n -ge 40 ] && break
done
e=$(date +%s.%N)
echo "sync: $have letters in $(echo "$e - $s" | bc) s over $n passes"
ls -la $D/t.db | awk '{print "store: " $5 " bytes"}'
for args in "dead-letters --limit 0 --json" "dead-letters --limit 0" "incidents --limit 0 --all-statuses" "incidents --limit 0 --json --all-statuses"; do
  /usr/bin/time -f "%e s, max RSS %M KB" -o $D/time.txt $C $args > $D/out.txt 2>/dev/null
  echo "$args: $(wc -l < $D/out.txt) lines, $(cat $D/time.txt)"
done
