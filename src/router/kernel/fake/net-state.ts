import { cidrContains, formatIpv4, maskOf, parseCidr, type Cidr } from '../../../core/ipv4.ts'

/**
 * Links, IPv4 addresses, routes and policy rules in memory, with the kernel's refusals and
 * side effects as recorded in a namespace (iproute2 6.1, Linux 6.x):
 * - an address is secondary when a primary of the same subnet is on the link; deleting a
 *   primary deletes its secondaries (promote_secondaries is 0 by default), and deleting the
 *   last address of a link deletes every route through it;
 * - connected routes (proto kernel) exist for the primary addresses of links that are up;
 * - a gateway must be reachable through a connected (link-scope) route, on the route's device
 *   if one is named, else "Nexthop has invalid gateway"; a device route needs the link up;
 * - taking a link down deletes every route through it, in every table (they do not return
 *   when it comes back up; connected routes do);
 * - routes are keyed by table and destination; rules are compared on every attribute when
 *   added (a duplicate is EEXIST) and on the given ones when deleted.
 * IPv6 is limited to the link-local address an up link shows.
 */

export interface FakeLinkSpec {
  name: string
  /** Lower-case MAC (ether links). */
  mac?: string
  type?: 'ether' | 'loopback'
  mtu?: number
  up?: boolean
  ifindex?: number
}

export interface Link { ifindex: number; name: string; mac: string; type: 'ether' | 'loopback'; mtu: number; up: boolean }
export interface Addr { dev: string; address: number; prefix: number; scope: string; secondary: boolean }
export interface Route { table: number; dst: Cidr; gateway: number | undefined; dev: string; protocol: number; scope: 'universe' | 'link' | 'host'; type: 'unicast' | 'local' | 'broadcast'; prefsrc?: number }
export interface Rule { priority: number; src: Cidr | undefined; fwmark: number | undefined; fwmask: number | undefined; table: number; suppress: number | undefined; protocol: number }

/** A refusal: the message the tool prints, and whether iproute2 itself (exit 1) or the kernel (exit 2) refused. */
export class NetError extends Error {
  constructor(message: string, readonly origin: 'tool' | 'kernel') {
    super(message)
  }
}

export const RT_TABLES: Readonly<Record<string, number>> = { default: 253, main: 254, local: 255 }
const PROTO_KERNEL = 2

/** Pure. A routing table's name as ip prints it (`main`, `local`, `default`, else the number). */
export function tableName(id: number): string {
  return Object.entries(RT_TABLES).find(([, v]) => v === id)?.[0] ?? String(id)
}

/** A refusal by the kernel (ip exits 2 outside a batch). */
export const kernelError = (message: string) => new NetError(message, 'kernel')

export class NetState {
  readonly links: Link[] = []
  readonly addresses: Addr[] = []
  /** Routes added through ip (connected ones are derived: see connectedRoutes()). */
  readonly routes: Route[] = []
  readonly rules: Rule[] = [
    { priority: 0, src: undefined, fwmark: undefined, fwmask: undefined, table: 255, suppress: undefined, protocol: PROTO_KERNEL },
    { priority: 32766, src: undefined, fwmark: undefined, fwmask: undefined, table: 254, suppress: undefined, protocol: PROTO_KERNEL },
    { priority: 32767, src: undefined, fwmark: undefined, fwmask: undefined, table: 253, suppress: undefined, protocol: PROTO_KERNEL },
  ]
  constructor(private readonly promoteSecondaries: () => boolean) {}

  addLink(spec: FakeLinkSpec): Link {
    if (this.links.some((l) => l.name === spec.name)) throw kernelError('RTNETLINK answers: File exists')
    const type = spec.type ?? 'ether'
    const link: Link = {
      ifindex: spec.ifindex ?? Math.max(0, ...this.links.map((l) => l.ifindex)) + 1,
      name: spec.name, type,
      mac: (spec.mac ?? (type === 'loopback' ? '00:00:00:00:00:00' : macFor(spec.name))).toLowerCase(),
      mtu: spec.mtu ?? (type === 'loopback' ? 65536 : 1500),
      up: spec.up ?? type === 'loopback',
    }
    this.links.push(link)
    this.links.sort((a, b) => a.ifindex - b.ifindex)
    if (type === 'loopback') this.addresses.push({ dev: link.name, address: 0x7f000001, prefix: 8, scope: 'host', secondary: false })
    return link
  }

  link(name: string): Link {
    const link = this.links.find((l) => l.name === name)
    if (link === undefined) throw new NetError(`Cannot find device "${name}"`, 'tool')
    return link
  }

