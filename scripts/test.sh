#!/usr/bin/env bash
# Runs every check and test. PostgreSQL tests use PULSE_TEST_DATABASE_URL, defaulting to the local
# server (127.0.0.1:5432, user postgres); they fail if it is unreachable.
set -euo pipefail
cd "$(dirname "$0")/.."
export PULSE_TEST_DATABASE_URL="${PULSE_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
# Tests create one database per PostgreSQL case; drop what earlier runs left behind.
if command -v psql >/dev/null; then
  psql "$PULSE_TEST_DATABASE_URL" -Atc "SELECT datname FROM pg_database WHERE datname LIKE 'pulse\_test\_%'" 2>/dev/null |
    while read -r db; do psql "$PULSE_TEST_DATABASE_URL" -qc "DROP DATABASE IF EXISTS \"$db\"" >/dev/null || true; done
fi
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace --all-targets
