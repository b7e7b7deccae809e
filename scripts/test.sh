#!/usr/bin/env bash
# The project's test command (`npm test`): build, typecheck, lint, then every tier this machine can run.
# A tier whose prerequisites are missing is skipped with the reason, except under CI=true where that fails.
set -uo pipefail
cd "$(dirname "$0")/.."
failed=()
passed=()
# Each tier is bounded (TIER_TIMEOUT seconds, default 25 minutes), so a hang fails its tier with the reason instead
# of running out CI's clock with nothing said.
step() {
  local name=$1; shift
  echo "::: $name"
  local fg=(); [ -t 0 ] && fg=(--foreground) # a terminal: stay in its foreground group
  timeout ${fg[@]+"${fg[@]}"} -k 30 "${TIER_TIMEOUT:-1500}" "$@"
  local rc=$?
  [ $rc -eq 124 ] && echo "::: $name: did not end within ${TIER_TIMEOUT:-1500}s"
  if [ $rc -eq 0 ]; then echo "::: $name: ok"; passed+=("$name"); else echo "::: $name: FAILED"; failed+=("$name"); fi
}
skip() {
  if [ "${CI:-}" = "true" ]; then echo "::: $1: prerequisites missing under CI: $2"; failed+=("$1"); else echo "::: $1: skipped: $2"; fi
}

step build node scripts/build.mjs
step compile npx tsc -p .
step lint npx eslint .
step cycles npm run --silent cycles
step format npx prettier --check --log-level warn .
step unit node --test out/test/unit/
step package node scripts/package.mjs
if [ "$(uname -s)" = Linux ] && command -v bwrap >/dev/null; then
  [ -d out/test/native/linux ] && step native-linux node --test --test-concurrency=1 out/test/native/linux/
  [ -d out/test/validation ] && step validation node --test --test-concurrency=1 out/test/validation/
else
  skip native-linux "bubblewrap is not installed (apt-get install bubblewrap)"
fi
if [ "${AGENT_SANDBOX_SKIP_WINE:-}" != 1 ] && [ -f scripts/test-win32.sh ]; then
  if command -v wine >/dev/null; then step win32-wine env WINE_SKIP_BUILD=1 bash scripts/test-win32.sh; else skip win32-wine "wine is not installed (scripts/install-test-deps.sh)"; fi
fi
if [ "${AGENT_SANDBOX_SKIP_E2E:-}" != 1 ] && [ -f scripts/test-e2e.sh ]; then
  if command -v chromium >/dev/null; then step e2e env AGENT_SANDBOX_E2E_SKIP_BUILD=1 bash scripts/test-e2e.sh; else skip e2e "chromium is not installed (scripts/install-test-deps.sh)"; fi
fi

if [ ${#failed[@]} -gt 0 ]; then echo "FAILED tiers: ${failed[*]}"; else echo "all tiers passed"; fi
echo "tiers: ${#passed[@]} passed, ${#failed[@]} failed"
[ ${#failed[@]} -eq 0 ]
