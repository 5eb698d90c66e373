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

/** What the address pool of a network is built from (a DhcpScope has these; kept structural to avoid an import cycle). */
export interface PoolScope {
  networkId: string
  range: { start: number; end: number } | undefined
  /** Addresses in the range never handed out (the router's, static hosts'). */
  reserved: ReadonlySet<number>
}

/**
 * Which addresses of a network's dynamic range are taken (reserved, held by a lease or an offer,
 * or quarantined): one byte per address, a count of free ones and a next-fit cursor. Filling a
 * range costs O(size) in all; a full range answers "nothing free" in O(1).
 */
interface Pool {
  start: number
  end: number
  reserved: ReadonlySet<number>
  used: Uint8Array
  free: number
  cursor: number
}

interface NetworkLeases {
  byClient: Map<string, Lease>
  byIp: Map<number, Lease>
  /** Leases keyed by an identifier, by MAC: found for the same MAC sending no identifier. */
  byMacWithId: Map<string, Lease>
  /** Declined addresses: ip → ms until which nothing hands them out. */
  quarantine: Map<number, number>
  /** Unbound leases by client, oldest first. */
  offers: Map<string, Lease>
  pool: Pool | undefined
}

export class LeaseTable {
  private readonly nets = new Map<string, NetworkLeases>()
  /** Pool slots looked at while searching for a free address (the work allocation costs; for tests). */
  probes = 0

  private net(network: string): NetworkLeases {
    let n = this.nets.get(network)
    if (n === undefined) this.nets.set(network, (n = { byClient: new Map(), byIp: new Map(), byMacWithId: new Map(), quarantine: new Map(), offers: new Map(), pool: undefined }))
    return n
  }

  byClient(network: string, client: string): Lease | undefined {
    return this.nets.get(network)?.byClient.get(client)
  }

  /** The lease of the client with this key and MAC: its own, else one its MAC took with the other identity. */
  find(network: string, client: string, mac: string): Lease | undefined {
    const n = this.nets.get(network)
    if (n === undefined) return undefined
    const own = n.byClient.get(client)
    if (own !== undefined) return own
    if (client === mac) return n.byMacWithId.get(mac)
    const hardware = hardwareIdMac(client)
    return n.byClient.get(mac) ?? (hardware === undefined ? undefined : n.byClient.get(hardware))
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
    // The address stays taken when it passes from one lease to the next.
    if (old !== undefined) this.unlink(n, old, old.ip !== lease.ip)
    const holder = n.byIp.get(lease.ip)
    if (holder !== undefined && holder.client !== lease.client) this.unlink(n, holder, false)
    n.byClient.set(lease.client, lease)
    n.byIp.set(lease.ip, lease)
    if (lease.client !== lease.mac) n.byMacWithId.set(lease.mac, lease)
    if (!lease.bound) n.offers.set(lease.client, lease)
    const pool = n.pool
    // Next fit: the search goes on after the address just handed out.
    if (pool !== undefined && take(pool, lease.ip)) pool.cursor = lease.ip - pool.start + 1 === pool.used.length ? 0 : lease.ip - pool.start + 1
  }

  /** Drops the offers that expired by `now`, oldest first (they hold addresses and count against the cap). */
  dropExpiredOffers(network: string, now: number): void {
    const n = this.nets.get(network)
    if (n === undefined) return
    for (const offer of n.offers.values()) {
      if (offer.expiresAt > now) return
      this.unlink(n, offer)
    }
  }

  /** Offers outstanding in a network, and the oldest of them. */
  offerCount(network: string): number {
    return this.nets.get(network)?.offers.size ?? 0
  }

  oldestOffer(network: string): Lease | undefined {
    const first = this.nets.get(network)?.offers.values().next()
    return first === undefined || first.done === true ? undefined : first.value
  }

  /**
   * A free address of the scope's range (not reserved, held or quarantined), the next one after
   * the last taken; undefined when none. Builds the network's pool on first use and after a
   * config change (a derived index, not state of its own).
   */
  nextFree(scope: PoolScope): number | undefined {
    const pool = this.poolFor(scope)
    if (pool === undefined || pool.free === 0) return undefined
    const size = pool.used.length
    for (let k = 0, i = pool.cursor; k < size; k++, i = i + 1 === size ? 0 : i + 1) {
      this.probes++
      if (pool.used[i] === 0) return pool.start + i
    }
    return undefined
  }

