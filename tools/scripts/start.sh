#!/usr/bin/env bash
# `npm start`: installs what is missing, builds, and runs the local stack (tools/scripts/stack.mjs).
set -euo pipefail
cd "$(dirname "$0")/../.."
export NX_DAEMON=false NX_NO_CLOUD=true NX_TUI=false
bash tools/scripts/setup.sh
npx nx run-many -t build --outputStyle=static >/dev/null
exec node tools/scripts/stack.mjs "$@"
