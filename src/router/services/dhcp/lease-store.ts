import { mkdirSync } from 'node:fs'
import { open, type FileHandle } from 'node:fs/promises'
import { join } from 'node:path'
import { StoreError } from '../../../core/errors.ts'
import { writeFileAtomic } from '../../../core/files/atomic.ts'
import { readJsonLines } from '../../../core/files/json-lines.ts'
import { formatIpv4, parseIpv4 } from '../../../core/ipv4.ts'
import { applyLeaseChange, type LeaseChange, type LeaseTable } from './lease-table.ts'

/**
 * The DHCP leases on disk: an append-only journal of lease changes, one JSON line each,
 * compacted into the live leases at start and when it grows.
 *
 * A new dynamic binding is written and fdatasync'ed before its ACK leaves (several clients'
 * bindings share one sync), so a restart never hands one address to two clients. Renewals and
 * static hosts' leases (their address comes from the config) are written behind, within a
 * second, and synced with the next durable write or compaction.
 */

const JOURNAL = 'dhcp-leases.jsonl'
const WRITE_BEHIND_MS = 1000
const COMPACT_BYTES = 4 * 1024 * 1024
/** After a failed compaction, how much more is appended before the next try (not on every write). */
const COMPACT_RETRY_BYTES = 256 * 1024

export interface LeaseStoreOptions {
  /** Told about a failed compaction (the journal stays as it is and keeps taking writes). */
  onError?: (err: unknown) => void
}

/**
 * `m` is the MAC in a bind line, the client's key in the others; `c` the key of a client that
 * sent an identifier (absent: the key is the MAC, as in journals written before identifiers).
 */
type Line =
  | { k: 'bind'; n: string; m: string; c?: string; i: string; e: number | null }
  | { k: 'release'; n: string; m: string }
  | { k: 'decline'; n: string; m: string; i: string; e: number }

function lineOf(change: LeaseChange): string | undefined {
  switch (change.kind) {
    case 'bind': {
      const l = change.lease
      const e = Number.isFinite(l.expiresAt) ? l.expiresAt : null
      return JSON.stringify((l.client === l.mac
        ? { k: 'bind', n: l.network, m: l.mac, i: formatIpv4(l.ip), e }
        : { k: 'bind', n: l.network, m: l.mac, c: l.client, i: formatIpv4(l.ip), e }) satisfies Line)
    }
    case 'release': return JSON.stringify({ k: 'release', n: change.network, m: change.client } satisfies Line)
    case 'decline': return JSON.stringify({ k: 'decline', n: change.network, m: change.client, i: formatIpv4(change.ip), e: change.until } satisfies Line)
    case 'offer': return undefined
  }
}

/** The change a journal line records (undefined for a line with an unreadable address). */
function changeOf(line: Line): LeaseChange | undefined {
  if (line.k === 'release') return { kind: 'release', network: line.n, client: line.m }
  const ip = parseIpv4(line.i)
  if (ip === undefined) return undefined
  return line.k === 'bind'
    ? { kind: 'bind', lease: { network: line.n, client: line.c ?? line.m, mac: line.m, ip, expiresAt: line.e ?? Infinity, bound: true }, durable: true }
    : { kind: 'decline', network: line.n, client: line.m, ip, until: line.e }
}

export class LeaseStore {
  private readonly path: string
  private file: FileHandle | undefined
  private bytes = 0
  /** Journal bytes past which the next compaction is tried (raised after a failure). */
  private compactAt = COMPACT_BYTES
  private pending: string[] = []
  /** Written-behind changes, the latest per client: a renewal every few seconds is one line per flush. */
  private dirty = new Map<string, LeaseChange>()
  private waiters: { resolve: () => void; reject: (err: unknown) => void }[] = []
  private writing: Promise<void> | undefined
  private timer: NodeJS.Timeout | undefined

  constructor(dir: string, private readonly table: LeaseTable, private readonly options: LeaseStoreOptions = {}) {
    mkdirSync(dir, { recursive: true, mode: 0o700 })
    this.path = join(dir, JOURNAL)
  }

