#!/usr/bin/env bash
# The test command of the README: everything the tests need, then the tests.
#
# Tests that read ../shared (the guide and the real-data corpus) skip with a message when it is
# absent, except in CI (CI=true), where its absence fails them.
set -euo pipefail
cd "$(dirname "$0")/.."

# Nothing in the tests may reach for instance metadata or real AWS.
export AWS_EC2_METADATA_DISABLED=true
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1
unset AWS_PROFILE AWS_SESSION_TOKEN || true

cargo test --locked "$@"
