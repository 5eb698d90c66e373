import { ENTRY_OVERHEAD_BYTES, type BudgetedCache, type CacheBudget } from './cache-budget.ts'

/**
 * One guest network's stored DNS responses by question (dns/wire.ts ParsedQuery.key), ready to
 * copy into replies (dns/wire.ts replyFrom): local answers until the config changes, forwarded
 * ones for their TTL (negative answers for the SOA's negative TTL, RFC 2308). Memory is bounded
 * by a budget shared with every other network's cache (dns/cache-budget.ts); this network's
 * least recently used entries go first. Pure: the caller passes the time.
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

export class ResponseCache implements BudgetedCache {
  /** Least recently used first (Map order is insertion order). */
  private readonly entries = new Map<string, CachedResponse>()
  private bytes = 0

  constructor(private readonly budget: CacheBudget) {
    budget.join(this)
  }

  get(key: string, now: number): CachedResponse | undefined {
    const e = this.entries.get(key)
    if (e === undefined) return undefined
    if (e.expiresAt <= now) {
      this.delete(key, e)
      return undefined
    }
    // To the young end about once per second of age, and only once the budget is half used:
    // the hot path does not pay for recency while there is room.
    if (now - e.storedAt > 1000 && this.budget.usedBytes > this.budget.maxBytes / 2) {
      this.entries.delete(key)
      this.entries.set(key, e)
    }
    return e
  }

  set(key: string, entry: CachedResponse): void {
    const old = this.entries.get(key)
    if (old !== undefined) this.delete(key, old)
    this.entries.set(key, entry)
    const cost = costOf(key, entry)
    this.bytes += cost
    this.budget.charge(this, cost)
  }

  /** Drops every local answer (the config changed) or everything. */
  clear(localOnly: boolean): void {
    for (const [k, e] of this.entries) if (!localOnly || !e.ages) this.delete(k, e)
  }

  /** Drops every entry and leaves the budget: the network is no longer served. */
  close(): void {
    this.clear(false)
    this.budget.leave(this)
  }

  get size(): number {
    return this.entries.size
  }

  get heldBytes(): number {
    return this.bytes
  }

  evictOldest(): void {
    const oldest = this.entries.entries().next()
    if (oldest.done !== true) this.delete(oldest.value[0], oldest.value[1])
  }

  private delete(key: string, e: CachedResponse): void {
    this.entries.delete(key)
    const cost = costOf(key, e)
    this.bytes -= cost
    this.budget.release(cost)
  }
}

function costOf(key: string, e: CachedResponse): number {
  return e.bytes.length + key.length + ENTRY_OVERHEAD_BYTES
}
