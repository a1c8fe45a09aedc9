#!/usr/bin/env bash
# `npm run bench`: installs what is missing, builds, runs the benchmarks, rewrites BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
export NX_DAEMON=false NX_NO_CLOUD=true NX_TUI=false
bash tools/scripts/setup.sh
npx nx run-many -t build --outputStyle=static >/dev/null
exec node tools/bench/dist/run.js "$@"
