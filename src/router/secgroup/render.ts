import { ownedChain, ownedSet, ruleTag } from '../render/names.ts'
import { ruleArgs } from '../render/rule-line.ts'
import { linkLocalOf, parsePeerCidr } from './addresses.ts'
import type { SecGroupDocument, SecurityGroupRule, SgPort } from './model.ts'

/**
 * Pure. The kernel text of a checked security-group document (check.ts). Same document, same
 * bytes. Everything is in chains and sets of our own, for `--noflush` restores: a host is not
 * our VM, and nothing else on it is touched (a declared chain is flushed and refilled).
 *
 *   FORWARD (pos. 1) → SVM-SG-FWD (bridged traffic of our ports, IPv4 and IPv6 alike)
 *      --physdev-out <dev> → SVM-SGI-<port>   to the VM: established, (v6: ND/MLD/RA), rules RETURN, else DROP
 *      --physdev-in  <dev> → SVM-SGO-<port>   from the VM: → SVM-SGS-<port> (its source IP with its MAC, else
 *                                             DROP), DHCP client RETURN, no DHCP/DHCPv6 server, RA or redirect,
 *                                             established, rules RETURN, else DROP (or RETURN: no egress rule)
 *      then ACCEPT what touched our ports (both of a VM-to-VM packet's chains said RETURN)
 *   INPUT (pos. 1) → SVM-SG-IN: --physdev-in <dev> → SVM-SGO-<port> (to the host itself; the host's rules follow)
 *   ebtables FORWARD, INPUT (pos. 1) → SVM-SG-EB: -i <dev> → SVM-SGM-<port>:
 *      ARP only for its addresses with its MAC (probes from 0.0.0.0 too), frames only from its MAC
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

export const SG_CHAIN = { forward: 'SVM-SG-FWD', input: 'SVM-SG-IN', bridge: 'SVM-SG-EB' } as const

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
  const forward: string[][] = []
  const input: string[][] = []
  const bridged = (dir: 'in' | 'out', dev: string) => ['-m', 'physdev', `--physdev-${dir}`, dev, '--physdev-is-bridged']
  for (const port of ports) {
    const [ingress, egress, source] = [ownedChain('SGI', port.id), ownedChain('SGO', port.id), ownedChain('SGS', port.id)]
    const tag = ['-m', 'comment', '--comment', ruleTag('sg-port', port.id)]
    forward.push([...bridged('out', port.device), ...tag, '-j', ingress], [...bridged('in', port.device), ...tag, '-j', egress])
    input.push(['-m', 'physdev', '--physdev-in', port.device, ...tag, '-j', egress])
    const rules = port.groups.flatMap((g) => rulesByGroup.get(g) ?? [])
    const matches = (direction: 'ingress' | 'egress') => rules.filter((r) => r.direction === direction).flatMap((r) => {
      const proto = protocolArgs(r, family)
      if (proto === undefined) return []
      return peerArgs(r, family).map((peer) => [...proto, ...peer, '-m', 'comment', '--comment', ruleTag('sg-rule', r.id), '-j', 'RETURN'])
    })
    const established = ['-m', 'conntrack', '--ctstate', 'RELATED,ESTABLISHED', '-j', 'RETURN']
    const invalid = ['-m', 'conntrack', '--ctstate', 'INVALID', ...drop(port, 'invalid')]
    const icmp6 = (type: number) => ['-p', 'ipv6-icmp', '-m', 'icmp6', '--icmpv6-type', String(type)]

    // Neighbour discovery and multicast listeners (v6) work whatever the rules say, as v4's ARP does.
    const ndToVm: string[][] = family === 6 ? [130, 131, 132, 134, 135, 136, 143].map((t) => [...icmp6(t), '-j', 'RETURN']) : []
    // The DHCP server is elsewhere on the network (the router): its answers reach the VM.
    const dhcpToVm = family === 4 ? [['-p', 'udp', '-m', 'udp', '--sport', '67', '--dport', '68', '-j', 'RETURN']] : [['-p', 'udp', '-m', 'udp', '--sport', '547', '--dport', '546', '-j', 'RETURN']]
    chains.push([ingress, [established, invalid, ...ndToVm, ...dhcpToVm, ...matches('ingress'), drop(port, 'ingress')]])

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
    chains.push([egress, [['-j', source], ...fromVm, established, invalid, ...egressRules, ...egressDefault]])

    const host = family === 4 ? 32 : 128
    const own = family === 4 ? port.ipv4 : [linkLocalOf(port.mac), ...(port.ipv6 ?? [])]
    const mac = ['-m', 'mac', '--mac-source', port.mac.toLowerCase()]
    const fromOwn = [...new Set(own)].map((ip) => ['-s', `${ip}/${host}`, ...mac, '-j', 'RETURN'])
    const unnumbered = family === 4
      ? [['-s', '0.0.0.0/32', '-d', '255.255.255.255/32', '-p', 'udp', '-m', 'udp', '--sport', '68', '--dport', '67', ...mac, '-j', 'RETURN']]
      : [[...['-s', '::/128'], ...icmp6(135), ...mac, '-j', 'RETURN'], [...['-s', '::/128'], ...icmp6(143), ...mac, '-j', 'RETURN']]
    chains.push([source, [...fromOwn, ...unnumbered, drop(port, 'spoof')]])
  }
  for (const port of ports) forward.push([...bridged('out', port.device), '-j', 'ACCEPT'], [...bridged('in', port.device), '-j', 'ACCEPT'])
  const all: [string, string[][]][] = [[SG_CHAIN.forward, forward], [SG_CHAIN.input, input], ...chains]
  return [
    '*filter',
    ...all.map(([name]) => `:${name} - [0:0]`),
    ...all.flatMap(([name, rules]) => rules.map((r) => `-A ${name} ${ruleArgs(...r)}`)),
    'COMMIT',
    '',
  ].join('\n')
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
  const lines = ['*filter', `:${SG_CHAIN.bridge} RETURN`]
  const chains: string[] = []
  for (const port of ports) {
    const chain = ownedChain('SGM', port.id)
    const mac = port.mac.toLowerCase()
    lines.push(`:${chain} RETURN`)
    chains.push(`-A ${SG_CHAIN.bridge} -i ${port.device} -j ${chain}`)
    for (const ip of [...new Set(port.ipv4)]) chains.push(`-A ${chain} -p ARP --arp-ip-src ${ip} --arp-mac-src ${mac} -j RETURN`)
    chains.push(
      `-A ${chain} -p ARP --arp-ip-src 0.0.0.0 --arp-mac-src ${mac} -j RETURN`,
      `-A ${chain} -p ARP -j DROP`,
      `-A ${chain} -s ${mac} -j RETURN`,
      `-A ${chain} -j DROP`,
    )
  }
  // A declared chain is not flushed by ebtables-restore --noflush: flush each before refilling.
  const names = lines.slice(1).map((l) => l.slice(1).split(' ')[0] as string)
  return [...lines, ...names.map((n) => `-F ${n}`), ...chains, 'COMMIT', ''].join('\n')
}
