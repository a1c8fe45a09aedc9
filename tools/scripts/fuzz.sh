#!/usr/bin/env bash
# `npm run fuzz`: every fast-check suite (decoders, dissectors, reassembly, pcap, the KFL parser)
# with a far longer budget than CI's. Each suite is run in rounds, each round a fresh vitest
# process with a fresh fast-check seed; suites that read FUZZ_SECONDS spend the round's budget
# inside fast-check, the others get FUZZ_RUNS raised (where they read it) and are re-run until the
# suite's budget is spent. Ends with a per-suite table; exit 1 if any property failed.
#
#   npm run fuzz                      10 minutes per suite (the issue's goal per dissector)
#   npm run fuzz -- --quick           20 s per suite (smoke run)
#   npm run fuzz -- dns http1         only suites whose path contains one of the words
#   FUZZ_SUITE_SECONDS=120 npm run fuzz
#
# A failing round's output (with fast-check's seed, path and counterexample) is kept in
# .tapwire/fuzz/<suite>.log.
set -uo pipefail
cd "$(dirname "$0")/../.."
export NX_DAEMON=false NX_NO_CLOUD=true NX_TUI=false

budget=${FUZZ_SUITE_SECONDS:-600}
runs=${FUZZ_RUNS:-20000}
filters=()
for a in "$@"; do
  case "$a" in
    --quick) budget=${FUZZ_SUITE_SECONDS:-20}; runs=${FUZZ_RUNS:-2000} ;;
    -*) echo "fuzz: unknown option $a" >&2; exit 2 ;;
    *) filters+=("$a") ;;
  esac
done

logdir=.tapwire/fuzz
mkdir -p "$logdir"
work=$(mktemp -d /tmp/tapwire-fuzz-XXXXXX)
trap 'rm -rf "$work"' EXIT

# Every test file that uses fast-check, directly or through the dissectors' fuzz harness.
mapfile -t suites < <(grep -rlE --include='*.test.ts' "from 'fast-check'|test-support/fuzz.js'" libs apps tools 2>/dev/null | grep -v -e node_modules -e /dist/ | sort)
if [ ${#filters[@]} -gt 0 ]; then
  kept=()
  for s in "${suites[@]}"; do
    for f in "${filters[@]}"; do [[ $s == *"$f"* ]] && { kept+=("$s"); break; }; done
  done
  suites=("${kept[@]}")
fi
[ ${#suites[@]} -gt 0 ] || { echo "fuzz: no suite matches" >&2; exit 2; }

echo "fuzz: ${#suites[@]} suites, ${budget} s each, FUZZ_RUNS=${runs} where a suite reads it"
rows=()
failed=0
total_start=$(date +%s)
for suite in "${suites[@]}"; do
  # Properties in the suite: its own fc.assert calls, and two per fuzzSession() of the harness.
  props=$(( $(grep -c 'fc\.assert' "$suite") + 2 * $(grep -c 'fuzzSession(' "$suite") ))
  [ "$props" -gt 0 ] || props=1
  # The suite and the local modules it imports (a shared fuzz harness reads the variables).
  sources=("$suite")
  while read -r rel; do
    f="$(dirname "$suite")/${rel%.js}.ts"
    [ -f "$f" ] && sources+=("$f")
  done < <(grep -oE "from '\.[^']+'" "$suite" | sed -E "s/from '(.*)'/\1/")
  reads_seconds=0
  grep -q FUZZ_SECONDS "${sources[@]}" && reads_seconds=1
  reads_runs=0
  grep -q FUZZ_RUNS "${sources[@]}" && reads_runs=1
  start=$(date +%s)
  rounds=0
  passed=0
  fails=0
  while :; do
    now=$(date +%s)
    left=$((budget - (now - start)))
    [ $rounds -gt 0 ] && [ $left -le 0 ] && break
    [ $left -gt 0 ] || left=1
    env_args=(-u FUZZ_SECONDS FUZZ_RUNS="$runs")
    if [ $reads_seconds -eq 1 ]; then
      # Split what is left of the budget between the suite's properties.
      per=$((left / props))
      [ $per -ge 1 ] || per=1
      env_args=(-u FUZZ_RUNS FUZZ_SECONDS="$per")
    fi
    report="$work/report.json"
    rm -f "$report"
    # Bounded: a round may overrun the budget by the slowest property, never by more than 5 min.
    env "${env_args[@]}" timeout --signal=TERM --kill-after=10 $((left + 300)) \
      npx vitest run "$suite" --testTimeout=0 --reporter=json --outputFile="$report" >"$work/out.txt" 2>&1
    rc=$?
    rounds=$((rounds + 1))
    if [ -f "$report" ]; then
      p=$(node -e 'const r=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8"));console.log(r.numPassedTests+" "+(r.numFailedTests+r.numFailedTestSuites))' "$report")
      passed=$((passed + ${p% *}))
      fails=$((fails + ${p#* }))
    fi
    if [ $rc -ne 0 ]; then
      [ $fails -gt 0 ] || fails=1
      log="$logdir/$(echo "$suite" | tr '/' '_').log"
      cp "$work/out.txt" "$log"
      # The JSON reporter keeps the failure messages (seed, path, counterexample) in the report.
      [ -f "$report" ] && node -e 'const r=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8"));for(const f of r.testResults)for(const a of f.assertionResults)if(a.status!=="passed")console.log(a.fullName+"\n"+(a.failureMessages||[]).join("\n"));if(r.numFailedTestSuites)for(const f of r.testResults)if(f.message)console.log(f.message)' "$report" >>"$log"
      [ $rc -eq 124 ] && echo "round timed out (exit 124): a property ran past the round's budget + 300 s" >>"$log"
      break
    fi
    # Suites that spend FUZZ_SECONDS inside fast-check are done after one round.
    [ $reads_seconds -eq 1 ] && break
  done
  secs=$(($(date +%s) - start))
  mode=$([ $reads_seconds -eq 1 ] && echo "FUZZ_SECONDS" || ([ $reads_runs -eq 1 ] && echo "FUZZ_RUNS=$runs × rounds" || echo "fixed numRuns × rounds"))
  status=$([ $fails -eq 0 ] && echo ok || echo "**FAILED** (see $logdir)")
  [ $fails -eq 0 ] || failed=$((failed + 1))
  printf 'fuzz: %-50s %3d rounds %5d tests passed %4d s %s\n' "$suite" "$rounds" "$passed" "$secs" "$status"
  rows+=("| \`$suite\` | $props | $mode | $rounds | $passed | $secs s | $fails | $status |")
done

echo
echo "Fuzz run, $(date -u +'%Y-%m-%d %H:%M') UTC, $(nproc) cores, budget ${budget} s per suite, total $(($(date +%s) - total_start)) s"
echo
echo "| suite | properties | how it is lengthened | rounds (fresh seeds) | tests passed | time | failures | result |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
printf '%s\n' "${rows[@]}"
[ $failed -eq 0 ]
