import { memoize } from '../../core/memo.ts'
import type { IpSetSpec } from '../render/ipset.ts'
import { ownedChain, ownedSet, ruleTag } from '../render/names.ts'
import { ruleArgs } from '../render/rule-line.ts'
import { formatIpv6, linkLocalOf, parseIpv6, parsePeerCidr } from './addresses.ts'
import { DROP_REASONS, dropCounter, nfacctCreateLine, type SgCounter } from './counters.ts'
import { dispatchTree, type DispatchMatch } from './dispatch.ts'
import type { SecGroupDocument, SecurityGroupRule, SgPort } from './model.ts'

/**
 * Pure. The kernel objects of a checked security-group document (check.ts): chains with their
 * rules, sets with their members, the jumps into them. Same document, same rendering. Everything
 * is in chains and sets of our own, for `--noflush` restores of the chains that changed (plan.ts):
 * a host is not our VM, and nothing else on it is touched. What a port's chains hold depends on
 * that port and its groups' rules only, and each rule's matches are rendered once per rule object
 * (items are replaced, never changed): an edit re-renders what it touches, and the planner writes
 * only the chains whose rules differ.
 *
 *   FORWARD (pos. 1) → SVM-SG-FWD (bridged traffic of our ports, IPv4 and IPv6 alike):
 *      → SVM-SG-FROM (tree on --physdev-in, dispatch.ts) → SVM-SGF-<port>: → SVM-SGO-<port>,
 *           established ACCEPT, goto SVM-SG-TOA
 *           SVM-SG-TOA (tree on --physdev-out) → SVM-SGT-<port>; else ACCEPT
 *      → SVM-SG-TO   (tree on --physdev-out)               → SVM-SGT-<port>: → SVM-SGI-<port>, ACCEPT
 *   SVM-SGI-<port>  to the VM: established, (v6: ND/MLD/RA), DHCP answers, rules RETURN, else DROP
 *   SVM-SGO-<port>  from the VM: → SVM-SGS-<port> (its source IP with its MAC, else DROP), DHCP client
 *                   RETURN, no DHCP/DHCPv6 server, RA or redirect, established, rules RETURN, else DROP
 *                   (or RETURN: the port's groups have no egress rule)
 *   A VM-to-VM packet passes the destination's ingress chain, then the source's egress chain, then
 *   is accepted; a packet with one end outside passes its one port's chain.
 *   INPUT (pos. 1) → SVM-SG-IN (tree on --physdev-in) → SVM-SGO-<port> (to the host itself; the host's rules follow)
 *   ebtables FORWARD, INPUT (pos. 1) → SVM-SG-EB (tree on -i) → SVM-SGM-<port>:
 *      ARP only for its addresses with its MAC (probes from 0.0.0.0 too), frames only from its MAC
 *   raw PREROUTING, OUTPUT (pos. 1, only while some port has a zone) → SVM-SG-ZONE, SVM-SG-ZONEO
 * The trees keep the rules a packet evaluates to a few dozen, however many ports the host has.
 *
 * hash:mac and hash:ip,mac sets do not exist on this kernel: MAC and IP are paired in rules.
 * Remote groups are hash:ip sets of their members' addresses (one per family), edited member by
 * member (plan/ipset.ts).
 * iptables drops count into the port's nfacct counter for their reason (counters.ts: spoof,
 * ingress, egress, invalid, dhcp-server, router-advert, redirect) and carry
 * `svm:sg-drop:<port>:<reason>`; ebtables has neither, and a port's chain holds its two drops
 * (ARP, then MAC) in fixed places.
 */

export interface SgHook {
  tool: 'iptables' | 'ip6tables' | 'ebtables'
  table: 'filter' | 'raw'
  chain: 'FORWARD' | 'INPUT' | 'PREROUTING' | 'OUTPUT'
  /** Inserted at position 1 when absent. */
  rule: string
}

/** A chain of ours and its rules, each the arguments after `-A <chain>` as restore text. */
export type SgChain = readonly [name: string, rules: readonly string[]]

