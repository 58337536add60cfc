#!/usr/bin/env bash
# Runs every check and test. PostgreSQL tests use PULSE_TEST_DATABASE_URL, defaulting to the local
# server (127.0.0.1:5432, user postgres); they fail if it is unreachable.
set -euo pipefail
cd "$(dirname "$0")/.."
export PULSE_TEST_DATABASE_URL="${PULSE_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace --all-targets
