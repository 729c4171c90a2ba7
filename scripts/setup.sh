#!/usr/bin/env bash
# Set up factory on a fresh machine with Python 3.11: a virtual environment in .venv with the
# package and its dependencies. With --test, also the test tools (pytest, ruff, playwright) and
# Debian's chromium for the gallery's browser test (never a browser download by playwright).
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python3.11}
command -v "$python" >/dev/null || python=python3
if [ ! -x .venv/bin/python ]; then
    "$python" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
if [ "${1:-}" = "--test" ]; then
    .venv/bin/python -m pip install --quiet -e '.[dev]'
    if [ ! -x /usr/bin/chromium ]; then
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
            echo "Installing Debian's chromium for the gallery browser test ..."
            apt-get update -qq >/dev/null && apt-get install -y -qq chromium >/dev/null
        else
            echo "note: /usr/bin/chromium is missing and cannot be installed here;" \
                "the gallery browser test will be skipped" >&2
        fi
    fi
else
    .venv/bin/python -m pip install --quiet -e .
fi
echo "factory is set up in .venv (activate with: . .venv/bin/activate)"
