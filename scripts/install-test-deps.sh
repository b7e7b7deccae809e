#!/usr/bin/env bash
# Installs the system packages the test tiers need (Debian/Ubuntu): bubblewrap and slirp4netns (online commands'
# own network) for the Linux sandbox, Wine for
# the Win32 tier, Chromium and ripgrep for the real-VS-Code tier, curl and openssl for the network allowlist
# tests. Needs root (or sudo).
set -euo pipefail
SUDO=$([ "$(id -u)" = 0 ] && echo "" || echo sudo)
$SUDO apt-get update -qq
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
  bubblewrap slirp4netns wine wine64 chromium ripgrep libkrb5-dev build-essential python3 ca-certificates iproute2 \
  util-linux procps git curl openssl >/dev/null
echo "test dependencies installed"
