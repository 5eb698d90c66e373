import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { applyLeaseChange, LeaseTable, type Lease, type LeaseChange } from '../../../src/router/services/dhcp/lease-table.ts'
import { LeaseStore } from '../../../src/router/services/dhcp/lease-store.ts'

const dirs: string[] = []
const tempDir = () => { const d = mkdtempSync(join(tmpdir(), 'lease-store-')); dirs.push(d); return d }
afterEach(() => { for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true }) })

const mac = (i: number) => `02:7e:${((i >> 16) & 255).toString(16).padStart(2, '0')}:${((i >> 8) & 255).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}:01`
const lease = (i: number): Lease => ({ network: 'net1', client: mac(i), mac: mac(i), ip: 0x0a000000 + i, expiresAt: Infinity, bound: true })
const bind = (i: number): LeaseChange => ({ kind: 'bind', lease: lease(i), durable: true })

/** Applies and records a change, as the server does. */
function record(table: LeaseTable, store: LeaseStore, change: LeaseChange): Promise<void> | undefined {
  applyLeaseChange(table, change)
  return store.record(change)
}

describe('LeaseStore', () => {
  it('a failed compaction loses nothing: the bindings that triggered it and every later one are stored, and compaction is retried', async () => {
    const dir = tempDir()
    const table = new LeaseTable()
    const errors: unknown[] = []
    const store = new LeaseStore(dir, table, { onError: (err) => errors.push(err) })
    await store.open(0)
    // Compaction writes a temporary file next to the journal, then renames it; a directory in its
    // place makes that write fail, as a full or read-only disk would (root ignores permissions).
    const obstacle = join(dir, `dhcp-leases.jsonl.tmp-${process.pid}`)
    mkdirSync(obstacle)
    // Past 4 MiB of journal: one batch of durable bindings triggers the compaction.
    const many = 60_000
    const first = Array.from({ length: many }, (_, i) => record(table, store, bind(i)))
    const settled = await Promise.allSettled(first)
    expect(settled.filter((s) => s.status === 'rejected')).toEqual([])
    expect(errors.length).toBeGreaterThan(0)
    // The store is still usable: a new binding is synced and acknowledged.
    await expect(record(table, store, bind(many))).resolves.toBeUndefined()
    await store.flush()

    const reloaded = new LeaseTable()
    const again = new LeaseStore(dir, reloaded)
    // Loading works with the obstacle still there (the start-up compaction fails the same way).
    await again.open(0)
    await again.close()
    expect(reloaded.size).toBe(many + 1)
    expect(reloaded.byClient('net1', mac(many))?.ip).toBe(0x0a000000 + many)

    // Once the disk is writable again, a later write compacts: releases are gone from the file.
    rmSync(obstacle, { recursive: true })
    for (let i = 0; i < many; i++) record(table, store, { kind: 'release', network: 'net1', client: mac(i) })
    await store.flush()
    await expect(record(table, store, bind(many + 1))).resolves.toBeUndefined()
    await store.flush()
    const text = readFileSync(join(dir, 'dhcp-leases.jsonl'), 'utf8')
    expect(text).not.toContain('"release"')
    expect(statSync(join(dir, 'dhcp-leases.jsonl')).size).toBeLessThan(1000)
    await store.close()
  })

  it("keeps a lease's client identifier across a restart, and reads journals written before identifiers", async () => {
    const dir = tempDir()
    writeFileSync(join(dir, 'dhcp-leases.jsonl'), '{"k":"bind","n":"net1","m":"02:7e:00:00:00:01","i":"10.0.0.1","e":null}\n')
    const table = new LeaseTable()
    const store = new LeaseStore(dir, table)
    await store.open(0)
    expect(table.byClient('net1', '02:7e:00:00:00:01')?.ip).toBe(0x0a000001)
    const withId: Lease = { network: 'net1', client: 'id:01027e', mac: '02:7e:00:00:00:02', ip: 0x0a000002, expiresAt: Infinity, bound: true }
    await record(table, store, { kind: 'bind', lease: withId, durable: true })
    await store.close()
    const reloaded = new LeaseTable()
    const again = new LeaseStore(dir, reloaded)
    await again.open(0)
    await again.close()
    expect(reloaded.byClient('net1', 'id:01027e')).toEqual(withId)
    expect(reloaded.find('net1', '02:7e:00:00:00:02', '02:7e:00:00:00:02')).toEqual(withId)
  })
})