  setLink(name: string, change: { mtu?: number; up?: boolean }): void {
    const link = this.link(name)
    if (change.mtu !== undefined) {
      if (change.mtu < 68) throw kernelError('Error: mtu less than device minimum.')
      if (change.mtu > 65535 && link.type === 'ether') throw kernelError('Error: mtu greater than device maximum.')
      link.mtu = change.mtu
    }
    if (change.up === false && link.up) {
      // The kernel flushes every route through a link that goes down (fib_sync_down_dev).
      for (let i = this.routes.length - 1; i >= 0; i--) if (this.routes[i]?.dev === name) this.routes.splice(i, 1)
    }
    if (change.up !== undefined) link.up = change.up
  }

  addAddress(dev: string, cidr: Cidr, scope: string): void {
    this.link(dev)
    if (this.addresses.some((a) => a.dev === dev && a.address === cidr.address && a.prefix === cidr.prefix)) {
      throw kernelError('Error: ipv4: Address already assigned.')
    }
    const secondary = this.addresses.some((a) => a.dev === dev && !a.secondary && a.prefix === cidr.prefix && cidrContains(a, cidr.address))
    const addr: Addr = { dev, address: cidr.address, prefix: cidr.prefix, scope, secondary }
    if (secondary) {
      this.addresses.push(addr)
    } else {
      // A primary goes after the link's last primary (__inet_insert_ifa).
      let at = -1
      this.addresses.forEach((a, i) => { if (a.dev === dev && !a.secondary) at = i })
      const lastOfLink = this.addresses.reduce((last, a, i) => (a.dev === dev ? i : last), -1)
      this.addresses.splice(at === -1 ? lastOfLink + 1 : at + 1, 0, addr)
    }
  }

  delAddress(dev: string, cidr: Cidr, prefixGiven: boolean): void {
    this.link(dev)
    const at = this.addresses.findIndex((a) => a.dev === dev && a.address === cidr.address && (!prefixGiven || a.prefix === cidr.prefix))
    if (at === -1) throw kernelError('Error: ipv4: Address not found.')
    const [gone] = this.addresses.splice(at, 1) as [Addr]
    if (!gone.secondary) {
      const sameSubnet = (a: Addr) => a.dev === dev && a.secondary && a.prefix === gone.prefix && cidrContains(gone, a.address)
      if (this.promoteSecondaries()) {
        const next = this.addresses.find(sameSubnet)
        if (next !== undefined) next.secondary = false
      } else {
        for (let i = this.addresses.length - 1; i >= 0; i--) if (sameSubnet(this.addresses[i] as Addr)) this.addresses.splice(i, 1)
      }
    }
    // The last IPv4 address of a link gone, the kernel flushes every route through it (fib_disable_ip).
    if (!this.addresses.some((a) => a.dev === dev)) {
      for (let i = this.routes.length - 1; i >= 0; i--) if (this.routes[i]?.dev === dev) this.routes.splice(i, 1)
    }
  }

  /** Connected and local routes the kernel derives from the addresses of links that are up. */
  connectedRoutes(): Route[] {
    const out: Route[] = []
    for (const a of this.addresses) {
      const link = this.links.find((l) => l.name === a.dev)
      if (link === undefined || !link.up) continue
      const network = (a.address & maskOf(a.prefix)) >>> 0
      out.push({ table: 255, dst: { address: a.address, prefix: 32 }, gateway: undefined, dev: a.dev, protocol: PROTO_KERNEL, scope: 'host', type: 'local', prefsrc: a.address })
      if (a.secondary) continue
      if (a.prefix < 32) {
        const scope = link.type === 'loopback' ? 'host' : 'link'
        const type = link.type === 'loopback' ? 'local' : 'unicast'
        out.push({ table: link.type === 'loopback' ? 255 : 254, dst: { address: network, prefix: a.prefix }, gateway: undefined, dev: a.dev, protocol: PROTO_KERNEL, scope, type, prefsrc: a.address })
      }
      if (a.prefix < 31) {
        const broadcast = (network | (~maskOf(a.prefix) >>> 0)) >>> 0
        out.push({ table: 255, dst: { address: broadcast, prefix: 32 }, gateway: undefined, dev: a.dev, protocol: PROTO_KERNEL, scope: 'link', type: 'broadcast', prefsrc: a.address })
      }
    }
    return out
  }

  /** The device a gateway is reached by (fib_check_nh_v4_gw: a link- or host-scope route, in `table` first). */
  private gatewayDev(gateway: number, table: number, dev: string | undefined): string {
    const linkScoped = [...this.connectedRoutes(), ...this.routes.filter((r) => r.scope === 'link')]
      .filter((r) => (dev === undefined || r.dev === dev) && cidrContains(r.dst, gateway))
    const best = (list: Route[]) => list.sort((a, b) => b.dst.prefix - a.dst.prefix)[0]
    const found = best(linkScoped.filter((r) => r.table === table)) ?? best(linkScoped.filter((r) => r.table === 254 || r.table === 255))
    if (found === undefined) throw kernelError('Error: Nexthop has invalid gateway.')
    return found.dev
  }

