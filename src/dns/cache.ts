import { ENTRY_OVERHEAD_BYTES, type BudgetSlot, type CacheBudget } from './cache-budget.ts'

/**
 * One guest network's stored DNS responses by question (dns/wire.ts ParsedQuery.key), ready to
 * copy into replies (dns/wire.ts replyFrom): local answers until the config changes, forwarded
 * ones for their TTL (negative answers for the SOA's negative TTL, RFC 2308). Memory is bounded
 * by a budget shared with every other network's cache (dns/cache-budget.ts), least recently
 * used entries going first. Pure: the caller passes the time.
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

interface Stored extends BudgetSlot {
  readonly entry: CachedResponse
}

export class ResponseCache {
  private readonly entries = new Map<string, Stored>()

  constructor(private readonly budget: CacheBudget) {}

  get(key: string, now: number): CachedResponse | undefined {
    const s = this.entries.get(key)
    if (s === undefined) return undefined
    const e = s.entry
    if (e.expiresAt <= now) {
      this.delete(s)
      return undefined
    }
    // To the young end about once per second of age, and only once the budget is half used:
    // the hot path does not pay for recency while there is room.
    if (now - e.storedAt > 1000 && this.budget.usedBytes > this.budget.maxBytes / 2) this.budget.touch(s)
    return e
  }

  set(key: string, entry: CachedResponse): void {
    const old = this.entries.get(key)
    if (old !== undefined) this.delete(old)
    const stored: Stored = { key, entry, cost: entry.bytes.length + key.length + ENTRY_OVERHEAD_BYTES, evict: () => this.entries.delete(key) }
    this.entries.set(key, stored)
    this.budget.add(stored)
  }

  /** Drops every local answer (the config changed) or everything. */
  clear(localOnly: boolean): void {
    for (const s of this.entries.values()) if (!localOnly || !s.entry.ages) this.delete(s)
  }

  get size(): number {
    return this.entries.size
  }

  private delete(s: Stored): void {
    this.entries.delete(s.key)
    this.budget.remove(s)
  }
}
