#!/usr/bin/env bash
# Installs what running the sandbox needs on Debian/Ubuntu: bubblewrap. Uses sudo unless already root.
set -euo pipefail
SUDO=$([ "$(id -u)" = 0 ] && echo "" || echo sudo)
if command -v bwrap >/dev/null; then echo "bubblewrap is installed"; exit 0; fi
$SUDO apt-get update -qq
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends bubblewrap >/dev/null
echo "bubblewrap installed"
