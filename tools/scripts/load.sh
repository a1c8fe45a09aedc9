#!/usr/bin/env bash
# `npm run test:load`: the CI-sized load and hostile-traffic suites (apps/e2e/src/load/), then the
# full-size load bench (tools/bench/src/load-http.ts): HTTP/1.1 and gRPC at 5,000 and 20,000
# calls/s for 60 s each with tcpdump as the reference; it rewrites the `load` section of
# BENCHMARKS.md (or prints the table when the section is missing).
#
#   npm run test:load                  suites + full bench (~10 min)
#   npm run test:load -- --quick       suites + a short bench (1/5 of the rates, 10 s)
#   npm run test:load -- --bench-only [http1|grpc]
set -euo pipefail
cd "$(dirname "$0")/../.."
export NX_DAEMON=false NX_NO_CLOUD=true NX_TUI=false
bash tools/scripts/setup.sh
npx tsc -b apps/hub/tsconfig.json apps/node-agent/tsconfig.json tools/bench/tsconfig.json || echo "load: tsc reported errors (see above); running on what it emitted"
bench_args=()
suites=1
for a in "$@"; do
  case "$a" in
    --bench-only) suites=0 ;;
    *) bench_args+=("$a") ;;
  esac
done
if [ $suites -eq 1 ]; then
  npx vitest run --project e2e apps/e2e/src/load/
fi
exec node tools/bench/dist/load-http.js "${bench_args[@]}"
