#!/usr/bin/env bash
# The Wine tier (`npm run test:win32`): builds the project, then runs test/native/win32 with the Windows node.exe
# under Wine. Sets everything up from scratch via scripts/wine-setup.sh (cached under .wine-ci/).
# Under Wine these tests verify bindings, struct layouts and process/pipe/job plumbing only: Wine does not
# enforce restricted tokens, file DACLs, users or firewall rules (see README).
# node.exe dies with EBADF when its stdout/stderr is a pipe, so output goes to a file that is printed afterwards.
# The run happens under `script` so that node.exe has a console (ConPTY needs one).
# Env: WINE_SKIP_BUILD=1 reuses out/ and dist/ (when the caller just built them); WINE_TEST_PATTERN narrows the
# files (default out/test/native/win32/*.test.js); WINE_CI_DIR moves the cache (default .wine-ci).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export WINE_CI_DIR=${WINE_CI_DIR:-$ROOT/.wine-ci}
mkdir -p "$WINE_CI_DIR"
# One run at a time per cache: the staged out/ and dist/ are replaced below.
exec 9>"$WINE_CI_DIR/.lock"
flock 9
setup=$(bash scripts/wine-setup.sh)
printf '%s\n' "$setup" | grep -v '^[A-Z_]*=' || true
eval "$(printf '%s\n' "$setup" | grep -E '^(NODE_EXE|WINEPREFIX|APP_DIR)=')"
export WINEPREFIX WINEDEBUG=${WINEDEBUG:--all} WINEDLLOVERRIDES=${WINEDLLOVERRIDES:-mscoree,mshtml=}

if [ "${WINE_SKIP_BUILD:-}" != 1 ]; then
  node scripts/build.mjs >/dev/null
  npx tsc -p .
fi
# Stage the built code next to the win32-x64 node_modules so `require('koffi')` finds koffi's Windows prebuild.
rm -rf "$APP_DIR/out" "$APP_DIR/dist"
cp -r out dist "$APP_DIR/"

trap 'timeout 30 wineserver -k 2>/dev/null || true' EXIT
log="$WINE_CI_DIR/test-win32.log"
pattern=${WINE_TEST_PATTERN:-out/test/native/win32/*.test.js}
cmd="cd '$APP_DIR' && wine '$NODE_EXE' --test --test-concurrency=1 '$pattern' > '$log' 2>&1"
# Bounded: a wineserver that crashes can leave its clients waiting forever. A run that hits the bound (exit 124)
# after Wine said its server crashed is tried once more on a fresh server, and says so; a hang without that (our own
# code deadlocked) fails as it is, and so does any other failure.
limit=${WINE_TEST_TIMEOUT:-900}
for attempt in 1 2; do
  timeout 60 wineserver -p || true
  set +e
  timeout -k 15 "$limit" script -qfec "$cmd" /dev/null > /dev/null
  rc=$?
  set -e
  cat "$log"
  [ $rc -eq 124 ] || [ $rc -eq 137 ] || break
  echo "test-win32: the run did not end within ${limit}s (attempt $attempt)"
  grep -q 'wineserver crashed' "$log" || break
  echo "test-win32: WARNING: Wine's server crashed during the run; killing it and running the tier once more"
  timeout 30 wineserver -k 2>/dev/null || true
  sleep 2
done
echo "test-win32: exit code $rc"
exit $rc
