/**
 * Stored DNS responses by question (dns/wire.ts ParsedQuery.key), ready to copy into replies (dns/wire.ts replyFrom): local
 * answers until the config changes, forwarded ones for their TTL (negative answers for the
 * SOA's negative TTL, RFC 2308). Least recently used entries go first when full. Pure: the
 * caller passes the time.
 */

export interface CachedResponse {
  /** The response without OPT, as sent for a plain query of this question. */
  bytes: Uint8Array
  ttlOffsets: readonly number[]
  /** ms; Infinity for local answers. */
  storedAt: number
  expiresAt: number
  /** Local (authoritative) answers keep their TTL; forwarded ones age. */
  ages: boolean
}

export class ResponseCache {
  private readonly entries = new Map<string, CachedResponse>()
  private bytes = 0

  constructor(private readonly maxEntries: number, private readonly maxBytes: number) {}

  get(key: string, now: number): CachedResponse | undefined {
    const e = this.entries.get(key)
    if (e === undefined) return undefined
    if (e.expiresAt <= now) {
      this.delete(key, e)
      return undefined
    }
    // Move to the young end (Map order is insertion order) about once per second of age.
    if (now - e.storedAt > 1000 && this.entries.size > this.maxEntries / 2) {
      this.entries.delete(key)
      this.entries.set(key, e)
    }
    return e
  }

  set(key: string, entry: CachedResponse): void {
    const old = this.entries.get(key)
    if (old !== undefined) this.delete(key, old)
    this.entries.set(key, entry)
    this.bytes += entry.bytes.length
    for (const [k, e] of this.entries) {
      if (this.entries.size <= this.maxEntries && this.bytes <= this.maxBytes) break
      this.delete(k, e)
    }
  }

  /** Drops every local answer (the config changed) or everything. */
  clear(localOnly: boolean): void {
    for (const [k, e] of this.entries) if (!localOnly || !e.ages) this.delete(k, e)
  }

  get size(): number {
    return this.entries.size
  }

  private delete(key: string, e: CachedResponse): void {
    this.entries.delete(key)
    this.bytes -= e.bytes.length
  }
}
