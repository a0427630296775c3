#!/usr/bin/env bash
# Isolated RabbitMQ 3.10 (+ management), Prometheus Alertmanager 0.25 and an SQS-compatible server
# (moto's server mode, pinned in scripts/moto-requirements.txt, in a venv under $DIR/sqs) on free
# loopback ports, for triage's tests. Installs the Debian packages when missing; never touches
# machine-wide instances.
# RabbitMQ also gets TLS listeners (amqps, and https for management) with a throwaway CA and server
# certificate (CN/SAN 127.0.0.1 and localhost) made with the openssl CLI in $DIR/rmq/tls; the env
# names the CA.
#
#   scripts/upstreams.sh start   install if needed, start all three, wait until ready, write $DIR/env
#   scripts/upstreams.sh env     print the env vars the tests read (export lines)
#   scripts/upstreams.sh stop    stop all three (and the private epmd) by PID
#   scripts/upstreams.sh restart-rabbitmq   stop the broker by PID (TERM: a clean shutdown) and
#                                start it again on the same ports with the same data (tests of
#                                passes cut by a broker restart)
#
# DIR defaults to ${TMPDIR:-/tmp}/triage-upstreams-$UID; override with TRIAGE_UPSTREAMS_DIR.
set -euo pipefail
DIR=${TRIAGE_UPSTREAMS_DIR:-${TMPDIR:-/tmp}/triage-upstreams-$(id -u)}
RMQ_DIR=$DIR/rmq
AM_DIR=$DIR/am
SQS_DIR=$DIR/sqs
MOTO_REQUIREMENTS=$(cd "$(dirname "$0")" && pwd)/moto-requirements.txt
MOTO_SERVER=$(cd "$(dirname "$0")" && pwd)/moto-server.py

log() { printf '[upstreams] %s\n' "$*" >&2; }

install_packages() {
  local missing=()
  [ -x /usr/lib/rabbitmq/bin/rabbitmq-server ] || missing+=(rabbitmq-server)
  command -v openssl >/dev/null || missing+=(openssl)
  command -v prometheus-alertmanager >/dev/null || missing+=(prometheus-alertmanager)
  command -v tmux >/dev/null || missing+=(tmux)
  command -v curl >/dev/null || missing+=(curl)
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # The package's postinst tries to start services; there is no systemd here, so keep it from trying.
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  rm -f /usr/sbin/policy-rc.d
}

