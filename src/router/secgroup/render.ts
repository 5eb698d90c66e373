import { ownedChain, ownedSet, ruleTag } from '../render/names.ts'
import { ruleArgs } from '../render/rule-line.ts'
import { linkLocalOf, parsePeerCidr } from './addresses.ts'
import { dispatchTree, type DispatchMatch } from './dispatch.ts'
import type { SecGroupDocument, SecurityGroupRule, SgPort } from './model.ts'

/**
 * Pure. The kernel text of a checked security-group document (check.ts). Same document, same
 * bytes. Everything is in chains and sets of our own, for `--noflush` restores: a host is not
 * our VM, and nothing else on it is touched (a declared chain is flushed and refilled).
 *
 *   FORWARD (pos. 1) → SVM-SG-FWD (bridged traffic of our ports, IPv4 and IPv6 alike):
 *      → SVM-SG-FROM (tree on --physdev-in, dispatch.ts) → SVM-SGF-<port>: → SVM-SGO-<port>, goto SVM-SG-TOA
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
 * The trees keep the rules a packet evaluates to a few dozen, however many ports the host has.
 *
 * hash:mac and hash:ip,mac sets do not exist on this kernel: MAC and IP are paired in rules.
 * Remote groups are hash:ip sets of their members' addresses (one per family), replaced by swap.
 * iptables drops carry `svm:sg-drop:<port>:<reason>` (spoof, ingress, egress, invalid,
 * dhcp-server, router-advert, redirect) so their counters are read per port and reason; ebtables
 * has no comments, and a port's chain holds its two drops (ARP, then MAC) in fixed places.
 */

export interface SgHook {
  tool: 'iptables' | 'ip6tables' | 'ebtables'
  chain: 'FORWARD' | 'INPUT'
  /** Inserted at position 1 when absent. */
  rule: string
}

export interface RenderedSecGroups {
  /** `iptables-restore --noflush` input (filter). */
  ipv4: string
  /** `ip6tables-restore --noflush` input (filter). */
  ipv6: string
  /** `ipset restore` input: the remote-group sets, each filled beside and swapped in. */
  ipsets: string
  /** `ebtables-restore --noflush` input (filter). */
  ebtables: string
  hooks: SgHook[]
}

export const SG_CHAIN = { forward: 'SVM-SG-FWD', from: 'SVM-SG-FROM', toAccept: 'SVM-SG-TOA', to: 'SVM-SG-TO', input: 'SVM-SG-IN', bridge: 'SVM-SG-EB' } as const

const byId = <T extends { id: string }>(items: readonly T[]) => [...items].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))

export function remoteSet(group: string, family: 4 | 6): string {
  return ownedSet('sg', `${family}|${group}`)
}

function drop(port: SgPort, reason: string): string[] {
  return ['-m', 'comment', '--comment', ruleTag('sg-drop', `${port.id}:${reason}`), '-j', 'DROP']
}

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
  const rulesByGroup = new Map<string, SecurityGroupRule[]>()
  for (const r of byId(doc.securityGroupRules)) rulesByGroup.set(r.group, [...(rulesByGroup.get(r.group) ?? []), r])
  return {
    ipv4: renderFamily(ports, rulesByGroup, 4),
    ipv6: renderFamily(ports, rulesByGroup, 6),
    ipsets: renderSets(doc, ports),
    ebtables: renderBridge(ports),
    hooks: [
      ...(['iptables', 'ip6tables'] as const).flatMap((tool) => [
        { tool, chain: 'FORWARD' as const, rule: `-j ${SG_CHAIN.forward}` }, { tool, chain: 'INPUT' as const, rule: `-j ${SG_CHAIN.input}` },
      ]),
      { tool: 'ebtables', chain: 'FORWARD', rule: `-j ${SG_CHAIN.bridge}` }, { tool: 'ebtables', chain: 'INPUT', rule: `-j ${SG_CHAIN.bridge}` },
    ],
  }
}

