#!/usr/bin/env node
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { Lab } from '../src/lab/lab.ts'
import { cleanupOnSignals, onCleanup, runAll } from './lib/cleanup.ts'
import { baseConfig, withForwards } from './lib/configs.ts'
import { daemonCommand, Routerd } from './lib/routerd.ts'
import { sleep } from './lib/stats.ts'

/**
 * Diagnosis only (bench/README.md): routerd's memory around a 10k-forward apply, started as the
 * unit starts it, plus node flags from PROBE_NODE_ARGS (space separated); this process's
 * environment is passed on (e.g. other MALLOC_* tunables to try).
 */
const ROOT = fileURLToPath(new URL('../../../', import.meta.url))

function rollup(pid: number): string {
  const text = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8')
  const kb = (f: string) => Number(new RegExp(`^${f}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN)
  const mb = (f: string) => (kb(f) / 1024).toFixed(1)
  return `rss ${mb('Rss')} anon ${mb('Anonymous')} file ${(kb('Rss') / 1024 - kb('Anonymous') / 1024).toFixed(1)}`
}

function smaps(pid: number): string {
  const rows: { name: string; size: number; rss: number }[] = []
  let cur: { name: string; size: number; rss: number } | undefined
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const head = /^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ \S+\s*(.*)$/.exec(line)
    if (head) { cur = { name: head[3] || 'anon', size: (parseInt(head[2]!, 16) - parseInt(head[1]!, 16)) / 1024, rss: 0 }; rows.push(cur); continue }
    const rss = /^Rss:\s+(\d+) kB/.exec(line)
    if (rss && cur) cur.rss = Number(rss[1])
  }
  const by = new Map<string, { n: number; rss: number }>()
  for (const r of rows) {
    const key = r.name === 'anon' ? `anon ${r.size >= 65536 ? '>=64M' : r.size >= 1024 ? '1M-64M' : r.size >= 256 ? '256K-1M' : '<256K'}` : r.name
    const b = by.get(key) ?? { n: 0, rss: 0 }; b.n++; b.rss += r.rss; by.set(key, b)
  }
  return [...by].sort((a, b) => b[1].rss - a[1].rss).slice(0, 14).map(([k, v]) => `  ${(v.rss / 1024).toFixed(1).padStart(6)} MB ${String(v.n).padStart(4)} ${k}`).join('\n') + '\n'
}

async function main(): Promise<void> {
  cleanupOnSignals()
  const lab = await Lab.create('svmprobe')
  onCleanup(`lab ${lab.id}`, () => lab.destroy())
  const daemon = daemonCommand(ROOT)
  const extra = (process.env['PROBE_NODE_ARGS'] ?? '').split(' ').filter((a) => a !== '')
  const routerd = await Routerd.start(lab, daemon.command, { nodeArgs: extra })
  const pid = routerd.process.pid
  await sleep(1000)
  process.stdout.write(`flags ${[...daemon.command.nodeArgs, ...extra].join(' ')}\nstart     ${rollup(pid)}\n`)
  const baseBody = JSON.stringify(baseConfig())
  const bigBody = JSON.stringify(withForwards(10_000))
  await routerd.api.ok('PUT', '/v1/config', baseBody)
  await routerd.api.ok('PUT', '/v1/config', bigBody)
  process.stdout.write(`answer    ${rollup(pid)}\n`)
  await sleep(3000)
  process.stdout.write(`settled   ${rollup(pid)}\n`)
  if (process.env['PROBE_SMAPS'] !== undefined) process.stdout.write(smaps(pid))
  if (process.env['PROBE_SNAPSHOT'] !== undefined) { routerd.process.kill('SIGUSR2'); await sleep(8000) }
  for (let i = 0; i < 3; i++) {
    await routerd.api.ok('PUT', '/v1/config', baseBody)
    await routerd.api.ok('PUT', '/v1/config', bigBody)
  }
  await sleep(3000)
  process.stdout.write(`after 3   ${rollup(pid)}\n`)
  if (process.env['PROBE_SMAPS'] !== undefined) process.stdout.write(smaps(pid))
  await routerd.stop()
}

try { await main() } finally { await runAll() }
