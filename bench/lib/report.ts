import { mkdirSync, writeFileSync } from 'node:fs'
import { cpus, release } from 'node:os'
import { dirname } from 'node:path'
import { binary, run } from '../../src/core/exec.ts'
import { runAll } from './cleanup.ts'

/** One benchmark's line in bench/results/<suite>.json and in the printed table. */
export interface Result {
  name: string
  unit: string
  ours: number
  peer: string | null
  peer_value: number | null
  ratio: number | null
  target: string
  pass: boolean
}

/** The results as a table, each peer named, then the notes on where time or memory goes. */
export function printTable(results: readonly Result[], notes: readonly string[]): void {
  const rows = [
    ['name', 'unit', 'ours', 'peer_value', 'ratio', 'target', 'pass'],
    ...results.map((r) => [r.name, r.unit, String(r.ours), r.peer_value === null ? '-' : String(r.peer_value), r.ratio === null ? '-' : String(r.ratio), r.target, r.pass ? 'yes' : 'NO']),
  ]
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((row) => row[c]!.length)))
  const line = (row: string[]) => row.map((cell, c) => (c >= 2 && c <= 4 ? cell.padStart(widths[c]!) : cell.padEnd(widths[c]!))).join('  ')
  process.stdout.write(`\n${line(rows[0]!)}\n${widths.map((w) => '-'.repeat(w)).join('  ')}\n`)
  for (const row of rows.slice(1)) process.stdout.write(`${line(row)}\n`)
  for (const r of results) if (r.peer !== null) process.stdout.write(`  peer of ${r.name}: ${r.peer}\n`)
  process.stdout.write('\n')
  for (const n of notes) process.stdout.write(`  ${n}\n`)
}

/** The commit measured, and whether src/ had uncommitted changes (read-only git). */
export async function revision(root: string): Promise<string> {
  try {
    const head = (await run(binary('git'), ['-C', root, 'rev-parse', '--short', 'HEAD'])).stdout.trim()
    const dirty = (await run(binary('git'), ['-C', root, 'status', '--porcelain', '--', 'src', 'Makefile', 'appliance'])).stdout.trim() !== ''
    return dirty ? `${head} + uncommitted changes in src/, Makefile or appliance/` : head
  } catch {
    return 'unknown'
  }
}

export async function machine(): Promise<string> {
  const ipt = await run(binary('iptables'), ['--version']).then((r) => r.stdout.trim(), () => 'iptables ?')
  return `${cpus().length} cores (${cpus()[0]?.model ?? '?'}), kernel ${release()}, node ${process.version}, ${ipt}`
}

/** Writes a suite's JSON document (creating bench/results/), prints the table and where it went. */
export function writeResults(path: string, doc: { results: readonly Result[]; notes: readonly string[]; durationS: number }): void {
  mkdirSync(dirname(path), { recursive: true })
  writeFileSync(path, JSON.stringify(doc, null, 2) + '\n')
  printTable(doc.results, doc.notes)
  process.stdout.write(`\nwrote ${path} (${doc.durationS} s)\n`)
}

/** Runs a suite's main, always runs every cleanup after it, and exits 1 if it failed. */
export async function runSuite(name: string, main: () => Promise<void>): Promise<never> {
  let failed = false
  try {
    await main()
  } catch (err) {
    failed = true
    process.stderr.write(`${name} failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`)
  } finally {
    await runAll()
  }
  process.exit(failed ? 1 : 0)
}