export interface RenderedSecGroups {
  /** iptables, table filter. */
  ipv4: readonly SgChain[]
  /** ip6tables, table filter. */
  ipv6: readonly SgChain[]
  /** ebtables, table filter. */
  ebtables: readonly SgChain[]
  /** iptables and ip6tables alike, table raw: each bridge's conntrack zone. */
  raw: readonly SgChain[]
  /** The remote-group sets (v4 and v6 per group) with their members. */
  sets: readonly IpSetSpec[]
  /** The drop counters (nfacct objects) the rules count into: every port, every reason. */
  counters: readonly SgCounter[]
  hooks: readonly SgHook[]
}

export const SG_CHAIN = {
  forward: 'SVM-SG-FWD', from: 'SVM-SG-FROM', toAccept: 'SVM-SG-TOA', to: 'SVM-SG-TO', input: 'SVM-SG-IN', bridge: 'SVM-SG-EB', zones: 'SVM-SG-ZONE', zonesOut: 'SVM-SG-ZONEO',
} as const

const established = (target: 'RETURN' | 'ACCEPT') => ruleArgs('-m', 'conntrack', '--ctstate', 'RELATED,ESTABLISHED', '-j', target)
const ESTABLISHED = established('RETURN')
const ESTABLISHED_ACCEPT = established('ACCEPT')

const byId = <T extends { id: string }>(items: readonly T[]) => [...items].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))

/** The same objects in the same order (items are replaced on edit, never changed). */
const sameItems = <T>(a: readonly T[], b: readonly T[]) => a === b || (a.length === b.length && a.every((x, i) => x === b[i]))

export function remoteSet(group: string, family: 4 | 6): string {
  return ownedSet('sg', `${family}|${group}`)
}

function drop(port: SgPort, reason: typeof DROP_REASONS[number]): string[] {
  return ['-m', 'nfacct', '--nfacct-name', dropCounter(port.id, reason), '-m', 'comment', '--comment', ruleTag('sg-drop', `${port.id}:${reason}`), '-j', 'DROP']
}

/** A port's counters, one per reason: rendered once per port object. */
const portCounters = memoize((port: SgPort): SgCounter[] => DROP_REASONS.map((reason) => ({ name: dropCounter(port.id, reason), port: port.id, reason })))

/** Protocol and port/type arguments of a rule in one family, or undefined when the rule says nothing there. */
function protocolArgs(r: SecurityGroupRule, family: 4 | 6): string[] | undefined {
  const p = r.protocol
  if (p === 'all') return []
  if (typeof p === 'number') return ['-p', String(p)]
  if (p === 'tcp' || p === 'udp') {
    if (r.ports === undefined) return ['-p', p]
    const end = r.ports.end ?? r.ports.start
    return ['-p', p, '-m', p, '--dport', end === r.ports.start ? String(end) : `${r.ports.start}:${end}`]
  }
  if ((p === 'icmp') !== (family === 4)) return undefined
  const type = r.icmpType === undefined ? undefined : r.icmpCode === undefined ? String(r.icmpType) : `${r.icmpType}/${r.icmpCode}`
  if (family === 4) return type === undefined ? ['-p', 'icmp'] : ['-p', 'icmp', '-m', 'icmp', '--icmp-type', type]
  return type === undefined ? ['-p', 'ipv6-icmp'] : ['-p', 'ipv6-icmp', '-m', 'icmp6', '--icmpv6-type', type]
}

/** The peer matches of a rule in one family (one per network), or [] when it has no peer there. */
function peerArgs(r: SecurityGroupRule, family: 4 | 6): string[][] {
  const side = r.direction === 'ingress' ? 'src' : 'dst'
  if (r.remoteGroup !== undefined) return [['-m', 'set', '--match-set', remoteSet(r.remoteGroup, family), side]]
  if (r.cidrs === undefined) return [[]]
  const flag = side === 'src' ? '-s' : '-d'
  return r.cidrs.flatMap((c) => {
    const parsed = parsePeerCidr(c)
    if (!('family' in parsed) || parsed.family !== family) return []
    // Anywhere in this family is no match at all.
    return [parsed.cidr.endsWith('/0') ? [] : [flag, parsed.cidr]]
  })
}