  /** `route replace|add`. */
  putRoute(spec: { table: number; dst: Cidr; gateway: number | undefined; dev: string | undefined; protocol: number }, replace: boolean): void {
    if ((spec.dst.address & ~maskOf(spec.dst.prefix)) !== 0) throw kernelError('Error: Invalid prefix for given prefix length.')
    if (spec.dev !== undefined) this.link(spec.dev)
    let dev: string
    if (spec.gateway !== undefined) {
      dev = this.gatewayDev(spec.gateway, spec.table, spec.dev)
    } else {
      if (spec.dev === undefined) throw new NetError('Error: Device for nexthop is not up.', 'kernel')
      if (!this.link(spec.dev).up) throw kernelError('Error: Device for nexthop is not up.')
      dev = spec.dev
    }
    const route: Route = { table: spec.table, dst: spec.dst, gateway: spec.gateway, dev, protocol: spec.protocol, scope: spec.gateway === undefined ? 'link' : 'universe', type: 'unicast' }
    const at = this.routes.findIndex((r) => r.table === spec.table && r.dst.address === spec.dst.address && r.dst.prefix === spec.dst.prefix)
    if (at !== -1 && !replace) throw kernelError('RTNETLINK answers: File exists')
    if (at === -1) this.routes.push(route)
    else this.routes[at] = route
  }

  /** `route del`: the first route of the table and destination matching every attribute given. */
  delRoute(spec: { table: number; dst: Cidr; gateway: number | undefined; dev: string | undefined; protocol: number | undefined }): void {
    if (spec.dev !== undefined) this.link(spec.dev)
    const at = this.routes.findIndex((r) => r.table === spec.table && r.dst.address === spec.dst.address && r.dst.prefix === spec.dst.prefix
      && (spec.gateway === undefined || r.gateway === spec.gateway) && (spec.dev === undefined || r.dev === spec.dev)
      && (spec.protocol === undefined || r.protocol === spec.protocol))
    if (at === -1) throw kernelError('RTNETLINK answers: No such process')
    this.routes.splice(at, 1)
  }

  addRule(rule: Rule): void {
    if (this.rules.some((r) => sameRule(r, rule))) throw kernelError('RTNETLINK answers: File exists')
    // After the rules of the same priority (the kernel appends to them).
    const at = this.rules.findIndex((r) => r.priority > rule.priority)
    this.rules.splice(at === -1 ? this.rules.length : at, 0, rule)
  }

  /** `rule del`: the first rule matching every attribute given (undefined = any). */
  delRule(match: { priority?: number; src?: Cidr; fwmark?: number; fwmask?: number; table?: number; suppress?: number; protocol?: number }): void {
    const at = this.rules.findIndex((r) => (match.priority === undefined || r.priority === match.priority)
      && (match.src === undefined || (r.src !== undefined && r.src.address === match.src.address && r.src.prefix === match.src.prefix))
      && (match.fwmark === undefined || r.fwmark === match.fwmark) && (match.fwmask === undefined || r.fwmask === match.fwmask)
      && (match.table === undefined || r.table === match.table) && (match.suppress === undefined || r.suppress === match.suppress)
      && (match.protocol === undefined || r.protocol === match.protocol))
    if (at === -1) throw kernelError('RTNETLINK answers: No such file or directory')
    this.rules.splice(at, 1)
  }
}

function sameRule(a: Rule, b: Rule): boolean {
  return a.priority === b.priority && a.table === b.table && a.fwmark === b.fwmark && a.fwmask === b.fwmask
    && a.suppress === b.suppress && a.protocol === b.protocol
    && a.src?.address === b.src?.address && a.src?.prefix === b.src?.prefix
}

/** A locally administered MAC derived from a link name, for links a test gives without one. */
function macFor(name: string): string {
  let h = 0x811c9dc5
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193) >>> 0
  return ['02', '00', ...[24, 16, 8, 0].map((s) => ((h >>> s) & 255).toString(16).padStart(2, '0'))].join(':')
}

/** Pure. `a.b.c.d[/n]` or `default`/`all` (0.0.0.0/0), or undefined. */
export function parsePrefix(text: string): Cidr | undefined {
  if (text === 'default' || text === 'all') return { address: 0, prefix: 0 }
  return parseCidr(text)
}

/** Pure. A destination as ip prints it: `default`, a bare address for /32, else `a.b.c.d/n`. */
export function formatPrefix(c: Cidr): string {
  if (c.prefix === 0 && c.address === 0) return 'default'
  return c.prefix === 32 ? formatIpv4(c.address) : `${formatIpv4(c.address)}/${c.prefix}`
}