function renderFamily(ports: readonly SgPort[], rulesByGroup: ReadonlyMap<string, SecurityGroupRule[]>, family: 4 | 6): string {
  const chains: [string, string[][]][] = []
  const physdev = (dir: 'in' | 'out', bridged: boolean): DispatchMatch => ({
    exact: (name) => ['-m', 'physdev', `--physdev-${dir}`, name, ...(bridged ? ['--physdev-is-bridged'] : [])],
    prefix: (prefix) => ['-m', 'physdev', `--physdev-${dir}`, `${prefix}+`],
  })
  const tree = (root: string, key: string, dir: 'in' | 'out', bridged: boolean, action: (p: SgPort) => string[]) =>
    dispatchTree(root, ports.map((p) => ({ name: p.device, action: action(p) })), physdev(dir, bridged), (prefix) => ownedChain('SGN', `${key}|${prefix}`))
  for (const port of ports) {
    const c = portChains(port)
    const rules = port.groups.flatMap((g) => rulesByGroup.get(g) ?? [])
    const matches = (direction: 'ingress' | 'egress') => rules.filter((r) => r.direction === direction).flatMap((r) => {
      const proto = protocolArgs(r, family)
      if (proto === undefined) return []
      return peerArgs(r, family).map((peer) => [...proto, ...peer, '-m', 'comment', '--comment', ruleTag('sg-rule', r.id), '-j', 'RETURN'])
    })
    const established = ['-m', 'conntrack', '--ctstate', 'RELATED,ESTABLISHED', '-j', 'RETURN']
    const invalid = ['-m', 'conntrack', '--ctstate', 'INVALID', ...drop(port, 'invalid')]
    const icmp6 = (type: number) => ['-p', 'ipv6-icmp', '-m', 'icmp6', '--icmpv6-type', String(type)]

    // From the VM (its egress chain let it go), then to a port of ours or not (goto: the stack
    // of nested jumps nf_tables allows is 16 deep); to the VM: its ingress chain, then accepted.
    chains.push([c.from, [['-j', c.egress], ['-g', SG_CHAIN.toAccept]]])
    chains.push([c.to, [['-j', c.ingress], ['-j', 'ACCEPT']]])

    // Neighbour discovery and multicast listeners (v6) work whatever the rules say, as v4's ARP does.
    const ndToVm: string[][] = family === 6 ? [130, 131, 132, 134, 135, 136, 143].map((t) => [...icmp6(t), '-j', 'RETURN']) : []
    // The DHCP server is elsewhere on the network (the router): its answers reach the VM.
    const dhcpToVm = family === 4 ? [['-p', 'udp', '-m', 'udp', '--sport', '67', '--dport', '68', '-j', 'RETURN']] : [['-p', 'udp', '-m', 'udp', '--sport', '547', '--dport', '546', '-j', 'RETURN']]
    chains.push([c.ingress, [established, invalid, ...ndToVm, ...dhcpToVm, ...matches('ingress'), drop(port, 'ingress')]])

    const egressRules = matches('egress')
    const fromVm = family === 4
      ? [['-p', 'udp', '-m', 'udp', '--sport', '68', '--dport', '67', '-j', 'RETURN'], ['-p', 'udp', '-m', 'udp', '--sport', '67', ...drop(port, 'dhcp-server')]]
      : [
          ['-p', 'udp', '-m', 'udp', '--sport', '546', '--dport', '547', '-j', 'RETURN'], ['-p', 'udp', '-m', 'udp', '--sport', '547', ...drop(port, 'dhcp-server')],
          [...icmp6(134), ...drop(port, 'router-advert')], [...icmp6(137), ...drop(port, 'redirect')],
          ...[130, 131, 132, 133, 135, 136, 143].map((t) => [...icmp6(t), '-j', 'RETURN']),
        ]
    // CloudStack's groups: egress is open until the group has an egress rule.
    const egressDefault = egressRules.length === 0 && !rules.some((r) => r.direction === 'egress') ? [['-j', 'RETURN']] : [drop(port, 'egress')]
    chains.push([c.egress, [['-j', c.source], ...fromVm, established, invalid, ...egressRules, ...egressDefault]])

    const host = family === 4 ? 32 : 128
    const own = family === 4 ? port.ipv4 : [linkLocalOf(port.mac), ...(port.ipv6 ?? [])]
    const mac = ['-m', 'mac', '--mac-source', port.mac.toLowerCase()]
    const fromOwn = [...new Set(own)].map((ip) => ['-s', `${ip}/${host}`, ...mac, '-j', 'RETURN'])
    const unnumbered = family === 4
      ? [['-s', '0.0.0.0/32', '-d', '255.255.255.255/32', '-p', 'udp', '-m', 'udp', '--sport', '68', '--dport', '67', ...mac, '-j', 'RETURN']]
      : [[...['-s', '::/128'], ...icmp6(135), ...mac, '-j', 'RETURN'], [...['-s', '::/128'], ...icmp6(143), ...mac, '-j', 'RETURN']]
    chains.push([c.source, [...fromOwn, ...unnumbered, drop(port, 'spoof')]])
  }
  // The same tree twice on --physdev-out: after a port's egress chain (ending in ACCEPT: the
  // packet was ours), and for packets from outside (ending in RETURN: not ours at all).
  const toAccept = tree(SG_CHAIN.toAccept, 'to-accept', 'out', true, (p) => ['-j', portChains(p).to])
  toAccept[0]?.[1].push(['-j', 'ACCEPT'])
  const all: [string, string[][]][] = [
    [SG_CHAIN.forward, [['-j', SG_CHAIN.from], ['-j', SG_CHAIN.to]]],
    ...tree(SG_CHAIN.from, 'from', 'in', true, (p) => ['-j', portChains(p).from]),
    ...toAccept,
    ...tree(SG_CHAIN.to, 'to', 'out', true, (p) => ['-j', portChains(p).to]),
    ...tree(SG_CHAIN.input, 'input', 'in', false, (p) => ['-j', portChains(p).egress]),
    ...chains,
  ]
  return [
    '*filter',
    ...all.map(([name]) => `:${name} - [0:0]`),
    ...all.flatMap(([name, rules]) => rules.map((r) => `-A ${name} ${ruleArgs(...r)}`)),
    'COMMIT',
    '',
  ].join('\n')
}