/** Pure. Renders the document (checked by checkSecGroups). */
export function renderSecGroups(doc: SecGroupDocument): RenderedSecGroups {
  const ports = byId(doc.ports)
  const rules = groupRules(doc.securityGroupRules)
  const layout = portLayout(ports)
  const raw = renderZones(ports)
  return {
    ipv4: renderFamily(ports, layout, rules, 4),
    ipv6: renderFamily(ports, layout, rules, 6),
    ebtables: renderBridge(ports, layout),
    sets: renderSets(doc, ports),
    counters: cachedCounters(ports, layout),
    raw,
    hooks: [
      ...(['iptables', 'ip6tables'] as const).flatMap((tool): SgHook[] => [
        { tool, table: 'filter', chain: 'FORWARD', rule: `-j ${SG_CHAIN.forward}` }, { tool, table: 'filter', chain: 'INPUT', rule: `-j ${SG_CHAIN.input}` },
        ...(raw.length === 0 ? [] : [
          { tool, table: 'raw', chain: 'PREROUTING', rule: `-j ${SG_CHAIN.zones}` }, { tool, table: 'raw', chain: 'OUTPUT', rule: `-j ${SG_CHAIN.zonesOut}` },
        ] as const),
      ]),
      { tool: 'ebtables', table: 'filter', chain: 'FORWARD', rule: `-j ${SG_CHAIN.bridge}` }, { tool: 'ebtables', table: 'filter', chain: 'INPUT', rule: `-j ${SG_CHAIN.bridge}` },
    ],
  }
}

/*
 * What follows keeps, from one rendering to the next, the very arrays of what an edit did not
 * touch: an edit among 1,000 ports then costs a walk over the ports comparing identities, and
 * the planner finds the untouched chains and sets unchanged by identity. Each cache holds only
 * what the last rendering had (a group or port gone is forgotten with it), and a value is reused
 * only when what it was made from is the same objects: same document, same rendering.
 */

/** Each group's rules (by id) of the last rendering. */
let lastGroupRules = new Map<string, readonly SecurityGroupRule[]>()

/**
 * Group → its rules, by id: the same array as the last rendering's while the group's rule
 * objects are the same; `changed` when any group's array is not.
 */
interface GroupRules { byGroup: ReadonlyMap<string, readonly SecurityGroupRule[]>; changed: boolean }

function groupRules(rules: readonly SecurityGroupRule[]): GroupRules {
  const byGroup = new Map<string, SecurityGroupRule[]>()
  for (const r of byId(rules)) {
    const list = byGroup.get(r.group)
    if (list === undefined) byGroup.set(r.group, [r])
    else list.push(r)
  }
  const kept = new Map<string, readonly SecurityGroupRule[]>()
  let changed = byGroup.size !== lastGroupRules.size
  for (const [group, list] of byGroup) {
    const last = lastGroupRules.get(group)
    const same = last !== undefined && sameItems(last, list)
    kept.set(group, same ? last : list)
    changed ||= !same
  }
  lastGroupRules = kept
  return { byGroup: kept, changed }
}

const NO_RULES: readonly SecurityGroupRule[] = []

/** A port's groups' rules, and the group arrays they were joined from. */
const lastPortRules = new WeakMap<SgPort, { parts: readonly (readonly SecurityGroupRule[])[]; rules: readonly SecurityGroupRule[] }>()

/** The rules of a port's groups, in the order of its groups: the same array while the port and those groups' arrays are. */
function portRules(port: SgPort, rulesByGroup: ReadonlyMap<string, readonly SecurityGroupRule[]>): readonly SecurityGroupRule[] {
  if (port.groups.length === 1) return rulesByGroup.get(port.groups[0] as string) ?? NO_RULES
  const parts = port.groups.map((g) => rulesByGroup.get(g) ?? NO_RULES)
  const last = lastPortRules.get(port)
  if (last !== undefined && sameItems(last.parts, parts)) return last.rules
  const rules = parts.flat()
  lastPortRules.set(port, { parts, rules })
  return rules
}

/** The sorted ports of the last rendering and the layout number they had. */
let lastLayout: { ports: readonly SgPort[]; layout: number } = { ports: [], layout: 0 }

/**
 * A number that changes whenever the ports' devices and ids (in order) do: what the dispatch
 * trees and the counters are made from. Compared field by field with the last rendering's ports
 * rather than joined into a key: no string of every port's name per edit.
 */
function portLayout(ports: readonly SgPort[]): number {
  const last = lastLayout.ports
  const same = last.length === ports.length && ports.every((p, i) => p === last[i] || (p.device === (last[i] as SgPort).device && p.id === (last[i] as SgPort).id))
  lastLayout = { ports, layout: same ? lastLayout.layout : lastLayout.layout + 1 }
  return lastLayout.layout
}

