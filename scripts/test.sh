#!/usr/bin/env bash
# The project's test command (README, CI): makes sure redis-server is
# installed (the integration tests start their own servers on free ports),
# then runs the format check, clippy with warnings denied, the docs build
# with warnings denied, and every test of the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/ensure-redis.sh
echo "==> $(redis-server --version)"

echo "==> cargo fmt --check"
cargo fmt --all -- --check

echo "==> cargo clippy -D warnings"
cargo clippy --workspace --all-targets --all-features -- -D warnings

echo "==> cargo doc -D warnings"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --all-features --quiet

echo "==> cargo test"
cargo test --workspace --all-features
