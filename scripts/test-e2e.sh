#!/usr/bin/env bash
# The real-VS-Code tier (`npm run test:e2e`): installs the offline VS Code server + playwright-core into .e2e/
# (cached, idempotent), builds, then (1) runs test/e2e/suite inside the real extension host through
# @vscode/test-electron's runTests with the offline shim (the trusted run also installs the no-code fixture extension
# test/e2e/fixtures/agent-terminal-setting, which registers Copilot Chat's agent terminal profile setting; the
# untrusted run goes without it), and (2) drives the UI through the DOM (command palette →
# Open Sandboxed Terminal → type → read the terminal), saving screenshots under artifacts/.
# Needs: chromium, ripgrep, libkrb5-dev, build-essential, bubblewrap (scripts/install-test-deps.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
bash scripts/setup-e2e.sh
if [ "${AGENT_SANDBOX_E2E_SKIP_BUILD:-}" != 1 ]; then
  node scripts/build.mjs >/dev/null
  npx tsc -p . >/dev/null || echo "warning: tsc reported errors (npm test's compile step reports them); using what it emitted"
  [ -f out/test/e2e/suite/index.js ] || { echo "out/test/e2e/suite/index.js missing: tsc did not emit the suite"; exit 1; }
fi

# A fresh fixture: a workspace (with npm scripts, a tasks.json, a file for the problem matcher) and a folder
# outside it that the tests try to write from inside the sandbox.
FIX="$ROOT/.e2e/fixture"
make_fixture() {
  rm -rf "$FIX" && mkdir -p "$FIX/workspace/.vscode" "$FIX/workspace/src" "$FIX/outside"
  cat > "$FIX/workspace/package.json" <<'JSON'
{ "name": "e2e-fixture", "private": true,
  "scripts": { "fail": "echo ran > task-ran.txt; exit 3", "hello": "echo hello" } }
JSON
  cat > "$FIX/workspace/.vscode/tasks.json" <<'JSON'
{ "version": "2.0.0",
  "tasks": [ { "type": "sandbox", "label": "e2e-matcher", "problemMatcher": ["$tsc"],
               "command": "echo 'src/a.ts(1,1): error TS2322: e2e problem'; exit 2" } ] }
JSON
  echo 'export const a: number = 1;' > "$FIX/workspace/src/a.ts"
}
mkdir -p artifacts .e2e/run
rm -rf .e2e/run/*

status=0
echo "::: e2e: extension-host suite (runTests + offline VS Code server)"
make_fixture
node test/e2e/run-test-electron.mjs "$FIX/workspace" || status=1
echo "::: e2e: extension-host suite in an untrusted workspace (restricted mode)"
make_fixture
printf '{ "agentSandbox.network": "online", "agentSandbox.extraWritableRoots": ["%s"], "agentSandbox.protectedPaths": [] }\n' \
  "$FIX/outside" > "$FIX/workspace/.vscode/settings.json"
AGENT_SANDBOX_E2E_SUITE=untrusted node test/e2e/run-test-electron.mjs "$FIX/workspace" || status=1
echo "::: e2e: UI drive (command palette → sandboxed terminal)"
make_fixture
node test/e2e/ui-drive.mjs "$FIX/workspace" || status=1
exit $status
