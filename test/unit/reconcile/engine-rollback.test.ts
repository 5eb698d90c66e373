import { readFileSync } from 'node:fs'
import { afterEach, describe, expect, it } from 'vitest'
import type { FakeCall, FaultSpec } from '../../../src/router/kernel/fake/index.ts'
import { ConfigStore } from '../../../src/router/store/config-store.ts'
import { forward, labRouterConfig, startFakeRouter, type FakeRouter } from '../../helpers/fake-router.ts'

/**
 * Rollback across the apply stages on the fake kernel: a batch the kernel refuses part-way
 * (ipset restore, iptables-restore in the first or a later table, ip -batch at line n) answers
 * 422 and leaves the whole kernel state exactly as before the edit, and the stored config
 * unchanged; the same edit without the fault then applies. The fault shapes are the real
 * tools' (see src/router/kernel/fake/faults.ts): where a batch stops decides what ran.
 */

const routers: FakeRouter[] = []
afterEach(async () => { for (const r of routers.splice(0)) await r.close() })

/** The golden "full" document (every collection), plus a public IP so the net batch has more lines. */
function fullConfig(): Record<string, unknown> {
  const doc = JSON.parse(readFileSync(new URL('../../golden/full/config.json', import.meta.url), 'utf8')) as Record<string, unknown[]>
  return { ...doc, publicIps: [...(doc['publicIps'] ?? []), { id: 'ip-extra', ip: '203.0.113.13', prefixLength: 24, interface: 'pub0' }] }
}

const baseConfig = () => ({ ...labRouterConfig(), portForwards: [forward('pf-a', 8080)] })

async function start(): Promise<FakeRouter> {
  const r = await startFakeRouter()
  routers.push(r)
  const res = await r.api('PUT', '/v1/config', baseConfig())
  expect(res.status, JSON.stringify(res.body)).toBe(200)
  return r
}

async function snapshot(r: FakeRouter) {
  return { kernel: r.kernel.state(), config: r.engine.getConfig(), stored: new ConfigStore(r.stateDir).load() }
}

const isRestore = (tool: string, test: (stdin: string) => boolean) => (c: { args: readonly string[]; stdin: string }) =>
  (tool !== 'ipset' || c.args[0] === 'restore') && test(c.stdin)

interface Case {
  name: string
  fault: FaultSpec
  /** Which tool the 422 names. */
  tool: string
  edit: (r: FakeRouter) => Promise<{ status: number; body: any }>
  /** What the engine must have run to undo it (the calls after the refused one). */
  undo?: (calls: FakeCall[]) => void
}

/** The iptables-restore calls among `calls`, as the list of tables each one wrote. */
const restoredTables = (calls: FakeCall[]) => calls.filter((c) => c.tool === 'iptables-restore').map((c) => [...c.stdin.matchAll(/^\*(\w+)$/gm)].map((m) => m[1]))

const replaceWithFull = (r: FakeRouter) => r.api('PUT', '/v1/config', fullConfig())
const pfWithSource = { ...forward('pf-src', 8000), sourceCidrs: ['192.0.2.0/24'] }

const cases: Case[] = [
  {
    name: 'ipset: the batch creating the new sets is refused at its first line',
    tool: 'ipset', edit: replaceWithFull,
    fault: { tool: 'ipset', when: isRestore('ipset', (s) => s.startsWith('create ')), line: 1 },
  },
  {
    name: 'ipset: the create batch is refused at its second line (the first set was made)',
    tool: 'ipset', edit: replaceWithFull,
    fault: { tool: 'ipset', when: isRestore('ipset', (s) => s.startsWith('create ')), line: 2 },
  },
  {
    name: 'ipset: the fill batch is refused at its third line while iptables-restore committed every table',
    tool: 'ipset', edit: replaceWithFull,
    fault: { tool: 'ipset', when: isRestore('ipset', (s) => s.startsWith('add ')), line: 3 },
    // iptables-restore runs alongside the fill (it starts just before it) and commits; after the refusal every table is put back whole.
    undo: (calls) => expect(restoredTables(calls)).toEqual([['raw', 'mangle', 'nat', 'filter']]),
  },
  {
    name: 'iptables-restore: the first table (raw) is refused',
    tool: 'iptables-restore', edit: replaceWithFull,
    fault: { tool: 'iptables-restore', when: isRestore('iptables', (s) => s.includes('svm:pf:pf-ssh')), line: /^-A SVM-ASP-/ },
    // Nothing committed: no iptables rollback is needed.
    undo: (calls) => expect(restoredTables(calls)).toEqual([]),
  },
  {
    name: 'iptables-restore: a later table (filter) is refused after raw, mangle and nat committed',
    tool: 'iptables-restore', edit: replaceWithFull,
    fault: { tool: 'iptables-restore', when: isRestore('iptables', (s) => s.includes('svm:pf:pf-ssh')), line: /^-A SVM-EGR-/ },
    undo: (calls) => expect(restoredTables(calls)).toEqual([['raw', 'mangle', 'nat']]),
  },
  ...[1, 2, 3, 4].map((line): Case => ({
    name: `ip -batch: refused at line ${line} (the lines before it ran)`,
    tool: 'ip -batch', edit: replaceWithFull,
    fault: { tool: 'ip', when: (c) => c.args.includes('-batch'), line },
  })),
  {
    name: 'item edit: iptables-restore --noflush refused in nat after mangle committed',
    tool: 'iptables-restore', edit: (r) => r.api('PUT', '/v1/config/portForwards/pf-src', pfWithSource),
    fault: { tool: 'iptables-restore', when: (c) => c.args.includes('--noflush'), line: /svm:pf:pf-src.*DNAT/ },
    undo: (calls) => expect(restoredTables(calls)).toEqual([['mangle']]),
  },
  {
    name: 'item edit: the in-place ipset edit of a port forward is refused',
    tool: 'ipset', edit: (r) => r.api('PUT', '/v1/config/portForwards/pf-b', forward('pf-b', 8081)),
    fault: { tool: 'ipset', when: isRestore('ipset', (s) => s.includes('svm-pf-open')), line: 1 },
  },
  {
    name: 'item edit: ip -batch refused for a new static route',
    tool: 'ip -batch', edit: (r) => r.api('PUT', '/v1/config/staticRoutes/rt1', { id: 'rt1', cidr: '172.16.0.0/12', via: '10.1.1.254' }),
    fault: { tool: 'ip', when: (c) => c.args.includes('-batch'), line: 1 },
  },
]

describe('rollback across apply stages', () => {
  it.each(cases)('$name: 422, kernel and store exactly as before; the edit applies once the fault is gone', async ({ fault, tool, edit, undo }) => {
    const r = await start()
    const before = await snapshot(r)
    const handle = r.kernel.fail(fault)
    const res = await edit(r)
    expect(handle.fired, 'the fault was met').toBe(1)
    const refused = r.kernel.calls.findIndex((c) => c.exitCode !== 0 && c.tool !== 'conntrack')
    undo?.(r.kernel.calls.slice(refused + 1))
    expect(res.status, JSON.stringify(res.body)).toBe(422)
    expect(res.body.error).toMatchObject({ code: 'ERR_KERNEL_REJECTED', tool })
    expect(await snapshot(r)).toEqual(before)
    expect(await r.engine.diff()).toEqual([])
    const again = await edit(r)
    expect(again.status, JSON.stringify(again.body)).toBe(200)
    expect(await r.engine.diff()).toEqual([])
  })
})
