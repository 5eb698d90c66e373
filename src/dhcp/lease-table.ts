/**
 * The leases the DHCP server knows, per network, by MAC and by address. In memory only; the
 * lease store (services/lease-store.ts) persists the changes. Offers are leases that are not
 * bound yet and hold their address for a short time.
 */

/** Declined addresses remembered per network: past this, the oldest are forgotten first. */
export const QUARANTINE_MAX = 256

export interface Lease {
  network: string
  mac: string
  ip: number
  /** ms since the epoch; Infinity for an infinite lease. */
  expiresAt: number
  bound: boolean
}

interface NetworkLeases {
  byMac: Map<string, Lease>
  byIp: Map<number, Lease>
  /** Declined addresses: ip → ms until which nothing hands them out. */
  quarantine: Map<number, number>
}

export class LeaseTable {
  private readonly nets = new Map<string, NetworkLeases>()

  private net(network: string): NetworkLeases {
    let n = this.nets.get(network)
    if (n === undefined) this.nets.set(network, (n = { byMac: new Map(), byIp: new Map(), quarantine: new Map() }))
    return n
  }

  byMac(network: string, mac: string): Lease | undefined {
    return this.nets.get(network)?.byMac.get(mac)
  }

  byIp(network: string, ip: number): Lease | undefined {
    return this.nets.get(network)?.byIp.get(ip)
  }

  quarantinedUntil(network: string, ip: number): number | undefined {
    return this.nets.get(network)?.quarantine.get(ip)
  }

  /** Sets a MAC's lease, replacing its previous one and any other MAC's lease on the same address. */
  set(lease: Lease): void {
    const n = this.net(lease.network)
    const old = n.byMac.get(lease.mac)
    if (old !== undefined && n.byIp.get(old.ip) === old) n.byIp.delete(old.ip)
    const holder = n.byIp.get(lease.ip)
    if (holder !== undefined && holder.mac !== lease.mac) n.byMac.delete(holder.mac)
    n.byMac.set(lease.mac, lease)
    n.byIp.set(lease.ip, lease)
  }

  remove(network: string, mac: string): Lease | undefined {
    const n = this.nets.get(network)
    const lease = n?.byMac.get(mac)
    if (n === undefined || lease === undefined) return undefined
    n.byMac.delete(mac)
    if (n.byIp.get(lease.ip) === lease) n.byIp.delete(lease.ip)
    return lease
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
    for (const n of this.nets.values()) yield* n.byMac.values()
  }

  /** Drops expired leases and quarantines, and every network not in `keep`. Returns the leases dropped. */
  prune(now: number, keep: ReadonlySet<string>): Lease[] {
    const dropped: Lease[] = []
    for (const [id, n] of this.nets) {
      if (!keep.has(id)) {
        dropped.push(...n.byMac.values())
        this.nets.delete(id)
        continue
      }
      for (const lease of n.byMac.values()) {
        if (lease.expiresAt <= now) {
          this.remove(id, lease.mac)
          if (lease.bound) dropped.push(lease)
        }
      }
      for (const [ip, until] of n.quarantine) if (until <= now) n.quarantine.delete(ip)
    }
    return dropped
  }

  get size(): number {
    let s = 0
    for (const n of this.nets.values()) s += n.byMac.size
    return s
  }
}
