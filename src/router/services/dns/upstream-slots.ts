/**
 * Upstream queries in flight, against a cap per network and one for all networks together:
 * a guest asking thousands of distinct names of a slow upstream must not hold thousands of
 * sockets and timers, nor take every slot from the other networks. Pure bookkeeping: the
 * caller acquires a slot before asking upstream and releases it when the question settles.
 */
export class UpstreamSlots {
  private readonly perNetwork = new Map<string, number>()
  private total = 0

  constructor(private readonly globalCap: number, private readonly networkCap: number) {}

  acquire(network: string): boolean {
    const n = this.perNetwork.get(network) ?? 0
    if (n >= this.networkCap || this.total >= this.globalCap) return false
    this.perNetwork.set(network, n + 1)
    this.total++
    return true
  }

  release(network: string): void {
    const n = this.perNetwork.get(network) ?? 0
    if (n === 0) return
    if (n === 1) this.perNetwork.delete(network)
    else this.perNetwork.set(network, n - 1)
    this.total--
  }

  get inFlight(): number {
    return this.total
  }
}
