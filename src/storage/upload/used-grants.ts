import { createHash } from 'node:crypto'
import { closeSync, fsyncSync, mkdirSync, openSync, writeSync } from 'node:fs'
import { dirname } from 'node:path'
import { writeFileAtomic, truncateFile } from '../../core/files/atomic.ts'
import { readJournal } from '../../core/files/json-lines.ts'
import { UploadError } from './errors.ts'

/**
 * The grants already used, so a signed upload URL works once (CloudStack refuses a second
 * upload for a uuid it knows too). Keyed by upload uuid and by the signature's SHA-256, so
 * neither a second grant for the same uuid nor the same grant replayed gets through.
 *
 * Persisted as JSON lines (`{"u":uuid,"s":sha256(signature),"e":expiresAtMs}`), each appended
 * and fsynced before the upload's first byte reaches the sink, so a restart remembers every
 * grant a sink has seen. An entry is kept until its expiry plus a grace (a clock stepped back
 * must not reopen a grant), then dropped; the file is rewritten atomically when dead lines
 * outnumber live ones. Bounded: when `maxEntries` unexpired grants are held, a new upload is
 * refused (ERR_UPLOAD_BUSY) rather than an old grant forgotten early.
 */

interface Line { u: string; s: string; e: number }

export interface UsedGrantOptions {
  maxEntries: number
  /** How long past its expiry a grant is still remembered (default 1 h). */
  graceMs?: number
  now: () => number
}

/** Pure. The key a signature is remembered by (the signature itself is never written). */
export function signatureKey(signature: string): string {
  return createHash('sha256').update(signature, 'utf8').digest('hex')
}

export class UsedGrantStore {
  private readonly byUuid = new Map<string, Line>()
  private readonly bySignature = new Map<string, Line>()
  private fd: number | undefined
  private lines = 0
  private readonly graceMs: number

  constructor(private readonly path: string, private readonly opts: UsedGrantOptions) {
    this.graceMs = opts.graceMs ?? 3_600_000
  }

  /**
   * Loads the journal: a torn last line (a crash mid-append) is cut; lines after a damaged one
   * are still honoured (they name grants that were used), and the file is rewritten clean.
   */
  open(): void {
    this.close()
    this.byUuid.clear()
    this.bySignature.clear()
    mkdirSync(dirname(this.path), { recursive: true, mode: 0o700 })
    const scan = readJournal(this.path)
    const values = [...scan.lines.map((l) => l.value), ...scan.afterDamage]
    let rewrite = scan.damaged !== undefined
    if (!rewrite && scan.tornAt !== undefined) truncateFile(this.path, scan.keepBytes)
    for (const v of values) {
      if (!isLine(v)) { rewrite = true; continue }
      this.remember(v)
    }
    this.lines = values.length
    const dropped = this.prune()
    if (rewrite || dropped > 0) this.compact()
    this.fd = openSync(this.path, 'a', 0o600)
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd)
    this.fd = undefined
  }

  /** Grants held (unexpired, or within the grace). */
  get size(): number {
    return this.byUuid.size
  }

  /** Whether this uuid or this signature (its key) was used. */
  has(uuid: string, sigKey: string): boolean {
    return this.byUuid.has(uuid) || this.bySignature.has(sigKey)
  }

  /** Records a used grant durably; throws ERR_UPLOAD_BUSY when the set is full of unexpired grants. */
  add(uuid: string, sigKey: string, expiresAt: number): void {
    if (this.fd === undefined) throw new Error('used-grant store is not open')
    if (this.byUuid.size >= this.opts.maxEntries) this.prune()
    if (this.byUuid.size >= this.opts.maxEntries) {
      throw new UploadError('ERR_UPLOAD_BUSY', `${this.opts.maxEntries} unexpired upload grants are held; retry later`, { headers: { 'retry-after': '60' } })
    }
    const line: Line = { u: uuid, s: sigKey, e: expiresAt }
    writeSync(this.fd, `${JSON.stringify(line)}\n`)
    fsyncSync(this.fd)
    this.lines++
    this.remember(line)
    if (this.lines > 2 * this.byUuid.size + 1024) {
      this.prune()
      this.compact()
    }
  }

  /** Forgets grants past expiry + grace; returns how many. */
  prune(): number {
    const cutoff = this.opts.now() - this.graceMs
    let dropped = 0
    for (const [uuid, line] of this.byUuid) if (line.e < cutoff) { this.byUuid.delete(uuid); dropped++ }
    for (const [s, line] of this.bySignature) if (line.e < cutoff) { this.bySignature.delete(s); dropped++ }
    return dropped
  }

  private remember(line: Line): void {
    const known = this.byUuid.get(line.u)
    if (known === undefined || known.e < line.e) this.byUuid.set(line.u, line)
    this.bySignature.set(line.s, line)
  }

  /** Rewrites the file with the live entries only (atomic replace), reopening the append handle. */
  private compact(): void {
    const live = new Set([...this.byUuid.values(), ...this.bySignature.values()])
    const text = [...live].map((l) => `${JSON.stringify({ u: l.u, s: l.s, e: l.e })}\n`).join('')
    const reopen = this.fd !== undefined
    this.close()
    writeFileAtomic(this.path, text)
    this.lines = live.size
    if (reopen) this.fd = openSync(this.path, 'a', 0o600)
  }
}

function isLine(v: unknown): v is Line {
  if (typeof v !== 'object' || v === null) return false
  const l = v as Record<string, unknown>
  return typeof l['u'] === 'string' && typeof l['s'] === 'string' && typeof l['e'] === 'number' && Number.isFinite(l['e'])
}
