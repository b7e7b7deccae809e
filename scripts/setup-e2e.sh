#!/usr/bin/env bash
# Installs what the real-VS-Code tier needs into the ignored, cached .e2e/ directory: the VS Code server shipped in
# the `code-server` npm package and playwright-core. Idempotent and offline-safe (npm registry + apt only).
# Must never touch the project's package.json or node_modules.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TOOLS=${E2E_TOOLS:-$ROOT/.e2e/tools}
CS_VERSION=${CS_VERSION:-4.100.3}   # VS Code 1.100.3; runs on Node 20. engines.vscode must stay <= 1.100.
PW_VERSION=${PW_VERSION:-1.65.1}
SERVER_MAIN="$TOOLS/node_modules/code-server/lib/vscode/out/server-main.js"
mkdir -p "$TOOLS"

if [ ! -x /usr/lib/chromium/chromium ] || ! command -v rg >/dev/null || ! command -v bwrap >/dev/null || [ ! -f /usr/include/krb5.h ]; then
  echo "installing chromium, ripgrep, bubblewrap, libkrb5-dev, build-essential (scripts/install-test-deps.sh)"
  bash "$ROOT/scripts/install-test-deps.sh"
fi

if [ -f "$SERVER_MAIN" ] && [ -f "$TOOLS/node_modules/playwright-core/package.json" ]; then
  echo "e2e tools present in $TOOLS"; exit 0
fi
NODE_BIN=$(node -p process.execPath); NODE_HOME=$(dirname "$(dirname "$NODE_BIN")")
[ -f "$NODE_HOME/include/node/common.gypi" ] || { echo "no Node headers under $NODE_HOME/include/node"; exit 1; }
export PATH="$(dirname "$NODE_BIN"):$PATH"   # code-server's postinstall checks the Node major of the npm running it
export npm_config_nodedir="$NODE_HOME"        # node-gyp: use local headers, never fetch them
export npm_config_yes=true                    # node-pty's postinstall runs `npx node-gyp`
export npm_config_unsafe_perm=true            # code-server's postinstall insists on this as root
export TMPDIR="$TOOLS/tmp"                    # @vscode/ripgrep's download cache, pre-seeded with the distro's rg
RG_CACHE="$TMPDIR/vscode-ripgrep-cache-1.15.11"; mkdir -p "$RG_CACHE/x"; cp "$(command -v rg)" "$RG_CACHE/x/rg"
tar czf "$RG_CACHE/ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz" -C "$RG_CACHE/x" rg
cd "$TOOLS"
[ -f package.json ] || echo '{"name":"agent-sandbox-e2e-tools","private":true}' > package.json
npm install --no-audit --no-fund --no-save "code-server@$CS_VERSION" "playwright-core@$PW_VERSION"
[ -f "$SERVER_MAIN" ] || { echo "code-server install did not produce $SERVER_MAIN"; exit 1; }
echo "e2e tools installed in $TOOLS"
