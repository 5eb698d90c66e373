/**
 * One byte budget for the DNS caches of all guest networks together (dns/cache.ts): each
 * network keeps its own entries, so no answer crosses networks, but memory is bounded once,
 * not per network (per-network limits times up to 256 networks is no bound). Entries of every
 * cache are kept in one least-recently-used order: when the budget is exceeded, the oldest
 * entry goes, whichever network holds it. Pure.
 */

/** What one entry costs beyond its response bytes: its key, the map slot and the entry objects. */
export const ENTRY_OVERHEAD_BYTES = 160

export interface BudgetSlot {
  readonly key: string
  readonly cost: number
  /** Removes the entry from the cache that holds it (not from the budget). */
  readonly evict: () => void
}

export class CacheBudget {
  /** Every cache's entries, least recently used first (Map order is insertion order). */
  private readonly order = new Set<BudgetSlot>()
  private bytes = 0

  constructor(readonly maxBytes: number) {}

  /** Counts a new entry, then evicts the least recently used entries of any cache until within budget. */
  add(slot: BudgetSlot): void {
    this.order.add(slot)
    this.bytes += slot.cost
    for (const oldest of this.order) {
      if (this.bytes <= this.maxBytes) break
      this.remove(oldest)
      oldest.evict()
    }
  }

  /** The entry was used: it goes to the young end. */
  touch(slot: BudgetSlot): void {
    if (!this.order.delete(slot)) return
    this.order.add(slot)
  }

  remove(slot: BudgetSlot): void {
    if (this.order.delete(slot)) this.bytes -= slot.cost
  }

  get usedBytes(): number {
    return this.bytes
  }

  get entries(): number {
    return this.order.size
  }
}
