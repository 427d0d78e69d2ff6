#!/usr/bin/env bash
# Builds the Debian package into target/debian/: the release binary, the manual pages
# (`trailwatch man DIR`), then cargo-deb (pinned, installed into target/tools on first use)
# with the [package.metadata.deb] of Cargo.toml. TRAILWATCH_PACKAGE_PROFILE chooses the cargo
# profile (default: release; CI's package check uses the quicker `package-check`).
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO_DEB_VERSION=3.8.0
tools=target/tools
if [ "$("$tools/bin/cargo-deb" --version 2>/dev/null)" != "cargo-deb $CARGO_DEB_VERSION" ]; then
    echo "package.sh: installing cargo-deb $CARGO_DEB_VERSION into $tools" >&2
    cargo install --quiet --locked --root "$tools" cargo-deb --version "$CARGO_DEB_VERSION"
fi

profile=${TRAILWATCH_PACKAGE_PROFILE:-release}
cargo build --profile "$profile" --locked
rm -rf target/man
"target/$profile/trailwatch" man target/man
gzip -9n target/man/*.1
"$tools/bin/cargo-deb" --no-build --profile "$profile" --no-strip --output target/debian/ "$@"
ls target/debian/*.deb