free_port() {  # a free TCP port on 127.0.0.1
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

rmq_env() {
  export PATH=/usr/lib/rabbitmq/bin:$PATH           # the real scripts; /usr/sbin wrappers switch user
  export HOME=$RMQ_DIR/home                          # private Erlang cookie (server and CLI)
  export RABBITMQ_NODENAME=triage${RMQ_AMQP_PORT}@localhost
  export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
  export RABBITMQ_NODE_PORT=$RMQ_AMQP_PORT
  export RABBITMQ_DIST_PORT=$RMQ_DIST_PORT
  export ERL_EPMD_PORT=$RMQ_EPMD_PORT                # private epmd, not the system one on 4369
  export ERL_EPMD_ADDRESS=127.0.0.1
  export RABBITMQ_MNESIA_BASE=$RMQ_DIR/mnesia
  export RABBITMQ_LOG_BASE=$RMQ_DIR/log
  export RABBITMQ_CONFIG_FILE=$RMQ_DIR/rabbitmq.conf
  export RABBITMQ_ENABLED_PLUGINS_FILE=$RMQ_DIR/enabled_plugins
  export RABBITMQ_PID_FILE=$RMQ_DIR/rabbit.pid
}

rmq_tls_dir() { printf '%s/tls' "$(cd "$RMQ_DIR" && pwd)"; }  # absolute: rabbitmq and tests read it

make_tls_certs() {  # throwaway CA + server certificate for 127.0.0.1/localhost, valid 7 days
  local tls; tls=$(rmq_tls_dir)
  mkdir -p "$tls"
  printf '%s\n' 'basicConstraints=critical,CA:FALSE' 'keyUsage=critical,digitalSignature,keyEncipherment' \
    'extendedKeyUsage=serverAuth' 'subjectAltName=IP:127.0.0.1,DNS:localhost' > "$tls/server.ext"
  {
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 7 \
      -subj "/CN=triage test CA" -keyout "$tls/ca.key" -out "$tls/ca.pem" \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" &&
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
      -subj "/CN=127.0.0.1" -keyout "$tls/server.key" -out "$tls/server.csr" &&
    openssl x509 -req -in "$tls/server.csr" -CA "$tls/ca.pem" -CAkey "$tls/ca.key" -CAcreateserial \
      -days 7 -extfile "$tls/server.ext" -out "$tls/server.pem" &&
    openssl verify -CAfile "$tls/ca.pem" "$tls/server.pem"
  } > "$tls/openssl.log" 2>&1 || { log "cannot make the TLS certificates:"; cat "$tls/openssl.log" >&2; return 1; }
}

start_rabbitmq() {
  rm -rf "$RMQ_DIR"; mkdir -p "$RMQ_DIR"/{home,log,mnesia}
  RMQ_AMQP_PORT=$(free_port); RMQ_HTTP_PORT=$(free_port); RMQ_DIST_PORT=$(free_port); RMQ_EPMD_PORT=$(free_port)
  RMQ_AMQPS_PORT=$(free_port); RMQ_HTTPS_PORT=$(free_port)
  printf 'RMQ_AMQP_PORT=%s\nRMQ_HTTP_PORT=%s\nRMQ_DIST_PORT=%s\nRMQ_EPMD_PORT=%s\nRMQ_AMQPS_PORT=%s\nRMQ_HTTPS_PORT=%s\n' \
    "$RMQ_AMQP_PORT" "$RMQ_HTTP_PORT" "$RMQ_DIST_PORT" "$RMQ_EPMD_PORT" "$RMQ_AMQPS_PORT" "$RMQ_HTTPS_PORT" > "$RMQ_DIR/ports"
  make_tls_certs
  local tls; tls=$(rmq_tls_dir)
  cat > "$RMQ_DIR/rabbitmq.conf" <<CONF
management.tcp.ip = 127.0.0.1
management.tcp.port = $RMQ_HTTP_PORT
management.ssl.ip = 127.0.0.1
management.ssl.port = $RMQ_HTTPS_PORT
management.ssl.cacertfile = $tls/ca.pem
management.ssl.certfile = $tls/server.pem
management.ssl.keyfile = $tls/server.key
collect_statistics_interval = 1000
loopback_users = none
listeners.ssl.default = 127.0.0.1:$RMQ_AMQPS_PORT
ssl_options.cacertfile = $tls/ca.pem
ssl_options.certfile = $tls/server.pem
ssl_options.keyfile = $tls/server.key
ssl_options.verify = verify_none
ssl_options.fail_if_no_peer_cert = false
CONF
  echo '[rabbitmq_management,rabbitmq_shovel].' > "$RMQ_DIR/enabled_plugins"
  ( rmq_env; setsid nohup rabbitmq-server > "$RMQ_DIR/log/stdout.log" 2>&1 < /dev/null & echo $! > "$RMQ_DIR/wrapper.pid" )
}

wait_rabbitmq() {
  local t0=$SECONDS
  until curl -fsS -o /dev/null -u guest:guest "http://127.0.0.1:$RMQ_HTTP_PORT/api/overview" 2>/dev/null; do
    kill -0 "$(cat "$RMQ_DIR/wrapper.pid")" 2>/dev/null || { log "rabbitmq died"; tail -50 "$RMQ_DIR/log/stdout.log" >&2; return 1; }
    (( SECONDS - t0 > 120 )) && { log "rabbitmq not ready after 120 s"; tail -50 "$RMQ_DIR/log/stdout.log" >&2; return 1; }
    sleep 0.25
  done
  until (: < "/dev/tcp/127.0.0.1/$RMQ_AMQPS_PORT") 2>/dev/null; do
    (( SECONDS - t0 > 120 )) && { log "rabbitmq TLS listener not up after 120 s"; tail -50 "$RMQ_DIR/log/stdout.log" >&2; return 1; }
    sleep 0.25
  done
  until curl -fsS -o /dev/null --cacert "$(rmq_tls_dir)/ca.pem" -u guest:guest "https://127.0.0.1:$RMQ_HTTPS_PORT/api/overview" 2>/dev/null; do
    (( SECONDS - t0 > 120 )) && { log "rabbitmq https management not up after 120 s"; tail -50 "$RMQ_DIR/log/stdout.log" >&2; return 1; }
    sleep 0.25
  done
  log "rabbitmq ready: amqp 127.0.0.1:$RMQ_AMQP_PORT, amqps 127.0.0.1:$RMQ_AMQPS_PORT (CA $(rmq_tls_dir)/ca.pem), management http://127.0.0.1:$RMQ_HTTP_PORT, https://127.0.0.1:$RMQ_HTTPS_PORT"
}

start_alertmanager() {
  rm -rf "$AM_DIR"; mkdir -p "$AM_DIR/data"
  AM_PORT=$(free_port)
  echo "AM_PORT=$AM_PORT" > "$AM_DIR/ports"
  cat > "$AM_DIR/alertmanager.yml" <<'YML'
route:
  receiver: default
  group_by: ['alertname', 'connector']
  group_wait: 1s
  group_interval: 5s
  repeat_interval: 1h
receivers:   # no *_configs: route and group, never notify
  - name: default
inhibit_rules:   # tests: a TriageInhibitSource alert suppresses warnings of the same connector
  - source_matchers: ['alertname="TriageInhibitSource"']
    target_matchers: ['severity="warning"']
    equal: ['connector']
YML
  setsid nohup prometheus-alertmanager --config.file="$AM_DIR/alertmanager.yml" --storage.path="$AM_DIR/data" \
    --web.listen-address="127.0.0.1:$AM_PORT" --cluster.listen-address= --log.level=info \
    > "$AM_DIR/alertmanager.log" 2>&1 < /dev/null &
  echo $! > "$AM_DIR/am.pid"
}

wait_alertmanager() {
  local t0=$SECONDS
  until curl -fsS -o /dev/null "http://127.0.0.1:$AM_PORT/-/ready" 2>/dev/null; do
    kill -0 "$(cat "$AM_DIR/am.pid")" 2>/dev/null || { log "alertmanager died"; cat "$AM_DIR/alertmanager.log" >&2; return 1; }
    (( SECONDS - t0 > 30 )) && { log "alertmanager not ready after 30 s"; cat "$AM_DIR/alertmanager.log" >&2; return 1; }
    sleep 0.1
  done
  log "alertmanager ready: http://127.0.0.1:$AM_PORT"
}

install_moto() {  # the pinned moto[server] in $SQS_DIR/venv (reused while it matches the pins)
  local venv=$SQS_DIR/venv pins installed
  pins=$(grep -v '^#' "$MOTO_REQUIREMENTS" | tr 'A-Z_' 'a-z-' | sort)
  installed=$("$venv/bin/python" -m pip freeze 2>/dev/null | tr 'A-Z_' 'a-z-' | sort || true)
  [ -x "$venv/bin/moto_server" ] && [ "$installed" = "$pins" ] && return 0
  local python; python=$(command -v python3.11 || command -v python3 || true)
  [ -n "$python" ] || { log "no python3.11 or python3 on PATH (needed for moto)"; return 1; }
  log "installing moto (pinned) into $venv"
  rm -rf "$venv"; mkdir -p "$SQS_DIR"
  "$python" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input -r "$MOTO_REQUIREMENTS" >&2
}

start_sqs() {  # moto's server, bound to 127.0.0.1 only; its state lives in memory, its files in $SQS_DIR
  mkdir -p "$SQS_DIR/home" "$SQS_DIR/tmp"
  SQS_PORT=$(free_port)
  echo "SQS_PORT=$SQS_PORT" > "$SQS_DIR/ports"
  # One simple command in the background, so $! is moto's own PID (a `cd … && …` list would be
  # a subshell whose PID `stop` would kill, leaving moto running). moto-server.py is moto's own
  # server with some of its SQS methods replaced: a delete that loses no concurrent call's work,
  # and receive, send, change-visibility and the retention check at the cost of the batch instead
  # of the queue's depth, with moto's answers (see that file).
  ( cd "$SQS_DIR"
    HOME=$SQS_DIR/home TMPDIR=$SQS_DIR/tmp XDG_CACHE_HOME=$SQS_DIR/home/.cache \
      setsid nohup "$SQS_DIR/venv/bin/python" "$MOTO_SERVER" -H 127.0.0.1 -p "$SQS_PORT" \
      > "$SQS_DIR/moto.log" 2>&1 < /dev/null &
    echo $! > "$SQS_DIR/moto.pid" )
}

wait_sqs() {
  local t0=$SECONDS
  until curl -fsS -o /dev/null -X POST -H 'Content-Type: application/x-amz-json-1.0' \
      -H 'X-Amz-Target: AmazonSQS.ListQueues' -d '{}' "http://127.0.0.1:$SQS_PORT/" 2>/dev/null; do
    kill -0 "$(cat "$SQS_DIR/moto.pid")" 2>/dev/null || { log "moto died"; tail -50 "$SQS_DIR/moto.log" >&2; return 1; }
    (( SECONDS - t0 > 60 )) && { log "moto not ready after 60 s"; tail -50 "$SQS_DIR/moto.log" >&2; return 1; }
    sleep 0.1
  done
  log "sqs (moto) ready: http://127.0.0.1:$SQS_PORT"
}

stop_sqs() {
  [ -f "$SQS_DIR/moto.pid" ] || return 0
  local pid; pid=$(cat "$SQS_DIR/moto.pid"); kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true; rm -f "$SQS_DIR/moto.pid"
}

print_env() {
  # shellcheck disable=SC1091
  . "$RMQ_DIR/ports"; . "$AM_DIR/ports"; . "$SQS_DIR/ports"
  cat <<ENV
export TRIAGE_TEST_RABBITMQ_AMQP=amqp://guest:guest@127.0.0.1:$RMQ_AMQP_PORT/%2f
export TRIAGE_TEST_RABBITMQ_HTTP=http://127.0.0.1:$RMQ_HTTP_PORT
export TRIAGE_TEST_RABBITMQ_AMQPS=amqps://guest:guest@127.0.0.1:$RMQ_AMQPS_PORT/%2f
export TRIAGE_TEST_RABBITMQ_CA=$(rmq_tls_dir)/ca.pem
export TRIAGE_TEST_RABBITMQ_HTTPS=https://127.0.0.1:$RMQ_HTTPS_PORT
export TRIAGE_TEST_ALERTMANAGER=http://127.0.0.1:$AM_PORT
export TRIAGE_TEST_SQS_ENDPOINT=http://127.0.0.1:$SQS_PORT
export TRIAGE_TEST_SQS_REGION=us-east-1
export TRIAGE_TEST_SQS_ACCESS_KEY_ID=testing
export TRIAGE_TEST_SQS_SECRET_ACCESS_KEY=testing-secret
export TRIAGE_TEST_SQS_MOTO=$SQS_DIR/venv/bin/moto_server
export TRIAGE_UPSTREAMS_DIR=$DIR
ENV
}

stop_rabbitmq() {  # by PID: TERM (RabbitMQ shuts down cleanly), then KILL after 20 s
  # shellcheck disable=SC1091
  . "$RMQ_DIR/ports"
  local beam wrapper
  beam=$(cat "$RMQ_DIR/rabbit.pid" 2>/dev/null || true)     # read first: deleted on shutdown
  wrapper=$(cat "$RMQ_DIR/wrapper.pid" 2>/dev/null || true)
  [ -n "$wrapper" ] && kill -TERM "$wrapper" 2>/dev/null || true
  for _ in $(seq 1 80); do { [ -n "$beam" ] && kill -0 "$beam" 2>/dev/null; } || break; sleep 0.25; done
  [ -n "$beam" ] && kill -9 "$beam" 2>/dev/null || true
  [ -n "$wrapper" ] && kill -9 "$wrapper" 2>/dev/null || true
  rm -f "$RMQ_DIR/wrapper.pid"
}

restart_rabbitmq() {  # same ports, same data directory
  stop_rabbitmq
  ( rmq_env; setsid nohup rabbitmq-server >> "$RMQ_DIR/log/stdout.log" 2>&1 < /dev/null & echo $! > "$RMQ_DIR/wrapper.pid" )
  wait_rabbitmq
}

stop() {
  stop_sqs
  if [ -f "$AM_DIR/am.pid" ]; then
    local pid; pid=$(cat "$AM_DIR/am.pid"); kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true; rm -f "$AM_DIR/am.pid"
  fi
  if [ -f "$RMQ_DIR/ports" ]; then
    stop_rabbitmq
    ( rmq_env; epmd -port "$RMQ_EPMD_PORT" -kill >/dev/null 2>&1 || true )
  fi
  log "stopped"
}

case "${1:-start}" in
  start)
    install_packages
    mkdir -p "$DIR"
    install_moto || { log "cannot install moto"; exit 1; }
    start_rabbitmq; start_alertmanager; start_sqs
    wait_alertmanager && wait_sqs && wait_rabbitmq || { stop; exit 1; }
    print_env > "$DIR/env"
    cat "$DIR/env"
    ;;
  env) print_env ;;
  stop) stop ;;
  restart-rabbitmq) restart_rabbitmq ;;
  *) echo "usage: $0 start|env|stop|restart-rabbitmq" >&2; exit 2 ;;
esac
