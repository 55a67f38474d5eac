#!/usr/bin/env bash
# Install the system browser the browser tests drive: Debian's chromium and
# chromium-driver (/usr/bin/chromium, /usr/bin/chromedriver). The tests use
# Playwright pointed at /usr/bin/chromium; no test tool downloads a browser of
# its own (never `playwright install`). Safe to run again: does nothing when
# /usr/bin/chromium is already there.
set -euo pipefail

if [ -x /usr/bin/chromium ]; then
    echo "ci_browser: $(/usr/bin/chromium --version 2>/dev/null || echo chromium) already installed"
    exit 0
fi

SUDO=""
if [ "$(id -u)" != "0" ]; then
    SUDO="sudo"
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends chromium chromium-driver fonts-noto-cjk >/dev/null
echo "ci_browser: installed $(/usr/bin/chromium --version 2>/dev/null || echo chromium)"
