#!/usr/bin/env node
// The closing line of `make test`: "tests: N passed, N failed, N skipped" from vitest's JSON
// report. When the run was stopped by its time limit (status 124 or 137 from `timeout`), there is
// no report: it names the test files the log never showed finishing instead.
// Usage: test-summary.mjs <vitest.json> [<vitest.log> <exit status>]
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'

const [reportPath, logPath, status] = process.argv.slice(2)

if (status === '124' || status === '137') {
  const log = logPath !== undefined && existsSync(logPath) ? readFileSync(logPath, 'utf8').replace(/\x1b\[[0-9;]*m/g, '') : ''
  const finished = new Set([...log.matchAll(/^ [✓❯×↓] (test\/\S+\.test\.ts)/gmu)].map((m) => m[1]))
  const files = (dir) => readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith('.test.ts') ? [join(dir, e.name)] : []))
  const unfinished = files('test').filter((f) => !finished.has(f)).sort()
  process.stdout.write(`tests: the run was stopped by its time limit; never finished: ${unfinished.join(', ') || '(none found in the log)'}\n`)
  process.exit(0)
}

const report = JSON.parse(readFileSync(reportPath, 'utf8'))
const skipped = (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0)
process.stdout.write(`tests: ${report.numPassedTests} passed, ${report.numFailedTests} failed, ${skipped} skipped\n`)