/**
 * Conntrack zones, per bridge (`raw` PREROUTING and OUTPUT): every packet a bridge forwards or
 * delivers, whichever port it came in on, and every packet the host sends into it, is tracked in
 * the bridge's zone. A zone per bridge and not per port: a connection between two ports of one
 * network must find its replies in the zone its first packet made. No zone, no chain and no jump:
 * a host without zones does not get a raw table from us, whose hooks every packet would pass.
 */
function renderZones(ports: readonly SgPort[]): SgChain[] {
  const zones = new Map<string, number>()
  for (const p of ports) if (p.bridge !== undefined && p.zone !== undefined) zones.set(p.bridge, p.zone)
  const bridges = [...zones.keys()].sort()
  if (bridges.length === 0) return []
  return [
    [SG_CHAIN.zones, bridges.map((b) => ruleArgs('-i', b, '-j', 'CT', '--zone', String(zones.get(b))))],
    [SG_CHAIN.zonesOut, bridges.map((b) => ruleArgs('-o', b, '-j', 'CT', '--zone', String(zones.get(b))))],
  ]
}

/** Pure. `iptables-restore` / `ip6tables-restore` text declaring and filling `chains` (goldens, the benchmark's peer). */
export function iptablesText(chains: readonly SgChain[], table: 'filter' | 'raw' = 'filter'): string {
  return [`*${table}`, ...chains.map(([name]) => `:${name} - [0:0]`), ...chains.flatMap(([name, rules]) => rules.map((r) => `-A ${name} ${r}`)), 'COMMIT', ''].join('\n')
}

/** Pure. `ebtables-restore --noflush` text: a declared chain is not flushed there, so each is flushed before it is refilled. */
export function ebtablesText(chains: readonly SgChain[]): string {
  return ['*filter', ...chains.map(([name]) => `:${name} RETURN`), ...chains.map(([name]) => `-F ${name}`), ...chains.flatMap(([name, rules]) => rules.map((r) => `-A ${name} ${r}`)), 'COMMIT', ''].join('\n')
}

/** Pure. `nfacct restore` text creating the counters. */
export function nfacctText(counters: readonly SgCounter[]): string {
  return counters.map((c) => `${nfacctCreateLine(c.name)}\n`).join('')
}

const icmp6 = (type: number) => ['-p', 'ipv6-icmp', '-m', 'icmp6', '--icmpv6-type', String(type)]
const ret = (...args: string[]) => ruleArgs(...args, '-j', 'RETURN')
// Neighbour discovery and multicast listeners (v6) work whatever the rules say, as v4's ARP does.
const ND_TO_VM = [130, 131, 132, 134, 135, 136, 143].map((t) => ret(...icmp6(t)))
const ND_FROM_VM = [130, 131, 132, 133, 135, 136, 143].map((t) => ret(...icmp6(t)))
// The DHCP server is elsewhere on the network (the router): its answers reach the VM.
const DHCP_TO_VM = { 4: ret('-p', 'udp', '-m', 'udp', '--sport', '67', '--dport', '68'), 6: ret('-p', 'udp', '-m', 'udp', '--sport', '547', '--dport', '546') }

/** A rule's match lines (each ending in RETURN) per family: rendered once per rule object. */
const ruleLines = memoize((r: SecurityGroupRule): { 4: string[]; 6: string[] } => {
  const lines = (family: 4 | 6) => {
    const proto = protocolArgs(r, family)
    if (proto === undefined) return []
    return peerArgs(r, family).map((peer) => ruleArgs(...proto, ...peer, '-m', 'comment', '--comment', ruleTag('sg-rule', r.id), '-j', 'RETURN'))
  }
  return { 4: lines(4), 6: lines(6) }
})

