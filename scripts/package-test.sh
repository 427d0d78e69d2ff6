#!/usr/bin/env bash
# CI's check of what is deployed: builds the Debian package (scripts/package.sh), installs it
# with dpkg on this machine, runs the installed binary, verifies the systemd unit with
# systemd-analyze, checks the packaged config as the service user, purges the package, and
# lints the CloudFormation template with cfn-lint (pinned, in a venv under target/).
#
# Installing needs root and dpkg: elsewhere that part is skipped with a message, except in CI
# (CI=true), where it must run.
set -euo pipefail
cd "$(dirname "$0")/.."

fail() { echo "package-test: FAIL: $*" >&2; exit 1; }

# The template first: it needs neither root nor a build.
CFN_LINT=cfn-lint==1.58.0
venv=target/cfn-venv
if [ "$(cat "$venv/.pinned" 2>/dev/null)" != "$CFN_LINT" ]; then
    echo "package-test: installing $CFN_LINT into $venv" >&2
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install -q --disable-pip-version-check "$CFN_LINT"
    echo "$CFN_LINT" >"$venv/.pinned"
fi
echo "== cfn-lint deploy/cloudformation/trailwatch.yaml"
"$venv/bin/cfn-lint" deploy/cloudformation/trailwatch.yaml

can_install=1
if [ "$(id -u)" != 0 ] || ! command -v dpkg >/dev/null || ! command -v systemd-analyze >/dev/null; then
    can_install=0
fi
if [ "$can_install" = 0 ]; then
    [ "${CI:-}" = true ] && fail "CI must install the package: needs root, dpkg and systemd-analyze"
    echo "package-test: SKIPPED installing the package (needs root, dpkg and systemd-analyze)" >&2
    exit 0
fi
if dpkg -s trailwatch >/dev/null 2>&1; then
    fail "a trailwatch package is already installed here; purge it first (dpkg --purge trailwatch)"
fi

echo "== scripts/package.sh"
# The package's contents and scripts are what is checked here, not the binary's speed.
TRAILWATCH_PACKAGE_PROFILE=${TRAILWATCH_PACKAGE_PROFILE:-package-check} scripts/package.sh
deb=$(ls -t target/debian/trailwatch_*.deb | head -1)
echo "== dpkg -i $deb"
dpkg-deb --info "$deb" | sed 's/^/   /'
contents=$(dpkg-deb --contents "$deb")
for f in ./usr/bin/trailwatch ./usr/lib/systemd/system/trailwatch.service \
    ./etc/trailwatch/trailwatch.toml ./usr/share/man/man1/trailwatch.1.gz \
    ./usr/share/man/man1/trailwatch-watch.1.gz ./usr/share/doc/trailwatch/copyright; do
    grep -q " $f\$" <<<"$contents" || fail "$deb has no $f"
done
trap 'dpkg --purge trailwatch >/dev/null 2>&1 || true' EXIT
dpkg -i "$deb"

echo "== the installed package"
/usr/bin/trailwatch --version | grep -qx "trailwatch $(grep -m1 '^version' Cargo.toml | cut -d'"' -f2)" \
    || fail "trailwatch --version: $(/usr/bin/trailwatch --version)"
getent passwd trailwatch >/dev/null || fail "no trailwatch user"
[ "$(stat -c '%U:%G %a' /etc/trailwatch/trailwatch.toml)" = "root:trailwatch 640" ] \
    || fail "config is $(stat -c '%U:%G %a' /etc/trailwatch/trailwatch.toml)"
systemd-analyze verify /usr/lib/systemd/system/trailwatch.service
# The packaged config is valid once it has a source; without one the service refuses (exit 2).
watched=$(mktemp -d)
chmod 755 "$watched"
runuser -u trailwatch -- /usr/bin/trailwatch config check /etc/trailwatch/trailwatch.toml \
    --dir "$watched" --state "$watched/state.db" >/dev/null || fail "config check as trailwatch"
set +e
runuser -u trailwatch -- /usr/bin/trailwatch watch --config /etc/trailwatch/trailwatch.toml \
    --state "$watched/state.db" 2>/dev/null
code=$?
set -e
[ "$code" = 2 ] || fail "watch without a source exited $code, not 2"
# The service's hardening, as systemd rates it (informative; 'verify' above is the check).
systemd-analyze security --offline=yes /usr/lib/systemd/system/trailwatch.service 2>/dev/null \
    | tail -1 || true
rm -rf "$watched"

echo "== dpkg --purge trailwatch"
dpkg --purge trailwatch
trap - EXIT
[ ! -e /usr/bin/trailwatch ] || fail "binary left after purge"
[ ! -e /etc/trailwatch/trailwatch.toml ] || fail "config left after purge"
! getent passwd trailwatch >/dev/null || fail "user left after purge"
echo "package-test: ok"
