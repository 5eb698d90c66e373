/**
 * One byte budget for the DNS caches of all guest networks together (dns/cache.ts): each
 * network keeps its own entries, so no answer crosses networks, but memory is bounded once,
 * not per network (per-network limits times up to 256 networks is no bound). Past the budget
 * the network that stores pays first: its own least recently used entries go while it holds
 * more than an equal share, else the largest cache's. A guest flooding its router with unique
 * names thus pushes out its own network's answers, not a quiet network's. Pure.
 */

/** What one entry costs beyond its response bytes: its key, the map slot and the entry object. */
export const ENTRY_OVERHEAD_BYTES = 160

/** A cache under the budget: how much it holds, and a way to drop its least recently used entry. */
export interface BudgetedCache {
  readonly heldBytes: number
  /** Drops the least recently used entry (which gives its bytes back through `release`). */
  evictOldest(): void
}

export class CacheBudget {
  private readonly caches = new Set<BudgetedCache>()
  private bytes = 0
  private count = 0

  constructor(readonly maxBytes: number) {}

  join(cache: BudgetedCache): void {
    this.caches.add(cache)
  }

  /** The cache must have released every entry first. */
  leave(cache: BudgetedCache): void {
    this.caches.delete(cache)
  }

  /** Counts a new entry of `cache`, then evicts until within budget. */
  charge(cache: BudgetedCache, cost: number): void {
    this.bytes += cost
    this.count++
    while (this.bytes > this.maxBytes) {
      const victim = cache.heldBytes > this.maxBytes / this.caches.size ? cache : this.largest()
      if (victim === undefined || victim.heldBytes === 0) break
      victim.evictOldest()
    }
  }

  release(cost: number): void {
    this.bytes -= cost
    this.count--
  }

  get usedBytes(): number {
    return this.bytes
  }

  get entries(): number {
    return this.count
  }

  private largest(): BudgetedCache | undefined {
    let best: BudgetedCache | undefined
    for (const c of this.caches) if (best === undefined || c.heldBytes > best.heldBytes) best = c
    return best
  }
}
