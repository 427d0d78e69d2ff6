#!/usr/bin/env bash
# The test command of the README: everything the tests need, then the tests.
#
# Tests that read ../shared (the guide and the real-data corpus) skip with a message when it is
# absent, except in CI (CI=true), where its absence fails them.
#
# The tests that speak S3/SQS run against a local moto server (scripts/moto.sh): this script
# starts it (or reuses one already on TRAILWATCH_MOTO_PORT), exports TRAILWATCH_TEST_ENDPOINT and
# stops the server afterwards if it started it. TRAILWATCH_SKIP_MOTO=1 skips moto and those tests.
# The checkers of what trailwatch writes for other tools, pinned and installed into moto's venv:
# Prometheus' own text-format parser (the Python client) reads /metrics, and the OCSF schemas as
# published (bundled by ocsf-json-schema) with a JSON Schema validator check --format ocsf.
# TRAILWATCH_TEST_PYTHON names that venv's python.
# The email tests likewise run against a local SMTP server (scripts/smtp.sh), which sets
# TRAILWATCH_TEST_SMTP and TRAILWATCH_TEST_SMTP_DIR; TRAILWATCH_SKIP_SMTP=1 skips it and them.
set -euo pipefail
cd "$(dirname "$0")/.."

# Nothing in the tests may reach for instance metadata or real AWS.
export AWS_EC2_METADATA_DISABLED=true
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1
unset AWS_PROFILE AWS_SESSION_TOKEN || true
# No ambient endpoint override (AWS_ENDPOINT_URL or a per-service AWS_ENDPOINT_URL_*).
for var in $(compgen -e | grep '^AWS_ENDPOINT_URL' || true); do
    unset "$var"
done

# The servers this script started, stopped on exit (one EXIT trap for all of them).
started=()
stop_started() {
    local s
    for s in ${started[@]+"${started[@]}"}; do
        "scripts/$s.sh" stop || true
    done
}
trap stop_started EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [ "${TRAILWATCH_SKIP_MOTO:-}" != 1 ]; then
    if ! scripts/moto.sh status; then
        started+=(moto)
    fi
    scripts/moto.sh start
    eval "$(scripts/moto.sh env)"
    export TRAILWATCH_TEST_ENDPOINT
    venv=${TRAILWATCH_MOTO_VENV:-target/moto-venv}
    checkers=("prometheus-client==0.26.0" "ocsf-json-schema==1.2.0" "jsonschema==4.26.0"
        "jsonschema-specifications==2025.9.1" "referencing==0.37.0" "rpds-py==2026.9.1"
        "attrs==26.1.0")
    # A moto server another checkout started is reused, but the checkers live in this one's venv.
    if [ ! -x "$venv/bin/python" ]; then
        echo "test.sh: creating venv $venv for the checkers" >&2
        python3 -m venv "$venv"
    fi
    if [ "$(cat "$venv/.trailwatch-checkers" 2>/dev/null)" != "${checkers[*]}" ]; then
        echo "test.sh: installing ${checkers[*]} into $venv" >&2
        "$venv/bin/python" -m pip install -q --disable-pip-version-check "${checkers[@]}"
        echo "${checkers[*]}" >"$venv/.trailwatch-checkers"
    fi
    TRAILWATCH_TEST_PYTHON="$(cd "$venv/bin" && pwd)/python"
    export TRAILWATCH_TEST_PYTHON
fi

# A real headless browser for the HTML report and alert email tests (tests/it/report.rs,
# tests/it/alerts/email_html.rs): Debian's chromium and
# chromium-driver at one pinned version (the candidate of `apt-cache policy chromium` when it was
# pinned), installed when either is missing. Without them the tests skip with a message, except
# in CI, where they fail.
chromium_version="148.0.7778.167-1~deb12u1"
if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
    sudo=()
    if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null; then
        sudo=(sudo)
    fi
    echo "test.sh: installing chromium and chromium-driver $chromium_version" >&2
    if ! { "${sudo[@]}" apt-get update -q &&
        DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q --no-install-recommends \
            "chromium=$chromium_version" "chromium-driver=$chromium_version"; }; then
        if [ "${CI:-}" = true ]; then
            echo "test.sh: could not install chromium $chromium_version, and CI needs it" >&2
            exit 1
        fi
        echo "test.sh: could not install chromium; the HTML report browser tests will skip" >&2
    fi
fi

if [ "${TRAILWATCH_SKIP_SMTP:-}" != 1 ]; then
    if ! scripts/smtp.sh status; then
        started+=(smtp)
    fi
    scripts/smtp.sh start
    eval "$(scripts/smtp.sh env)"
    export TRAILWATCH_TEST_SMTP TRAILWATCH_TEST_SMTP_DIR
fi

cargo test --workspace --locked "$@"
