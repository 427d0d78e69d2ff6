#!/usr/bin/env bash
# A local moto server (real S3 + SQS + SNS protocol) for the integration tests.
#
#   scripts/moto.sh start   install moto (pinned, into a venv, once) and start it in the background
#   scripts/moto.sh stop    stop the server that `start` started (from target/moto.pid)
#   scripts/moto.sh env     print `export TRAILWATCH_TEST_ENDPOINT=http://127.0.0.1:PORT`
#   scripts/moto.sh status  exit 0 when moto answers on the port, 1 otherwise
#
# TRAILWATCH_MOTO_PORT  port on 127.0.0.1 (default 5055); a moto already serving there is reused
# TRAILWATCH_MOTO_VENV  the venv (default target/moto-venv, relative to the repository root)
#
# Needs only python3 (with its venv module), pip's index and curl. Log: target/moto.log.
set -euo pipefail
cd "$(dirname "$0")/.."

PORT=${TRAILWATCH_MOTO_PORT:-5055}
VENV=${TRAILWATCH_MOTO_VENV:-target/moto-venv}
URL="http://127.0.0.1:$PORT"
PIDFILE=target/moto.pid
LOG=target/moto.log
# Pinned: the versions measured in ecosystem.md. Changing this list reinstalls into the venv.
PINS=("moto[s3,sqs,sns]==5.2.5" "flask==3.1.3" "flask-cors==6.0.5" "werkzeug==3.1.9")
READY_SECS=20

say() { echo "moto: $*" >&2; }
die() {
    say "error: $*"
    exit 1
}

serving() { curl -sf -o /dev/null --max-time 2 "$URL/moto-api/"; }

# The pid in target/moto.pid, when that process is still a moto_server (not a recycled pid).
our_pid() {
    local pid
    [ -f "$PIDFILE" ] || return 1
    pid=$(cat "$PIDFILE" 2>/dev/null) || return 1
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q moto_server || return 1
    echo "$pid"
}

install() {
    local stamp="$VENV/.trailwatch-pins" want t0
    want="${PINS[*]}"
    if [ -x "$VENV/bin/moto_server" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
        return 0
    fi
    t0=$EPOCHREALTIME
    if [ ! -x "$VENV/bin/python" ]; then
        say "creating venv $VENV"
        python3 -m venv "$VENV" ||
            die "'python3 -m venv $VENV' failed (on Debian/Ubuntu: apt-get install python3-venv)"
    fi
    say "installing ${PINS[*]} into $VENV"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check "${PINS[@]}" ||
        die "pip install into $VENV failed"
    echo "$want" >"$stamp"
    say "installed in $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }') s"
}

start() {
    mkdir -p target
    if serving; then
        say "reusing the moto server already on $URL"
        return 0
    fi
    local stale
    if stale=$(our_pid); then
        if tr '\0' ' ' <"/proc/$stale/cmdline" | grep -q -- "-p $PORT "; then
            say "stopping our earlier moto server (pid $stale), which does not answer on $URL"
            stop
        else
            die "our moto server on another port (pid $stale, see $PIDFILE) is running: $0 stop first"
        fi
    fi
    install
    local t0 pid
    t0=$EPOCHREALTIME
    # No stdin, output to the log (callers that capture our output must not wait for the server),
    # and not the lock's descriptor (the next `start` would wait for this server to exit).
    "$VENV/bin/moto_server" -H 127.0.0.1 -p "$PORT" >"$LOG" 2>&1 </dev/null 9>&- &
    pid=$!
    echo "$pid" >"$PIDFILE"
    local deadline=$((SECONDS + READY_SECS))
    until serving; do
        if ! kill -0 "$pid" 2>/dev/null; then
            rm -f "$PIDFILE"
            say "error: moto_server exited before answering on $URL; its log ($LOG):"
            cat "$LOG" >&2
            exit 1
        fi
        if [ "$SECONDS" -ge "$deadline" ]; then
            kill "$pid" 2>/dev/null || true
            rm -f "$PIDFILE"
            say "error: moto_server (pid $pid) did not answer on $URL within $READY_SECS s; its log ($LOG):"
            cat "$LOG" >&2
            exit 1
        fi
        sleep 0.1
    done
    say "ready on $URL (pid $pid) in $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }') s"
}

stop() {
    local pid
    if ! pid=$(our_pid); then
        rm -f "$PIDFILE"
        say "no moto server of ours is running"
        return 0
    fi
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$PIDFILE"
    say "stopped (pid $pid)"
}

# One start at a time per repository (two test runs must not install into the venv together).
locked() {
    mkdir -p target
    if command -v flock >/dev/null; then
        exec 9>target/moto.lock
        flock 9
    fi
    "$@"
}

case "${1:-}" in
start) locked start ;;
stop) stop ;;
env) echo "export TRAILWATCH_TEST_ENDPOINT=$URL" ;;
status) serving ;;
*)
    echo "usage: $0 start|stop|env|status" >&2
    exit 2
    ;;
esac
