#!/usr/bin/env bash
# A local SMTP server (scripts/smtp_server.py, on aiosmtpd) for the email integration tests.
#
#   scripts/smtp.sh start   install aiosmtpd (pinned, into a venv, once) and start the server in the
#                           background, with an empty mail directory
#   scripts/smtp.sh stop    stop the server that `start` started (from target/smtp.pid)
#   scripts/smtp.sh env     print `export TRAILWATCH_TEST_SMTP=127.0.0.1:PORT TRAILWATCH_TEST_SMTP_DIR=DIR`
#   scripts/smtp.sh status  exit 0 when our test server answers on the port, 1 otherwise
#
# TRAILWATCH_SMTP_PORT  port on 127.0.0.1 (default 2525); our server already serving there is reused
#                       (another checkout's is not: its messages go to its own directory)
# TRAILWATCH_SMTP_VENV  the venv (default target/smtp-venv, relative to the repository root)
#
# The server writes each message it accepts to target/smtp-mail/<n>.eml, its envelope to <n>.json;
# recipients fail4xx@… and fail5xx@… are refused with 451 and 550 (see scripts/smtp_server.py for
# the test account). Needs only python3 (with its venv module) and pip's index. Log:
# target/smtp.log.
set -euo pipefail
cd "$(dirname "$0")/.."

PORT=${TRAILWATCH_SMTP_PORT:-2525}
VENV=${TRAILWATCH_SMTP_VENV:-target/smtp-venv}
ADDR="127.0.0.1:$PORT"
MAILDIR="$PWD/target/smtp-mail"
PIDFILE=target/smtp.pid
LOG=target/smtp.log
# Pinned with their dependencies. Changing this list reinstalls into the venv.
PINS=("aiosmtpd==1.4.6" "atpublic==9.0.0" "attrs==26.1.0")
READY_SECS=20

say() { echo "smtp: $*" >&2; }
die() {
    say "error: $*"
    exit 1
}

# Connects, reads the greeting and says QUIT: 0 when it is our test server's "220 ... IDENT".
serving() {
    timeout 3 bash -c '
        exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
        IFS= read -r -t 2 line <&3 || exit 1
        printf "QUIT\r\n" >&3
        [[ $line == "220 "*" trailwatch-test-smtp"* ]]' _ "$PORT" 2>/dev/null
}

# The pid in target/smtp.pid, when that process is still our smtp_server.py writing to our
# directory (not a recycled pid).
our_pid() {
    local pid cmd
    [ -f "$PIDFILE" ] || return 1
    pid=$(cat "$PIDFILE" 2>/dev/null) || return 1
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    cmd=$(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline") || return 1
    [[ "$cmd" == *smtp_server.py*" --dir $MAILDIR "* ]] || return 1
    echo "$pid"
}

install() {
    local stamp="$VENV/.trailwatch-pins" want t0
    want="${PINS[*]}"
    if [ -x "$VENV/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
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
    local running
    if running=$(our_pid); then
        if serving; then
            say "reusing our SMTP server already on $ADDR (pid $running)"
            return 0
        fi
        if tr '\0' ' ' <"/proc/$running/cmdline" | grep -q -- "--port $PORT "; then
            say "stopping our earlier SMTP server (pid $running), which does not answer on $ADDR"
            stop
        else
            die "our SMTP server on another port (pid $running, see $PIDFILE) is running: $0 stop first"
        fi
    fi
    if serving; then
        die "an SMTP test server that this checkout did not start is on $ADDR (its messages go to \
its own directory): stop it, or set TRAILWATCH_SMTP_PORT to a free port"
    fi
    install
    rm -rf "$MAILDIR"
    mkdir -p "$MAILDIR"
    local t0 pid
    t0=$EPOCHREALTIME
    # No stdin, output to the log (callers that capture our output must not wait for the server),
    # and not the lock's descriptor (the next `start` would wait for this server to exit).
    "$VENV/bin/python" scripts/smtp_server.py --port "$PORT" --dir "$MAILDIR" --host 127.0.0.1 \
        >"$LOG" 2>&1 </dev/null 9>&- &
    pid=$!
    echo "$pid" >"$PIDFILE"
    local deadline=$((SECONDS + READY_SECS))
    until serving; do
        if ! kill -0 "$pid" 2>/dev/null; then
            rm -f "$PIDFILE"
            say "error: smtp_server.py exited before answering on $ADDR; its log ($LOG):"
            cat "$LOG" >&2
            exit 1
        fi
        if [ "$SECONDS" -ge "$deadline" ]; then
            kill "$pid" 2>/dev/null || true
            rm -f "$PIDFILE"
            say "error: smtp_server.py (pid $pid) did not answer on $ADDR within $READY_SECS s; its log ($LOG):"
            cat "$LOG" >&2
            exit 1
        fi
        sleep 0.1
    done
    say "ready on $ADDR (pid $pid, mail in $MAILDIR) in $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }') s"
}

stop() {
    local pid
    if ! pid=$(our_pid); then
        rm -f "$PIDFILE"
        say "no SMTP server of ours is running"
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
        exec 9>target/smtp.lock
        flock 9
    fi
    "$@"
}

case "${1:-}" in
start) locked start ;;
stop) stop ;;
env) printf 'export TRAILWATCH_TEST_SMTP=%q TRAILWATCH_TEST_SMTP_DIR=%q\n' "$ADDR" "$MAILDIR" ;;
status) serving ;;
*)
    echo "usage: $0 start|stop|env|status" >&2
    exit 2
    ;;
esac
