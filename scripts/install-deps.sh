#!/usr/bin/env bash
# Installs what running the sandbox needs on Debian/Ubuntu: bubblewrap, and slirp4netns for online commands. Uses sudo unless already root.
set -euo pipefail
SUDO=$([ "$(id -u)" = 0 ] && echo "" || echo sudo)
if command -v bwrap >/dev/null && command -v slirp4netns >/dev/null; then echo "bubblewrap and slirp4netns are installed"; exit 0; fi
$SUDO apt-get update -qq
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends bubblewrap slirp4netns >/dev/null
echo "bubblewrap and slirp4netns installed"
