#!/usr/bin/env bash
# Installs what the tests need and runs every test. The README's second command; .ci/run too.
#
# Builds go where `cargo run` puts them (./target, or $CARGO_TARGET_DIR when set), so the README's
# two commands share one build. CI sets CARGO_TARGET_DIR outside the clone (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

if ! command -v cargo >/dev/null; then
    echo "scripts/test.sh: cargo not found; install Rust from https://rustup.rs" >&2
    exit 2
fi

# The S3 tests run the binary against a real S3-compatible server on loopback: moto, from PyPI,
# in a virtual environment beside the build cache. The Delta tests read the lake with other
# engines' own readers from the same environment: delta-rs's Python package and polars. The
# integrity tests check digest signatures with the AWS CLI's own validator (awscli).
VENV="${TRAILQ_TEST_VENV:-$HOME/.cache/trailq-test-venv}"
PACKAGES=("moto[server]==5.2.1" "deltalake==1.6.6" "polars==2.1.0" "pyarrow==26.0.1" "awscli==1.46.3")
CHECK="import importlib.metadata as m, sys; sys.exit(any(m.version(p.split('[')[0].split('==')[0]) != p.split('==')[1] for p in sys.argv[1:]))"
if ! "$VENV/bin/python" -c "$CHECK" "${PACKAGES[@]}" 2>/dev/null; then
    echo "scripts/test.sh: installing ${PACKAGES[*]} into $VENV" >&2
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "${PACKAGES[@]}"
fi
export TRAILQ_TEST_PYTHON="$VENV/bin/python"
PORT="$("$VENV/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
MOTO_LOG="$(mktemp)"
"$VENV/bin/moto_server" -H 127.0.0.1 -p "$PORT" >"$MOTO_LOG" 2>&1 &
MOTO_PID=$!
trap 'kill "$MOTO_PID" 2>/dev/null || true; rm -f "$MOTO_LOG"' EXIT
for _ in $(seq 1 100); do
    if "$VENV/bin/python" -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$PORT/moto-api/')" 2>/dev/null; then
        break
    fi
    sleep 0.1
done
export TRAILQ_TEST_S3_ENDPOINT="http://127.0.0.1:$PORT"

# The report's HTML is checked in a real headless browser: Debian's chromium.
if ! command -v chromium >/dev/null; then
    echo "scripts/test.sh: installing Debian's chromium" >&2
    SUDO=""
    [ "$(id -u)" = 0 ] || SUDO="sudo"
    $SUDO apt-get install -y -q chromium >/dev/null 2>&1 \
        || { $SUDO apt-get update -q >/dev/null && $SUDO apt-get install -y -q chromium >/dev/null; }
fi
export TRAILQ_TEST_CHROMIUM="${TRAILQ_TEST_CHROMIUM:-$(command -v chromium)}"

# Snapshot tests compare, never write: a changed report fails until its snapshot is reviewed
# (`cargo insta review`, or INSTA_UPDATE=always) and committed.
export INSTA_UPDATE=no

# The other tests generate their own CloudTrail data. The few that read the public samples in
# ../shared/testdata/cloudtrail-public are #[ignore]d, so the summary counts them as ignored when
# the folder is absent; when it is there, they run too.
if [ -d ../shared/testdata/cloudtrail-public ]; then
    cargo test --no-fail-fast -- --include-ignored
else
    echo "scripts/test.sh: ../shared/testdata/cloudtrail-public is absent: the tests that read it are reported as ignored" >&2
    cargo test --no-fail-fast
fi

# Tests must leave the work tree as they found it.
if [ -d .git ] && [ -n "$(git status --porcelain --untracked-files=normal)" ]; then
    echo "scripts/test.sh: the tests left files behind:" >&2
    git status --porcelain >&2
    exit 1
fi
