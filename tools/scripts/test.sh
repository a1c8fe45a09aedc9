#!/usr/bin/env bash
# `npm test`: installs what is missing, builds, checks generated code, lints and type-checks every
# project, runs every test suite (unit, integration, end-to-end) in one vitest run, and ends with
# one summary line: `N passed, N failed` (skipped tests are named, never counted as passed).
set -uo pipefail
cd "$(dirname "$0")/../.."
export NX_DAEMON=false NX_NO_CLOUD=true NX_TUI=false NX_SKIP_NX_CACHE=${NX_SKIP_NX_CACHE:-false}
mkdir -p .tapwire

gate_failed=0
step() {
  local name=$1
  shift
  echo "== $name"
  if ! "$@"; then
    echo "== $name FAILED"
    gate_failed=$((gate_failed + 1))
  fi
}

bash tools/scripts/setup.sh || { echo "0 passed, 1 failed"; exit 1; }
step "generated wire code is current" node tools/scripts/gen-wire.mjs --check
step "assembled WebAssembly is current" node tools/scripts/gen-wasm.mjs --check
step "build, lint and type-check (nx)" npx nx run-many -t build lint --outputStyle=stream

report=.tapwire/vitest-report.json
rm -f "$report"
npx vitest run --reporter=default --reporter=json --outputFile.json="$report" "$@"
vitest_rc=$?

node tools/scripts/test-summary.mjs "$report" "$gate_failed"
summary_rc=$?
if [ $vitest_rc -ne 0 ] || [ $gate_failed -ne 0 ] || [ $summary_rc -ne 0 ]; then exit 1; fi
