import type { Answer } from 'dns-packet'
import type { RouterConfig } from '../../model/config.ts'
import { formatIpv4, parseCidr, parseIpv4, cidrContains, type Cidr } from '../../../core/ipv4.ts'

/**
 * The names a guest network's router answers with authority: its domain (VM hostnames from
 * dhcpHosts, the router's own names, SOA and NS at the apex) and the reverse names of its
 * addresses. Pure: compiled from the config, looked up per question.
 */

/** TTL of local answers: short, so a VM moved by the orchestrator is seen soon by caches. */
const LOCAL_TTL = 60
/** The router's names in every zone (CloudStack guests find the metadata server as data-server). */
const ROUTER_NAMES = ['data-server', 'router', 'ns'] as const

export interface Zone {
  networkId: string
  cidr: Cidr
  routerIp: string
  /** Lower-case domain without the trailing dot; undefined when the network has none. */
  domain: string | undefined
  /** Lower-case host label → addresses. */
  hosts: Map<string, { a: string[]; aaaa: string[] }>
  /** IPv4 address (dotted) → host names (FQDN when there is a domain). */
  reverse: Map<string, string[]>
  serial: number
}

export interface ZoneAnswer {
  rcode: 'NOERROR' | 'NXDOMAIN'
  answers: Answer[]
  authorities: Answer[]
}

function addHost(zone: Zone, label: string, a: string | undefined, aaaa: string | undefined): void {
  const key = label.toLowerCase()
  let entry = zone.hosts.get(key)
  if (entry === undefined) zone.hosts.set(key, (entry = { a: [], aaaa: [] }))
  if (a !== undefined && !entry.a.includes(a)) entry.a.push(a)
  if (aaaa !== undefined && !entry.aaaa.includes(aaaa)) entry.aaaa.push(aaaa)
  if (a !== undefined) {
    const fqdn = zone.domain === undefined ? key : `${key}.${zone.domain}`
    const names = zone.reverse.get(a) ?? []
    if (!names.includes(fqdn)) names.push(fqdn)
    zone.reverse.set(a, names)
  }
}

/** Pure. One zone per guest network that serves DNS. `serial` is the SOA serial (the config generation). */
export function compileZones(config: RouterConfig, serial: number): Zone[] {
  const zones: Zone[] = []
  for (const n of config.guestNetworks) {
    if (n.dns?.enabled === false) continue
    const cidr = parseCidr(n.cidr)
    if (cidr === undefined) continue
    const zone: Zone = {
      networkId: n.id, cidr, routerIp: n.routerIp, domain: n.domain?.toLowerCase().replace(/\.$/, ''),
      hosts: new Map(), reverse: new Map(), serial,
    }
    for (const name of ROUTER_NAMES) addHost(zone, name, n.routerIp, undefined)
    for (const h of config.dhcpHosts) {
      if (h.network === n.id && h.hostname !== undefined) addHost(zone, h.hostname, h.ip, h.ipv6)
    }
    zones.push(zone)
  }
  return zones
}

function soa(zone: Zone, apex: string): Answer {
  return {
    type: 'SOA', name: apex, ttl: LOCAL_TTL,
    data: {
      mname: zone.domain === undefined ? 'ns' : `ns.${zone.domain}`, rname: zone.domain === undefined ? 'hostmaster' : `hostmaster.${zone.domain}`,
      serial: zone.serial >>> 0, refresh: 3600, retry: 600, expire: 86400, minimum: LOCAL_TTL,
    },
  }
}

/** The reverse zone name of a network: whole octets of its prefix (10.1.1.0/24 → 1.1.10.in-addr.arpa). */
function reverseApex(cidr: Cidr): string {
  const octets = Math.floor(cidr.prefix / 8)
  const parts = formatIpv4(cidr.address).split('.').slice(0, octets).reverse()
  return [...parts, 'in-addr', 'arpa'].join('.')
}

function reverseAddress(name: string): string | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.in-addr\.arpa$/.exec(name)
  return m === null ? undefined : `${m[4]}.${m[3]}.${m[2]}.${m[1]}`
}

const TYPE_A = 1
const TYPE_NS = 2
const TYPE_SOA = 6
const TYPE_PTR = 12
const TYPE_AAAA = 28
const TYPE_ANY = 255

/**
 * Pure. The authoritative answer for `name` (lower case, no trailing dot) of type `qtype` in
 * this zone, or undefined when the name is not the zone's (it is forwarded then). Single-label
 * names are the zone's too: a guest's resolver may ask for a bare host name.
 */
export function answerFromZone(zone: Zone, name: string, qtype: number): ZoneAnswer | undefined {
  const domain = zone.domain
  const revApex = reverseApex(zone.cidr)
  let label: string | undefined
  let apex: string
  if (domain !== undefined && (name === domain || name.endsWith(`.${domain}`))) {
    apex = domain
    label = name === domain ? undefined : name.slice(0, -domain.length - 1)
  } else if (!name.includes('.') && name !== '') {
    apex = domain ?? name
    label = name
  } else if (name === revApex || name.endsWith(`.${revApex}`)) {
    const address = reverseAddress(name)
    const ip = address === undefined ? undefined : parseIpv4(address)
    if (name === revApex) return { rcode: 'NOERROR', answers: qtype === TYPE_SOA || qtype === TYPE_ANY ? [soa(zone, revApex)] : [], authorities: qtype === TYPE_SOA ? [] : [soa(zone, revApex)] }
    // Reverse names outside the network (a /20's whole-octet apex is wider) are not ours.
    if (ip !== undefined && !cidrContains(zone.cidr, ip)) return undefined
    const names = address === undefined ? undefined : zone.reverse.get(address)
    if (names === undefined) return { rcode: 'NXDOMAIN', answers: [], authorities: [soa(zone, revApex)] }
    const answers: Answer[] = qtype === TYPE_PTR || qtype === TYPE_ANY ? names.map((data) => ({ type: 'PTR', name, ttl: LOCAL_TTL, data })) : []
    return { rcode: 'NOERROR', answers, authorities: answers.length === 0 ? [soa(zone, revApex)] : [] }
  } else {
    return undefined
  }
  if (label === undefined) {
    // The apex: SOA and NS.
    const answers: Answer[] = []
    if (qtype === TYPE_SOA || qtype === TYPE_ANY) answers.push(soa(zone, apex))
    if (qtype === TYPE_NS || qtype === TYPE_ANY) answers.push({ type: 'NS', name: apex, ttl: LOCAL_TTL, data: `ns.${apex}` })
    return { rcode: 'NOERROR', answers, authorities: answers.length === 0 ? [soa(zone, apex)] : [] }
  }
  const host = label.includes('.') ? undefined : zone.hosts.get(label)
  if (host === undefined) return { rcode: 'NXDOMAIN', answers: [], authorities: [soa(zone, apex)] }
  const answers: Answer[] = []
  if (qtype === TYPE_A || qtype === TYPE_ANY) for (const data of host.a) answers.push({ type: 'A', name, ttl: LOCAL_TTL, data })
  if (qtype === TYPE_AAAA || qtype === TYPE_ANY) for (const data of host.aaaa) answers.push({ type: 'AAAA', name, ttl: LOCAL_TTL, data })
  return { rcode: 'NOERROR', answers, authorities: answers.length === 0 ? [soa(zone, apex)] : [] }
}
