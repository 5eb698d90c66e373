/**
 * The leases the DHCP server knows, per network, by client and by address. In memory only; the
 * lease store (store/lease-store.ts) persists the changes. Offers are leases that are not bound
 * yet and hold their address for a short time.
 *
 * A client is its identifier (option 61) when it sends one, else its MAC (RFC 2131 §4.2). Like
 * dnsmasq, a lease taken without an identifier is still found once the client sends one, and
 * the reverse, so a client that changes its mind about option 61 keeps its address.
 */

/** Declined addresses remembered per network: past this, the oldest are forgotten first. */
export const QUARANTINE_MAX = 256

export interface Lease {
  network: string
  /** The client's key: `id:<hex>` of its identifier, or its MAC when it sent none. */
  client: string
  mac: string
  ip: number
  /** ms since the epoch; Infinity for an infinite lease. */
  expiresAt: number
  bound: boolean
}

interface NetworkLeases {
  byClient: Map<string, Lease>
  byIp: Map<number, Lease>
  /** Leases keyed by an identifier, by MAC: found for the same MAC sending no identifier. */
  byMacWithId: Map<string, Lease>
  /** Declined addresses: ip → ms until which nothing hands them out. */
  quarantine: Map<number, number>
}

export class LeaseTable {
  private readonly nets = new Map<string, NetworkLeases>()

  private net(network: string): NetworkLeases {
    let n = this.nets.get(network)
    if (n === undefined) this.nets.set(network, (n = { byClient: new Map(), byIp: new Map(), byMacWithId: new Map(), quarantine: new Map() }))
    return n
  }

  byClient(network: string, client: string): Lease | undefined {
    return this.nets.get(network)?.byClient.get(client)
  }

  /** The lease of the client with this key and MAC: its own, else one its MAC took with the other identity. */
  find(network: string, client: string, mac: string): Lease | undefined {
    const n = this.nets.get(network)
    if (n === undefined) return undefined
    return n.byClient.get(client) ?? (client !== mac ? n.byClient.get(mac) : n.byMacWithId.get(mac))
  }

  byIp(network: string, ip: number): Lease | undefined {
    return this.nets.get(network)?.byIp.get(ip)
  }

  quarantinedUntil(network: string, ip: number): number | undefined {
    return this.nets.get(network)?.quarantine.get(ip)
  }

  /** Sets a client's lease, replacing its previous one and any other client's lease on the same address. */
  set(lease: Lease): void {
    const n = this.net(lease.network)
    const old = n.byClient.get(lease.client)
    if (old !== undefined) this.unlink(n, old)
    const holder = n.byIp.get(lease.ip)
    if (holder !== undefined && holder.client !== lease.client) this.unlink(n, holder)
    n.byClient.set(lease.client, lease)
    n.byIp.set(lease.ip, lease)
    if (lease.client !== lease.mac) n.byMacWithId.set(lease.mac, lease)
  }

  remove(network: string, client: string): Lease | undefined {
    const n = this.nets.get(network)
    const lease = n?.byClient.get(client)
    if (n === undefined || lease === undefined) return undefined
    this.unlink(n, lease)
    return lease
  }

  private unlink(n: NetworkLeases, lease: Lease): void {
    if (n.byClient.get(lease.client) === lease) n.byClient.delete(lease.client)
    if (n.byIp.get(lease.ip) === lease) n.byIp.delete(lease.ip)
    if (n.byMacWithId.get(lease.mac) === lease) n.byMacWithId.delete(lease.mac)
  }

  /** Holds an address back until `until`; a network remembers at most QUARANTINE_MAX, the oldest go first. */
  quarantine(network: string, ip: number, until: number): void {
    const q = this.net(network).quarantine
    q.delete(ip)
    if (q.size >= QUARANTINE_MAX) {
      const oldest = q.keys().next()
      if (oldest.done !== true) q.delete(oldest.value)
    }
    q.set(ip, until)
  }

  quarantineSize(network: string): number {
    return this.nets.get(network)?.quarantine.size ?? 0
  }

  /** Every lease, bound ones and live offers. */
  *leases(): IterableIterator<Lease> {
    for (const n of this.nets.values()) yield* n.byClient.values()
  }

  /** Drops expired leases and quarantines, and every network not in `keep`. Returns the leases dropped. */
  prune(now: number, keep: ReadonlySet<string>): Lease[] {
    const dropped: Lease[] = []
    for (const [id, n] of this.nets) {
      if (!keep.has(id)) {
        dropped.push(...n.byClient.values())
        this.nets.delete(id)
        continue
      }
      for (const lease of n.byClient.values()) {
        if (lease.expiresAt <= now) {
          this.remove(id, lease.client)
          if (lease.bound) dropped.push(lease)
        }
      }
      for (const [ip, until] of n.quarantine) if (until <= now) n.quarantine.delete(ip)
    }
    return dropped
  }

  get size(): number {
    let s = 0
    for (const n of this.nets.values()) s += n.byClient.size
    return s
  }
}
