#!/usr/bin/env node
// Prints the one closing line of `npm test` from vitest's JSON report: `N passed, N failed`.
// Failed gates (build, lint, generated code) count as failures; a missing report is a failure.
import { existsSync, readFileSync } from 'node:fs'

const [reportPath, gatesFailed = '0'] = process.argv.slice(2)
const gates = Number(gatesFailed) || 0
if (!reportPath || !existsSync(reportPath)) {
  console.log('vitest wrote no report: the test run did not complete')
  console.log(`0 passed, ${1 + gates} failed`)
  process.exit(1)
}
const r = JSON.parse(readFileSync(reportPath, 'utf8'))
const results = r.testResults ?? []
// A file that failed without running any test did not load (syntax error, failing hook...).
const loadFailures = results.filter((t) => t.status === 'failed' && (t.assertionResults ?? []).length === 0)
const passed = r.numPassedTests ?? 0
const failed = (r.numFailedTests ?? 0) + gates + loadFailures.length
const skipped = (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0)
if (passed === 0) console.log('no test passed: treating the run as failed')
for (const t of loadFailures) console.log(`did not load: ${t.name}: ${(t.message ?? '').split('\n')[0]}`)
console.log(`test files: ${results.length}; files that did not load: ${loadFailures.length}; gates failed: ${gates}`)
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`)
process.exit(failed > 0 || passed === 0 ? 1 : 0)
