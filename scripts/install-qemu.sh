#!/usr/bin/env bash
# Install QEMU for x86_64 guests (qemu-system-x86_64) for the built-in Local extension and its
# tests. The machine already carries qemu-utils from Debian bookworm-backports, and the plain
# bookworm qemu-system-x86 conflicts with it, so the bookworm-backports suite is added to the
# existing Debian apt source and the package is taken from there.
# Idempotent: does nothing when qemu-system-x86_64 is already installed.
set -euo pipefail

have() { command -v "$1" >/dev/null 2>&1; }

if have qemu-system-x86_64; then
    echo "qemu-system-x86_64 is already installed:"
    qemu-system-x86_64 --version | head -n 1
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if have sudo; then
        SUDO="sudo"
    else
        echo "install-qemu: need root (or sudo) to install packages" >&2
        exit 1
    fi
fi

SUITE=bookworm-backports
DEB822=/etc/apt/sources.list.d/debian.sources
LEGACY=/etc/apt/sources.list

suite_listed() {
    grep -Rqs -E "^[^#]*[[:space:]]${SUITE}([[:space:]]|\$)" /etc/apt/sources.list /etc/apt/sources.list.d/
}

if ! suite_listed; then
    # The stanza of the main archive is the one whose Suites list plain "bookworm".
    plain='^Suites:(.*[[:space:]])?bookworm([[:space:]]|$)'
    if [ -f "$DEB822" ] && grep -qE "$plain" "$DEB822"; then
        $SUDO sed -i -E "/${plain}/{/${SUITE}/!s/[[:space:]]*\$/ ${SUITE}/}" "$DEB822"
        echo "install-qemu: added ${SUITE} to ${DEB822}"
    elif [ -f "$LEGACY" ] && grep -qE '^deb .*debian/? bookworm main' "$LEGACY"; then
        line=$(grep -m1 -E '^deb .*debian/? bookworm main' "$LEGACY" | sed -E "s/ bookworm / ${SUITE} /")
        echo "$line" | $SUDO tee -a "$LEGACY" >/dev/null
        echo "install-qemu: added ${SUITE} to ${LEGACY}"
    else
        echo "deb http://deb.debian.org/debian ${SUITE} main" |
            $SUDO tee /etc/apt/sources.list.d/${SUITE}.list >/dev/null
        echo "install-qemu: added /etc/apt/sources.list.d/${SUITE}.list"
    fi
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
$SUDO apt-get install -y --no-install-recommends -t "$SUITE" qemu-system-x86

qemu-system-x86_64 --version | head -n 1