/** The chains of a port that depend on the port alone (to/from it, its sources), per family: rendered once per port object. */
const portOwnChains = memoize((port: SgPort): { 4: SgChain[]; 6: SgChain[]; bridge: SgChain } => {
  const c = portChains(port)
  const mac = ['-m', 'mac', '--mac-source', port.mac.toLowerCase()]
  const family = (f: 4 | 6): SgChain[] => {
    const own = f === 4 ? port.ipv4 : [linkLocalOf(port.mac), ...portIpv6(port)]
    const fromOwn = [...new Set(own)].map((ip) => ret('-s', `${ip}/${f === 4 ? 32 : 128}`, ...mac))
    const unnumbered = f === 4
      ? [ret('-s', '0.0.0.0/32', '-d', '255.255.255.255/32', '-p', 'udp', '-m', 'udp', '--sport', '68', '--dport', '67', ...mac)]
      : [ret('-s', '::/128', ...icmp6(135), ...mac), ret('-s', '::/128', ...icmp6(143), ...mac)]
    return [
      // From the VM (its egress chain let it go), then to a port of ours or not (goto: the stack
      // of nested jumps nf_tables allows is 16 deep); to the VM: its ingress chain, then accepted.
      // An established packet that passed the egress chain (its source and the drops of what no
      // VM may send come before its established rule) is accepted here: every ingress chain
      // would return it and accept it, and the packets of a flow skip the second tree.
      [c.from, [ruleArgs('-j', c.egress), ESTABLISHED_ACCEPT, ruleArgs('-g', SG_CHAIN.toAccept)]],
      [c.to, [ruleArgs('-j', c.ingress), ruleArgs('-j', 'ACCEPT')]],
      [c.source, [...fromOwn, ...unnumbered, ruleArgs(...portDrops(port).spoof)]],
    ]
  }
  const m = port.mac.toLowerCase()
  const bridge: SgChain = [ownedChain('SGM', port.id), [
    ...[...new Set(port.ipv4)].map((ip) => `-p ARP --arp-ip-src ${ip} --arp-mac-src ${m} -j RETURN`),
    `-p ARP --arp-ip-src 0.0.0.0 --arp-mac-src ${m} -j RETURN`,
    '-p ARP -j DROP',
    `-s ${m} -j RETURN`,
    '-j DROP',
  ]]
  return { 4: family(4), 6: family(6), bridge }
})

/** A port's IPv6 addresses as the kernel prints them (ipset save, iptables-save): made once per port object. */
const portIpv6 = memoize((port: SgPort): string[] => (port.ipv6 ?? []).map(canonicalIpv6))

function canonicalIpv6(text: string): string {
  const value = parseIpv6(text)
  return value === undefined ? text : formatIpv6(value)
}

/** A port's chains that also depend on its groups' rules (ingress, egress), kept with the rules they came from. */
interface RuleChains { rules: readonly SecurityGroupRule[]; chains: { 4: SgChain[]; 6: SgChain[] } }
const lastRuleChains = new WeakMap<SgPort, RuleChains>()

/**
 * A port's ingress and egress chains in both families. Rendered again only when the port or the
 * list of its groups' rule objects changed: otherwise the very arrays of the last rendering come
 * back, and the planner sees them unchanged by identity.
 */
function ruleChains(port: SgPort, rules: readonly SecurityGroupRule[]): RuleChains['chains'] {
  const last = lastRuleChains.get(port)
  if (last !== undefined && sameItems(last.rules, rules)) return last.chains
  const c = portChains(port)
  const egressRules = rules.some((r) => r.direction === 'egress')
  const family = (f: 4 | 6): SgChain[] => {
    const ingress: string[] = []
    const egress: string[] = []
    for (const r of rules) (r.direction === 'ingress' ? ingress : egress).push(...ruleLines(r)[f])
    const d = portDrops(port)
    const invalid = ruleArgs('-m', 'conntrack', '--ctstate', 'INVALID', ...d.invalid)
    const fromVm = f === 4
      ? [ret('-p', 'udp', '-m', 'udp', '--sport', '68', '--dport', '67'), ruleArgs('-p', 'udp', '-m', 'udp', '--sport', '67', ...d['dhcp-server'])]
      : [
          ret('-p', 'udp', '-m', 'udp', '--sport', '546', '--dport', '547'), ruleArgs('-p', 'udp', '-m', 'udp', '--sport', '547', ...d['dhcp-server']),
          ruleArgs(...icmp6(134), ...d['router-advert']), ruleArgs(...icmp6(137), ...d.redirect), ...ND_FROM_VM,
        ]
    // CloudStack's groups: egress is open until the group has an egress rule.
    const egressDefault = egressRules ? ruleArgs(...d.egress) : ruleArgs('-j', 'RETURN')
    return [
      [c.ingress, [ESTABLISHED, invalid, ...(f === 6 ? ND_TO_VM : []), DHCP_TO_VM[f], ...ingress, ruleArgs(...d.ingress)]],
      [c.egress, [ruleArgs('-j', c.source), ...fromVm, ESTABLISHED, invalid, ...egress, egressDefault]],
    ]
  }
  const chains = { 4: family(4), 6: family(6) }
  lastRuleChains.set(port, { rules, chains })
  return chains
}

