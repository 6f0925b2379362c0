#!/usr/bin/env bash
# Install headless Chromium and its WebDriver (chromedriver) from the Debian archive for the
# console's browser tests. Idempotent: does nothing when both are already installed.
set -euo pipefail

have() { command -v "$1" >/dev/null 2>&1; }

if have chromium && have chromedriver; then
    echo "chromium and chromedriver are already installed:"
    chromium --version || true
    chromedriver --version || true
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if have sudo; then
        SUDO="sudo"
    else
        echo "install-chromium: need root (or sudo) to install packages" >&2
        exit 1
    fi
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
$SUDO apt-get install -y --no-install-recommends chromium chromium-driver fonts-dejavu-core

chromium --version
chromedriver --version
