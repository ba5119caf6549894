#!/usr/bin/env bash
# Installs what the tests need and runs every test. The README's second command; .ci/run too.
#
# Builds go to $CARGO_TARGET_DIR (default: ~/.cache/trailq-target), outside the clone, so a fresh
# clone on a machine that has built trailq before reuses the build.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/trailq-target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

if ! command -v cargo >/dev/null; then
    echo "scripts/test.sh: cargo not found; install Rust from https://rustup.rs" >&2
    exit 2
fi

# The tests need nothing outside Cargo yet: they generate their own CloudTrail data, and read
# ../shared/testdata/cloudtrail-public when it is there (skipping those checks when it is not).
cargo test --no-fail-fast

# Tests must leave the work tree as they found it.
if [ -d .git ] && [ -n "$(git status --porcelain --untracked-files=normal)" ]; then
    echo "scripts/test.sh: the tests left files behind:" >&2
    git status --porcelain >&2
    exit 1
fi