/** A port's drop arguments per reason (counter and comment): made once per port object. */
const portDrops = memoize((port: SgPort) => Object.fromEntries(DROP_REASONS.map((reason) => [reason, drop(port, reason)])) as Record<typeof DROP_REASONS[number], string[]>)

/**
 * The dispatch trees of the last rendering, by root: a rendering whose ports have the same
 * devices and ids in the same order gets the same arrays back (a rule edit re-renders no tree;
 * IPv4 and IPv6 share theirs, which are the same rules).
 */
const lastTrees = new Map<string, { key: number; chains: SgChain[] }>()

function cachedTree(root: string, key: number, build: () => SgChain[]): SgChain[] {
  const last = lastTrees.get(root)
  if (last !== undefined && last.key === key) return last.chains
  const chains = build()
  lastTrees.set(root, { key, chains })
  return chains
}

/** The chains of the last rendering per family: the ports' part with the ports it was made for, and the whole. */
const lastFamily = new Map<4 | 6, { ports: readonly SgPort[]; portPart: SgChain[]; parts: readonly SgChain[][]; chains: SgChain[] }>()

function renderFamily(ports: readonly SgPort[], layout: number, rules: GroupRules, family: 4 | 6): SgChain[] {
  const physdev = (dir: 'in' | 'out', bridged: boolean): DispatchMatch => ({
    exact: (name) => ['-m', 'physdev', `--physdev-${dir}`, name, ...(bridged ? ['--physdev-is-bridged'] : [])],
    prefix: (prefix) => ['-m', 'physdev', `--physdev-${dir}`, `${prefix}+`],
  })
  const tree = (root: string, key: string, dir: 'in' | 'out', bridged: boolean, action: (p: SgPort) => string[]): SgChain[] =>
    cachedTree(root, layout, () => dispatchTree(root, ports.map((p) => ({ name: p.device, action: action(p) })), physdev(dir, bridged), (prefix) => ownedChain('SGN', `${key}|${prefix}`))
      .map(([name, rules]) => [name, rules.map((r) => ruleArgs(...r))]))
  // The same tree twice on --physdev-out: after a port's egress chain (ending in ACCEPT: the
  // packet was ours), and for packets from outside (ending in RETURN: not ours at all).
  const toAccept = cachedTree(`${SG_CHAIN.toAccept}|accept`, layout, () => {
    const [root, ...nodes] = tree(SG_CHAIN.toAccept, 'to-accept', 'out', true, (p) => ['-j', portChains(p).to])
    return [[SG_CHAIN.toAccept, [...(root?.[1] ?? []), ruleArgs('-j', 'ACCEPT')]], ...nodes]
  })
  const last = lastFamily.get(family)
  const portPart = portsChains(ports, rules, family, last)
  const parts = [
    tree(SG_CHAIN.from, 'from', 'in', true, (p) => ['-j', portChains(p).from]), toAccept,
    tree(SG_CHAIN.to, 'to', 'out', true, (p) => ['-j', portChains(p).to]),
    tree(SG_CHAIN.input, 'input', 'in', false, (p) => ['-j', portChains(p).egress]),
  ]
  const chains = last !== undefined && last.portPart === portPart && sameItems(last.parts, parts)
    ? last.chains
    : [[SG_CHAIN.forward, [ruleArgs('-j', SG_CHAIN.from), ruleArgs('-j', SG_CHAIN.to)]] as SgChain, ...parts.flat(), ...portPart]
  lastFamily.set(family, { ports, portPart, parts, chains })
  return chains
}

/** A port's chains in one family: SGF, SGT, SGS (portOwnChains), then SGI, SGO (ruleChains). */
const PORT_CHAINS = 5

/**
 * Every port's chains in one family, port after port. With the group rules unchanged and as many
 * ports as the last rendering, only the ports replaced since are rendered, in their places in a
 * copy of the last array (the others' chains are the same arrays): a member joining a group costs
 * a walk over the ports, not 5,000 chains collected again.
 */
