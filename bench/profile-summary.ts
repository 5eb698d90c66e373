#!/usr/bin/env node
import { readFileSync } from 'node:fs'

/**
 * Diagnosis helper: prints where a V8 .cpuprofile (node --cpu-prof) spent its time: self time per
 * function, inclusive time per function (each counted once per stack, so recursion does not
 * inflate it) and, for the tsc output, inclusive time per routerd file. Usage: profile-summary.js FILE…
 */

interface ProfileNode { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }
interface Profile { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[] }

function summarize(path: string): void {
  const p = JSON.parse(readFileSync(path, 'utf8')) as Profile
  const byId = new Map(p.nodes.map((n) => [n.id, n]))
  const parent = new Map<number, number>()
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
  const selfUs = new Map<number, number>()
  p.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + (p.timeDeltas[i] ?? 0)))
  const total = [...selfUs.values()].reduce((a, b) => a + b, 0)
  const label = (n: ProfileNode) => {
    const url = n.callFrame.url.replace(/^file:\/\/.*?\/(dist|node_modules)\//, '$1/')
    return `${n.callFrame.functionName || '(anonymous)'} ${url}${url ? `:${n.callFrame.lineNumber + 1}` : ''}`
  }
  const self = new Map<string, number>()
  const inclusiveFile = new Map<string, number>()
  const inclusiveFn = new Map<string, number>()
  for (const [id, us] of selfUs) {
    const n = byId.get(id) as ProfileNode
    self.set(label(n), (self.get(label(n)) ?? 0) + us)
    const seen = new Set<string>()
    const seenFn = new Set<string>()
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const node = byId.get(cur) as ProfileNode
      const fn = label(node)
      if (node.callFrame.url !== '' && !seenFn.has(fn)) {
        seenFn.add(fn)
        inclusiveFn.set(fn, (inclusiveFn.get(fn) ?? 0) + us)
      }
      const url = node.callFrame.url
      const m = /\/dist\/(.+\.js)$/.exec(url)
      if (m && !seen.has(m[1] as string)) {
        seen.add(m[1] as string)
        inclusiveFile.set(m[1] as string, (inclusiveFile.get(m[1] as string) ?? 0) + us)
      }
    }
  }
  const ms = (us: number) => (us / 1000).toFixed(0).padStart(7)
  process.stdout.write(`${path}: ${(total / 1e6).toFixed(1)} s sampled\n  self time, top 25:\n`)
  for (const [k, us] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 25)) process.stdout.write(`  ${ms(us)} ms  ${k}\n`)
  process.stdout.write('  inclusive time per function, top 40:\n')
  for (const [k, us] of [...inclusiveFn].sort((a, b) => b[1] - a[1]).slice(0, 40)) process.stdout.write(`  ${ms(us)} ms  ${k}\n`)
  if (inclusiveFile.size > 0) process.stdout.write('  inclusive time per routerd file (dist/):\n')
  for (const [k, us] of [...inclusiveFile].sort((a, b) => b[1] - a[1]).slice(0, 25)) process.stdout.write(`  ${ms(us)} ms  ${k}\n`)
}

for (const path of process.argv.slice(2)) summarize(path)