  /** Replays the journal into the table, drops expired leases and rewrites the journal compacted. */
  async open(now: number): Promise<number> {
    for (const line of readJsonLines<Line>(this.path)) {
      const change = changeOf(line)
      if (change !== undefined) applyLeaseChange(this.table, change)
    }
    const keep = new Set<string>()
    for (const l of this.table.leases()) keep.add(l.network)
    this.table.prune(now, keep)
    this.tryCompact()
    this.file = await open(this.path, 'a', 0o600)
    return this.table.size
  }

  /**
   * Records a change made to the table. For a durable bind, returns a promise that resolves
   * once it is on disk (rejects when the write fails); otherwise undefined: written behind.
   */
  record(change: LeaseChange): Promise<void> | undefined {
    if (change.kind === 'offer') return undefined
    const key = change.kind === 'bind' ? `${change.lease.network}|${change.lease.client}` : `${change.network}|${change.client}`
    if (change.kind === 'bind' && change.durable) {
      this.dirty.delete(key)
      this.pending.push(`${lineOf(change) as string}\n`)
      return new Promise<void>((resolve, reject) => {
        this.waiters.push({ resolve, reject })
        this.kick()
      })
    }
    this.dirty.set(key, change)
    if (this.timer === undefined) {
      this.timer = setTimeout(() => { this.timer = undefined; this.kick() }, WRITE_BEHIND_MS)
      this.timer.unref()
    }
    return undefined
  }

  /** Writes and syncs everything pending. */
  async flush(): Promise<void> {
    this.kick()
    while (this.writing !== undefined) await this.writing
  }

  async close(): Promise<void> {
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = undefined
    await this.flush().catch(() => undefined)
    await this.file?.close()
    this.file = undefined
  }

  private kick(): void {
    if (this.writing === undefined && (this.pending.length > 0 || this.dirty.size > 0)) {
      // Work recorded after the loop's last check but before it ended starts a new loop.
      this.writing = this.writeLoop().finally(() => { this.writing = undefined; this.kick() })
    }
  }

  private async writeLoop(): Promise<void> {
    while (this.pending.length > 0 || this.dirty.size > 0) {
      let text = this.pending.join('')
      for (const change of this.dirty.values()) text += `${lineOf(change) as string}\n`
      const waiters = this.waiters
      this.pending = []
      this.dirty = new Map()
      this.waiters = []
      try {
        // A handle lost to an earlier failure is opened again: one bad moment never ends persistence.
        this.file ??= await open(this.path, 'a', 0o600)
        await this.file.appendFile(text)
        await this.file.datasync()
        this.bytes += text.length
      } catch (err) {
        for (const w of waiters) w.reject(err)
        continue
      }
      // On disk: acknowledged whatever the compaction below does.
      for (const w of waiters) w.resolve()
      if (this.bytes > this.compactAt) await this.reopenCompacted()
    }
  }

  /**
   * Compacts, then appends to the new file. The old handle is closed only once the new journal
   * is in place; a failure keeps appending to the old one.
   */
  private async reopenCompacted(): Promise<void> {
    if (!this.tryCompact()) return
    const old = this.file
    this.file = undefined
    await old?.close().catch(() => undefined)
    try {
      this.file = await open(this.path, 'a', 0o600)
    } catch (err) {
      // The next write opens it again.
      this.options.onError?.(err)
    }
  }

  /** Compacts; on failure reports it and tries again after COMPACT_RETRY_BYTES more. */
  private tryCompact(): boolean {
    try {
      this.compact()
      this.compactAt = COMPACT_BYTES
      return true
    } catch (err) {
      this.compactAt = this.bytes + COMPACT_RETRY_BYTES
      this.options.onError?.(new StoreError(`${this.path}: compaction failed`, { cause: err }))
      return false
    }
  }

  /** The journal rewritten as one bind line per live bound lease (temp + fsync + rename). */
  private compact(): void {
    const lines: string[] = []
    for (const lease of this.table.leases()) {
      if (lease.bound) lines.push(lineOf({ kind: 'bind', lease, durable: true }) as string)
    }
    writeFileAtomic(this.path, lines.length === 0 ? '' : lines.join('\n') + '\n')
    this.bytes = 0
  }
}