function portsChains(ports: readonly SgPort[], rules: GroupRules, family: 4 | 6, last: { ports: readonly SgPort[]; portPart: SgChain[] } | undefined): SgChain[] {
  const ofPort = (port: SgPort): SgChain[] => [...portOwnChains(port)[family], ...ruleChains(port, portRules(port, rules.byGroup))[family]]
  if (last !== undefined && !rules.changed && last.ports.length === ports.length) {
    let chains: SgChain[] | undefined
    ports.forEach((port, i) => {
      if (port === last.ports[i]) return
      chains ??= last.portPart.slice()
      chains.splice(i * PORT_CHAINS, PORT_CHAINS, ...ofPort(port))
    })
    return chains ?? last.portPart
  }
  const chains: SgChain[] = []
  for (const port of ports) for (const chain of ofPort(port)) chains.push(chain)
  return chains
}

/** A port's chains: to it (SGT), from it (SGF), its ingress and egress rules (SGI, SGO), its sources (SGS). Named once per port object. */
const portChains = memoize((port: SgPort): { to: string; from: string; ingress: string; egress: string; source: string } => ({
  to: ownedChain('SGT', port.id), from: ownedChain('SGF', port.id),
  ingress: ownedChain('SGI', port.id), egress: ownedChain('SGO', port.id), source: ownedChain('SGS', port.id),
}))

/** Each remote group's member ports and their two sets, of the last rendering. */
let lastSets = new Map<string, { members: readonly SgPort[]; sets: readonly IpSetSpec[] }>()

/** The remote groups' sets (v4, v6 each): the same specs as the last rendering's while a group's member port objects are the same. */
function renderSets(doc: SecGroupDocument, ports: readonly SgPort[]): IpSetSpec[] {
  const remote = [...new Set(doc.securityGroupRules.flatMap((r) => (r.remoteGroup === undefined ? [] : [r.remoteGroup])))].sort()
  const members = new Map<string, SgPort[]>(remote.map((group) => [group, []]))
  for (const p of ports) for (const group of p.groups) members.get(group)?.push(p)
  const kept = new Map<string, { members: readonly SgPort[]; sets: readonly IpSetSpec[] }>()
  for (const [group, ofGroup] of members) {
    const last = lastSets.get(group)
    kept.set(group, last !== undefined && sameItems(last.members, ofGroup) ? last : { members: ofGroup, sets: groupSets(group, ofGroup) })
  }
  lastSets = kept
  return [...kept.values()].flatMap((g) => g.sets)
}

function groupSets(group: string, members: readonly SgPort[]): IpSetSpec[] {
  return ([4, 6] as const).map((family): IpSetSpec => ({
    name: remoteSet(group, family),
    type: 'hash:ip',
    ...(family === 6 ? { family: 'inet6' as const } : {}),
    maxelem: 65536,
    entries: [...new Set(members.flatMap((p) => (family === 4 ? p.ipv4 : portIpv6(p))))].sort(),
    owner: `security group ${group} (IPv${family} members)`,
  }))
}

function renderBridge(ports: readonly SgPort[], layout: number): SgChain[] {
  // The tree depends on devices and ids only (the layout); each port's own chain on its addresses.
  const tree = cachedTree(SG_CHAIN.bridge, layout, () => dispatchTree(SG_CHAIN.bridge, ports.map((p) => ({ name: p.device, action: ['-j', ownedChain('SGM', p.id)] })),
    { exact: (name) => ['-i', name], prefix: (prefix) => ['-i', `${prefix}+`] }, (prefix) => ownedChain('SGE', prefix))
    .map(([name, rules]): SgChain => [name, rules.map((r) => r.join(' '))]))
  return [...tree, ...ports.map((p) => portOwnChains(p).bridge)]
}

/** The counters of the last rendering: the same array while the ports are the same (the planner then compares nothing). */
let lastCounters: { key: number; counters: SgCounter[] } | undefined

function cachedCounters(ports: readonly SgPort[], layout: number): SgCounter[] {
  if (lastCounters !== undefined && lastCounters.key === layout) return lastCounters.counters
  const counters = ports.flatMap(portCounters)
  lastCounters = { key: layout, counters }
  return counters
}