/** A port's chains: to it (SGT), from it (SGF), its ingress and egress rules (SGI, SGO), its sources (SGS). */
function portChains(port: SgPort): { to: string; from: string; ingress: string; egress: string; source: string } {
  return {
    to: ownedChain('SGT', port.id), from: ownedChain('SGF', port.id),
    ingress: ownedChain('SGI', port.id), egress: ownedChain('SGO', port.id), source: ownedChain('SGS', port.id),
  }
}

function renderSets(doc: SecGroupDocument, ports: readonly SgPort[]): string {
  const remote = [...new Set(doc.securityGroupRules.flatMap((r) => (r.remoteGroup === undefined ? [] : [r.remoteGroup])))].sort()
  const lines: string[] = []
  for (const group of remote) {
    const members = ports.filter((p) => p.groups.includes(group))
    for (const family of [4, 6] as const) {
      const name = remoteSet(group, family)
      const next = ownedSet('sgn', `${family}|${group}`)
      const type = `hash:ip family ${family === 4 ? 'inet' : 'inet6'} maxelem 65536`
      const addresses = [...new Set(members.flatMap((p) => (family === 4 ? p.ipv4 : p.ipv6 ?? [])))].sort()
      lines.push(`create ${name} ${type} -exist`, `create ${next} ${type} -exist`, `flush ${next}`,
        ...addresses.map((a) => `add ${next} ${a}`), `swap ${next} ${name}`, `destroy ${next}`)
    }
  }
  return lines.length === 0 ? '' : `${lines.join('\n')}\n`
}

function renderBridge(ports: readonly SgPort[]): string {
  const chains: [string, string[]][] = dispatchTree(SG_CHAIN.bridge, ports.map((p) => ({ name: p.device, action: ['-j', ownedChain('SGM', p.id)] })),
    { exact: (name) => ['-i', name], prefix: (prefix) => ['-i', `${prefix}+`] }, (prefix) => ownedChain('SGE', prefix))
    .map(([name, rules]) => [name, rules.map((r) => r.join(' '))])
  for (const port of ports) {
    const mac = port.mac.toLowerCase()
    chains.push([ownedChain('SGM', port.id), [
      ...[...new Set(port.ipv4)].map((ip) => `-p ARP --arp-ip-src ${ip} --arp-mac-src ${mac} -j RETURN`),
      `-p ARP --arp-ip-src 0.0.0.0 --arp-mac-src ${mac} -j RETURN`,
      '-p ARP -j DROP',
      `-s ${mac} -j RETURN`,
      '-j DROP',
    ]])
  }
  // A declared chain is not flushed by ebtables-restore --noflush: each is flushed before it is refilled.
  return [
    '*filter',
    ...chains.map(([name]) => `:${name} RETURN`),
    ...chains.map(([name]) => `-F ${name}`),
    ...chains.flatMap(([name, rules]) => rules.map((r) => `-A ${name} ${r}`)),
    'COMMIT',
    '',
  ].join('\n')
}
