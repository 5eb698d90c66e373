import { readFileSync } from 'node:fs'
import { COLLECTION_NAMES, completeConfig, type CollectionItem, type CollectionName, type RouterConfig } from '../../src/router/model/config.ts'
import type { HostFacts } from '../../src/router/model/facts.ts'
import { withItem } from '../../src/router/model/items.ts'
import { validateItem } from '../../src/router/model/parse.ts'
import type { CheckScope } from '../../src/router/model/check.ts'

/**
 * Random single-item edits of a config document, the way the engine makes them (replace an item
 * keeping its id, add one at the end, remove one), with values drawn mostly from the document
 * itself so that edits collide with other items: the same addresses, networks, ports, MACs.
 */

export type Random = () => number

/** A small seeded generator (mulberry32): the same seed gives the same edits. */
export function seeded(seed: number): Random {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const pick = <T>(random: Random, list: readonly T[]): T => list[Math.floor(random() * list.length)] as T
/** Half the time a sibling's value (when there is one), else any value of the pool. */
const near = <T>(random: Random, siblings: readonly T[], pool: readonly T[]): T => pick(random, siblings.length > 0 && random() < 0.5 ? siblings : pool)

/** The golden "full" scenario: a document with every collection and no diagnostics. */
export function fullFixture(): { config: RouterConfig; facts: HostFacts } {
  const at = (file: string) => JSON.parse(readFileSync(new URL(`../golden/full/${file}`, import.meta.url), 'utf8'))
  // A collection newer than the fixture is empty, as the API and the store take it.
  return { config: completeConfig(at('config.json')), facts: at('facts.json') }
}

/** The full fixture with a second guest network, DHCP hosts on both, relays, routes and static NATs: still no diagnostics. */
export function richFixture(): { config: RouterConfig; facts: HostFacts } {
  const { config, facts } = fullFixture()
  facts.links.push({ name: 'eth4', mac: '02:5e:00:00:00:05' }, { name: 'eth5', mac: '02:5e:00:00:00:06' })
  config.interfaces.push({ id: 'guest2', role: 'guest', name: 'eth4', addresses: ['10.2.0.250/24'] })
  // (The management link and its sites belong to another role: the checks take any document.)
  config.interfaces.push({ id: 'mgmt', role: 'management', name: 'eth5', addresses: ['100.77.0.5/24'], gateway: '100.77.0.1' })
  config.internalSites.push({ id: 'site1', cidr: '100.78.8.0/24' }, { id: 'site2', cidr: '100.77.0.20/32' })
  config.ports.push({ id: 'p1', device: 'vnet1', mac: '52:54:00:00:00:01', ipv4: ['10.0.0.1'], groups: ['sg1'] }, { id: 'p2', device: 'vnet2', mac: '52:54:00:00:00:02', ipv4: ['10.0.0.2'], groups: ['sg2'] })
  config.securityGroups.push({ id: 'sg1' }, { id: 'sg2' })
  config.securityGroupRules.push({ id: 'r1', group: 'sg1', direction: 'ingress', protocol: 'tcp', ports: { start: 22 }, remoteGroup: 'sg2' })
  config.guestNetworks.push({
    id: 'net2', interface: 'guest2', cidr: '10.2.0.0/24', routerIp: '10.2.0.1',
    dhcp: { range: { start: '10.2.0.100', end: '10.2.0.199' }, relays: ['10.2.0.5'], gateway: '10.2.0.1' },
  })
  config.staticNats.push({ id: 'sn2', publicIp: '198.51.100.11', privateIp: '10.2.0.11' })
  config.publicIps.push({ id: 'ip-static2', ip: '198.51.100.11', prefixLength: 24, interface: 'pub1' })
  config.portForwards.push(
    { id: 'pf-n2', publicIp: '198.51.100.10', protocol: 'udp', publicPorts: { start: 53 }, privateIp: '10.2.0.10', privatePorts: { start: 53 } },
    { id: 'pf-n2b', publicIp: '203.0.113.12', protocol: 'tcp', publicPorts: { start: 3000, end: 3999 }, privateIp: '10.2.0.10', privatePorts: { start: 3000, end: 3999 } },
  )
  config.staticRoutes.push({ id: 'rt2', cidr: '192.168.0.0/16', via: '10.2.0.254' }, { id: 'rt3', cidr: '100.64.0.0/10', via: '203.0.113.254' })
  config.egressRules.push({ id: 'eg-n2', network: 'net2', protocol: 'all' })
  config.defaultInterface = 'pub0'
  config.dhcpHosts.push(
    { id: 'vm2', network: 'net1', mac: '02:00:00:00:10:02', ip: '10.1.1.20', hostname: 'vm-two' },
    { id: 'vm3', network: 'net2', mac: '02:00:00:00:10:01', ip: '10.2.0.10', hostname: 'vm-one', staticRoutes: [{ destination: '172.20.0.0/16', gateway: '10.2.0.254' }] },
    { id: 'vm4', network: 'net2', mac: '02:00:00:00:10:04', ip: '10.2.0.11' },
  )
  config.vmData.push(
    { id: 'md2', network: 'net1', ip: '10.1.1.20', metadata: { 'instance-id': 'i-2', 'availability-zone': 'z', 'public-keys': ['ssh-ed25519 AAAA x'] } },
    { id: 'md3', network: 'net2', ip: '10.2.0.10', metadata: { 'instance-id': 'i-3', 'availability-zone': 'z', 'vm-id': 'v-3' } },
  )
  config.loadBalancers.push(
    { id: 'lb-n2', publicIp: '198.51.100.10', protocol: 'tcp', publicPorts: { start: 443 }, privatePorts: { start: 8443 }, backends: [{ ip: '10.2.0.10' }, { ip: '10.2.0.11', weight: 2 }] },
  )
  return { config, facts }
}

interface Pools {
  ips: string[]
  cidrs: string[]
  hostCidrs: string[]
  interfaceIds: string[]
  networkIds: string[]
  macs: string[]
  hostnames: string[]
  /** Values of one field across its collection: an edit drawing from them collides with a sibling. */
  siblings: { publicIps: string[]; privateIps: string[]; hostIps: string[] }
  ports: { start: number; end?: number }[]
}

function pools(config: RouterConfig, facts: HostFacts): Pools {
  const ips = new Set(['127.0.0.1', '10.1.1.0', '10.1.1.255', '10.1.1.77', '10.2.0.77', '203.0.113.0', '203.0.113.99', '192.0.2.1', '198.51.100.77', '224.0.0.9', '10.3.0.1'])
  const cidrs = new Set(['10.1.0.0/16', '10.1.1.0/25', '10.1.1.128/25', '10.2.0.0/24', '10.3.0.0/24', '172.16.0.0/12', '203.0.113.0/24',
    '203.0.113.0/28', '0.0.0.0/0', '127.0.0.0/8', '10.1.1.7/24', '192.168.0.0/16', '198.51.100.0/24', '10.2.0.0/23', '1.2.3.4/33'])
  const hostCidrs = new Set(['169.254.10.2/16', '10.1.1.1/24', '10.1.1.50/24', '10.2.0.250/24', '203.0.113.10/24', '192.0.2.9/24', '10.3.0.9/24'])
  const ip = (text: string | undefined) => { if (text !== undefined) ips.add(text) }
  for (const i of config.interfaces) {
    ip(i.gateway)
    for (const a of i.addresses ?? []) { hostCidrs.add(a); ip(a.split('/')[0]) }
  }
  for (const p of config.publicIps) { ip(p.ip); hostCidrs.add(`${p.ip}/${p.prefixLength}`) }
  for (const n of config.guestNetworks) { cidrs.add(n.cidr); ip(n.routerIp); for (const r of n.dhcp?.relays ?? []) ip(r) }
  for (const s of config.staticNats) { ip(s.publicIp); ip(s.privateIp) }
  for (const r of config.portForwards) { ip(r.publicIp); ip(r.privateIp) }
  for (const r of config.staticRoutes) { cidrs.add(r.cidr); ip(r.via) }
  for (const h of config.dhcpHosts) ip(h.ip)
  return {
    ips: [...ips], cidrs: [...cidrs], hostCidrs: [...hostCidrs],
    interfaceIds: [...config.interfaces.map((i) => i.id), 'nope'],
    networkIds: [...config.guestNetworks.map((n) => n.id), 'nope'],
    macs: [...facts.links.map((l) => l.mac), '02:5e:00:00:00:99', ...config.dhcpHosts.map((h) => h.mac), ...config.dhcpHosts.map((h) => h.mac.toUpperCase())],
    siblings: {
      publicIps: config.publicIps.map((x) => x.ip),
      privateIps: [...config.staticNats.map((x) => x.privateIp), ...config.portForwards.map((x) => x.privateIp)],
      hostIps: config.dhcpHosts.map((h) => h.ip),
    },
    hostnames: [...config.dhcpHosts.flatMap((h) => (h.hostname === undefined ? [] : [h.hostname, h.hostname.toUpperCase()])), 'fresh'],
    ports: [{ start: 22 }, { start: 80 }, { start: 2222 }, { start: 5000, end: 5010 }, { start: 5005 }, { start: 8000, end: 8010 }, { start: 8010 },
      { start: 20000, end: 20999 }, { start: 3500 }, { start: 1, end: 65535 }, { start: 90, end: 80 }, { start: 2999, end: 3000 }, { start: 53 }],
  }
}

type Mutator<C extends CollectionName> = (item: CollectionItem<C>, p: Pools, random: Random) => CollectionItem<C>

const MUTATORS: { [C in CollectionName]: Mutator<C>[] } = {
  interfaces: [
    (i, _, r) => ({ ...i, role: pick(r, ['control', 'public', 'guest', 'management', 'storage'] as const) }),
    (i, p, r) => { const { name: _n, ...rest } = i; return { ...rest, mac: pick(r, p.macs) } },
    (i, _, r) => { const { mac: _m, ...rest } = i; return { ...rest, name: pick(r, ['eth0', 'eth1', 'eth2', 'eth3', 'eth4', 'eth9']) } },
    (i, p, r) => ({ ...i, addresses: [pick(r, p.hostCidrs), ...(r() < 0.3 ? [pick(r, p.hostCidrs)] : [])] }),
    (i) => { const { addresses: _a, ...rest } = i; return rest },
    (i, p, r) => ({ ...i, gateway: pick(r, p.ips) }),
    (i) => { const { gateway: _g, ...rest } = i; return rest },
  ],
  publicIps: [
    (x, p, r) => ({ ...x, ip: pick(r, p.ips) }),
    (x, _, r) => ({ ...x, prefixLength: pick(r, [8, 16, 24, 28, 30, 31, 32]) }),
    (x, p, r) => ({ ...x, interface: pick(r, p.interfaceIds) }),
    (x, _, r) => ({ ...x, sourceNat: r() < 0.5 }),
  ],
  guestNetworks: [
    (n, p, r) => ({ ...n, interface: pick(r, p.interfaceIds) }),
    (n, p, r) => ({ ...n, cidr: pick(r, p.cidrs) }),
    (n, p, r) => ({ ...n, routerIp: pick(r, p.ips) }),
    (n, p, r) => ({ ...n, dhcp: { relays: [pick(r, p.ips), pick(r, p.ips)], range: { start: pick(r, p.ips), end: pick(r, p.ips) }, gateway: pick(r, p.ips) } }),
  ],
  staticNats: [
    (s, p, r) => ({ ...s, publicIp: near(r, p.siblings.publicIps, p.ips) }),
    (s, p, r) => ({ ...s, privateIp: near(r, p.siblings.privateIps, p.ips) }),
  ],
  portForwards: [
    (f, p, r) => ({ ...f, publicIp: near(r, p.siblings.publicIps, p.ips) }),
    (f, _, r) => ({ ...f, protocol: pick(r, ['tcp', 'udp'] as const) }),
    (f, p, r) => { const ports = pick(r, p.ports); return { ...f, publicPorts: ports, privatePorts: r() < 0.8 ? ports : pick(r, p.ports) } },
    (f, p, r) => ({ ...f, privateIp: pick(r, p.ips) }),
    (f, p, r) => ({ ...f, sourceCidrs: [pick(r, p.cidrs)] }),
  ],
  firewallRules: [
    (f, p, r) => ({ ...f, publicIp: pick(r, p.ips) }),
    (f, _, r) => ({ ...f, protocol: pick(r, ['tcp', 'udp', 'icmp', 'all'] as const) }),
    (f, p, r) => ({ ...f, ports: pick(r, p.ports) }),
    (f, _, r) => {
      const { icmpType: _t, icmpCode: _c, ...rest } = f
      return { ...rest, ...(r() < 0.7 ? { icmpType: 8 } : {}), ...(r() < 0.5 ? { icmpCode: 0 } : {}) }
    },
    (f, p, r) => ({ ...f, sourceCidrs: [pick(r, p.cidrs)] }),
  ],
  egressRules: [
    (e, p, r) => ({ ...e, network: pick(r, p.networkIds) }),
    (e, _, r) => ({ ...e, protocol: pick(r, ['tcp', 'udp', 'icmp', 'all'] as const) }),
    (e, p, r) => ({ ...e, ports: pick(r, p.ports) }),
    (e, p, r) => ({ ...e, destinationCidrs: [pick(r, p.cidrs)] }),
  ],
  staticRoutes: [
    (x, p, r) => ({ ...x, cidr: pick(r, p.cidrs) }),
    (x, p, r) => ({ ...x, via: pick(r, p.ips) }),
  ],
  dhcpHosts: [
    (h, p, r) => ({ ...h, network: pick(r, p.networkIds) }),
    (h, p, r) => ({ ...h, mac: pick(r, p.macs) }),
    (h, p, r) => ({ ...h, ip: near(r, p.siblings.hostIps, p.ips) }),
    (h, p, r) => ({ ...h, hostname: pick(r, p.hostnames) }),
    (h, p, r) => ({ ...h, staticRoutes: [{ destination: pick(r, p.cidrs), gateway: pick(r, p.ips) }] }),
  ],
  vmData: [
    (v, p, r) => ({ ...v, network: pick(r, p.networkIds) }),
    (v, p, r) => ({ ...v, ip: near(r, p.siblings.hostIps, p.ips) }),
    (v, _, r) => ({ ...v, metadata: r() < 0.5 ? { 'instance-id': 'i-1', 'availability-zone': 'z', 'public-keys': ['ssh-ed25519 AAAA a', 'ssh-ed25519 AAAA b'] } : { 'vm-id': ['a', 'b'] } }),
  ],
  loadBalancers: [
    (l, p, r) => ({ ...l, publicIp: near(r, p.siblings.publicIps, p.ips) }),
    (l, _, r) => ({ ...l, protocol: pick(r, ['tcp', 'udp'] as const) }),
    (l, p, r) => { const ports = pick(r, p.ports); return { ...l, publicPorts: ports, privatePorts: r() < 0.8 ? ports : pick(r, p.ports) } },
    (l, p, r) => ({ ...l, backends: [{ ip: near(r, p.siblings.hostIps, p.ips) }, ...(r() < 0.5 ? [{ ip: pick(r, p.ips), weight: 0 }] : [])] }),
    (l, _, r) => ({ ...l, mode: pick(r, ['l4', 'http', 'tls'] as const) }),
    (l, _, r) => ({ ...l, sourceNat: r() < 0.5 }),
    (l, _, r) => ({ ...l, healthCheck: { type: pick(r, ['tcp', 'http'] as const), ...(r() < 0.5 ? { port: 8080 } : {}) } }),
  ],
  internalSites: [
    (x, p, r) => ({ ...x, cidr: pick(r, p.cidrs) }),
  ],
  ports: [
    (x, _, r) => ({ ...x, device: pick(r, ['vnet1', 'vnet2', 'vnet3']) }),
    (x, _, r) => ({ ...x, groups: [pick(r, ['sg1', 'sg2', 'nope'])] }),
    (x, _, r) => ({ ...x, ...(r() < 0.8 ? { bridge: pick(r, ['br1', 'br2']) } : {}), ...(r() < 0.8 ? { zone: pick(r, [1, 2]) } : {}) }),
  ],
  // A group is its id alone: its edits are additions and removals (ids are never mutated: the
  // edit would not validate, and randomEdit would draw forever).
  securityGroups: [
    (x) => x,
  ],
  securityGroupRules: [
    (x, _, r) => ({ ...x, group: pick(r, ['sg1', 'sg2', 'nope']) }),
    (x, _, r) => ({ ...x, protocol: pick(r, ['tcp', 'icmp', 'all'] as const), ...(r() < 0.5 ? { ports: { start: 22 } } : {}) }),
    (x, _, r) => (r() < 0.5 ? { ...x, remoteGroup: pick(r, ['sg1', 'gone']) } : { ...x, cidrs: [pick(r, ['10.0.0.0/8', '2001:db8::/32', '10.0.0.1/8'])] }),
  ],
}

/** A fresh item for a collection that has none to copy. */
const SEEDS: { [C in CollectionName]: CollectionItem<C> } = {
  interfaces: { id: 'x', role: 'public', name: 'eth9' },
  publicIps: { id: 'x', ip: '203.0.113.99', prefixLength: 24, interface: 'pub0' },
  guestNetworks: { id: 'x', interface: 'guest1', cidr: '10.3.0.0/24', routerIp: '10.3.0.1' },
  staticNats: { id: 'x', publicIp: '203.0.113.12', privateIp: '10.1.1.77' },
  portForwards: { id: 'x', publicIp: '203.0.113.12', protocol: 'tcp', publicPorts: { start: 2222 }, privateIp: '10.1.1.10', privatePorts: { start: 22 } },
  firewallRules: { id: 'x', publicIp: '203.0.113.10', protocol: 'all' },
  egressRules: { id: 'x', network: 'net1', protocol: 'all' },
  staticRoutes: { id: 'x', cidr: '10.3.0.0/24', via: '10.1.1.254' },
  dhcpHosts: { id: 'x', network: 'net1', mac: '02:00:00:00:10:09', ip: '10.1.1.99' },
  vmData: { id: 'x', network: 'net1', ip: '10.1.1.10', metadata: { 'instance-id': 'i-x', 'availability-zone': 'z' } },
  loadBalancers: { id: 'x', publicIp: '203.0.113.10', protocol: 'tcp', publicPorts: { start: 8080 }, privatePorts: { start: 80 }, backends: [{ ip: '10.1.1.10' }, { ip: '10.1.1.11', weight: 2 }] },
  internalSites: { id: 'x', cidr: '10.3.0.0/24' },
  ports: { id: 'x', device: 'vnet1', mac: '52:54:00:00:00:01', ipv4: ['10.0.0.1'], groups: ['sg1'] },
  securityGroups: { id: 'sg1' },
  securityGroupRules: { id: 'x', group: 'sg1', direction: 'ingress', protocol: 'tcp', ports: { start: 80 } },
}

export interface RandomEdit {
  collection: CollectionName
  id: string
  /** The new version, or null for a removal. */
  item: CollectionItem<CollectionName> | null
  next: RouterConfig
  scope: CheckScope
}

let counter = 0

/**
 * One random edit of `config` (of `only` when given) that passes schema validation, as the
 * engine requires before the semantic check.
 */
export function randomEdit(config: RouterConfig, facts: HostFacts, random: Random, only?: CollectionName): RandomEdit {
  const p = pools(config, facts)
  // A collection whose mutators never give a valid item must fail its test, not hang the run.
  for (let attempt = 0; attempt < 10_000; attempt++) {
    const collection = only ?? pick(random, COLLECTION_NAMES)
    const items = config[collection] as CollectionItem<CollectionName>[]
    const roll = random()
    const existing = items.length > 0 && roll < 0.8 ? pick(random, items) : undefined
    if (existing !== undefined && roll < 0.12) {
      const index = items.indexOf(existing)
      const next = withItem(config, collection, existing.id, null)
      return { collection, id: existing.id, item: null, next, scope: { collection, index, previous: existing, removed: true } }
    }
    const base = existing ?? (items.length > 0 ? pick(random, items) : SEEDS[collection])
    const id = existing?.id ?? `new-${++counter}`
    let item = { ...structuredClone(base), id } as CollectionItem<CollectionName>
    const mutators = MUTATORS[collection] as Mutator<CollectionName>[]
    const times = 1 + Math.floor(random() * 3)
    for (let k = 0; k < times; k++) item = pick(random, mutators)(item, p, random)
    const index = existing === undefined ? items.length : items.indexOf(existing)
    if (validateItem(collection, item, `/${collection}/${index}`, id).length > 0) continue
    const next = withItem(config, collection, id, item)
    return { collection, id, item, next, scope: { collection, index, previous: existing } }
  }
  throw new Error(`randomEdit: no valid ${only ?? 'random'} edit in 10,000 attempts (see MUTATORS and SEEDS)`)
}
