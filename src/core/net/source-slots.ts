/**
 * How many connections each client source holds, against a per-source limit: one guest must
 * not use up a listener's connections for every other guest of its network. Pure bookkeeping:
 * the caller acquires a slot at accept and releases it when the connection closes.
 */
export class SourceSlots {
  private readonly held = new Map<number, number>()

  constructor(private readonly perSource: number) {}

  /** Takes a slot for `source` (IPv4 as a number); false when it already holds `perSource`. */
  acquire(source: number): boolean {
    const n = this.held.get(source) ?? 0
    if (n >= this.perSource) return false
    this.held.set(source, n + 1)
    return true
  }

  release(source: number): void {
    const n = this.held.get(source) ?? 0
    if (n <= 1) this.held.delete(source)
    else this.held.set(source, n - 1)
  }

  /** Sources holding at least one slot (bounded by the connections open). */
  get sources(): number {
    return this.held.size
  }
}