  private poolFor(scope: PoolScope): Pool | undefined {
    const range = scope.range
    if (range === undefined) return undefined
    const n = this.net(scope.networkId)
    const old = n.pool
    if (old !== undefined && old.start === range.start && old.end === range.end && old.reserved === scope.reserved) return old
    const pool: Pool = { start: range.start, end: range.end, reserved: scope.reserved, used: new Uint8Array(range.end - range.start + 1), free: range.end - range.start + 1, cursor: 0 }
    for (const ip of scope.reserved) take(pool, ip)
    for (const ip of n.byIp.keys()) take(pool, ip)
    for (const ip of n.quarantine.keys()) take(pool, ip)
    // A new config keeps the allocation going where it was.
    if (old !== undefined && old.start === pool.start && old.cursor < pool.used.length) pool.cursor = old.cursor
    n.pool = pool
    return pool
  }

  /** Frees an address in the pool unless something else still holds it. */
  private release(n: NetworkLeases, ip: number): void {
    const pool = n.pool
    if (pool === undefined || ip < pool.start || ip > pool.end) return
    if (pool.reserved.has(ip) || n.byIp.has(ip) || n.quarantine.has(ip)) return
    const i = ip - pool.start
    if (pool.used[i] === 1) {
      pool.used[i] = 0
      pool.free++
    }
  }

  remove(network: string, client: string): Lease | undefined {
    const n = this.nets.get(network)
    const lease = n?.byClient.get(client)
    if (n === undefined || lease === undefined) return undefined
    this.unlink(n, lease)
    return lease
  }

  private unlink(n: NetworkLeases, lease: Lease, free = true): void {
    if (n.byClient.get(lease.client) === lease) n.byClient.delete(lease.client)
    if (n.byIp.get(lease.ip) === lease) n.byIp.delete(lease.ip)
    if (n.byMacWithId.get(lease.mac) === lease) n.byMacWithId.delete(lease.mac)
    if (n.offers.get(lease.client) === lease) n.offers.delete(lease.client)
    if (free) this.release(n, lease.ip)
  }

  /** Holds an address back until `until`; a network remembers at most QUARANTINE_MAX, the oldest go first. */
  quarantine(network: string, ip: number, until: number): void {
    const n = this.net(network)
    const q = n.quarantine
    q.delete(ip)
    if (q.size >= QUARANTINE_MAX) {
      const oldest = q.keys().next()
      if (oldest.done !== true) {
        q.delete(oldest.value)
        this.release(n, oldest.value)
      }
    }
    q.set(ip, until)
    take(n.pool, ip)
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
      for (const [ip, until] of n.quarantine) {
        if (until > now) continue
        n.quarantine.delete(ip)
        this.release(n, ip)
      }
    }
    return dropped
  }

  get size(): number {
    let s = 0
    for (const n of this.nets.values()) s += n.byClient.size
    return s
  }
}

/** Marks an address taken in a pool; true when it was free. */
function take(pool: Pool | undefined, ip: number): boolean {
  if (pool === undefined || ip < pool.start || ip > pool.end) return false
  const i = ip - pool.start
  if (pool.used[i] === 1) return false
  pool.used[i] = 1
  pool.free--
  return true
}

/**
 * The MAC a hardware-type identifier (`id:01` and six bytes) names: a lease taken under it is
 * keyed by that MAC (dhcp/machine.ts clientKey), where a moved NIC sending the same identifier
 * finds it.
 */
function hardwareIdMac(client: string): string | undefined {
  if (client.length !== 17 || !client.startsWith('id:01')) return undefined
  const hex = client.slice(5)
  return `${hex.slice(0, 2)}:${hex.slice(2, 4)}:${hex.slice(4, 6)}:${hex.slice(6, 8)}:${hex.slice(8, 10)}:${hex.slice(10, 12)}`
}

/** A change the state machine (machine.ts) decides and the table applies (and the lease journal keeps). */
export type LeaseChange =
  /** at: when it was made (expired offers are dropped then). */
  | { kind: 'offer'; lease: Lease; at: number }
  /** durable: the binding is new (the address was not this MAC's): persist before answering. */
  | { kind: 'bind'; lease: Lease; durable: boolean }
  | { kind: 'release'; network: string; client: string }
  | { kind: 'decline'; network: string; client: string; ip: number; until: number }

/** Applies a decided change to the table (shared by the server and the lease journal's replay). */
export function applyLeaseChange(table: LeaseTable, change: LeaseChange): void {
  switch (change.kind) {
    case 'offer':
      table.dropExpiredOffers(change.lease.network, change.at)
      table.set(change.lease)
      return
    case 'bind':
      table.set(change.lease)
      return
    case 'release':
      table.remove(change.network, change.client)
      return
    case 'decline':
      table.remove(change.network, change.client)
      table.quarantine(change.network, change.ip, change.until)
  }
}
