import { ANYWHERE, type NMatch, type Ports } from '../../model/normalize.ts'
import type { IpSetSpec } from '../ipset.ts'
import { ownedSet } from '../names.ts'

/**
 * Match arguments shared by the firewall renderers, and the ipsets that CIDR lists become.
 */

/** Pure. `a` or `a:b` for --dport. */
export function dport(ports: Ports): string {
  return ports.start === ports.end ? String(ports.start) : `${ports.start}:${ports.end}`
}

/** Pure. Protocol, port and ICMP arguments of a rule match. */
export function protocolArgs(match: NMatch): string[] {
  switch (match.protocol) {
    case 'all':
      return []
    case 'icmp': {
      if (match.icmpType === undefined) return ['-p', 'icmp']
      const type = match.icmpCode === undefined ? String(match.icmpType) : `${match.icmpType}/${match.icmpCode}`
      return ['-p', 'icmp', '-m', 'icmp', '--icmp-type', type]
    }
    case 'tcp':
    case 'udp':
      return match.ports === undefined
        ? ['-p', match.protocol]
        : ['-p', match.protocol, '-m', match.protocol, '--dport', dport(match.ports)]
  }
}

/**
 * Pure. Address-list match for one direction: nothing for "anywhere", `-s/-d cidr` for one
 * network, and an ipset (added to `sets`) for several, so a rule stays one rule however long
 * its list is.
 */
export function cidrListArgs(cidrs: readonly string[], direction: 'src' | 'dst', owner: string, sets: IpSetSpec[]): string[] {
  if (cidrs.length === 0 || cidrs.includes(ANYWHERE)) return []
  const unique = [...new Set(cidrs)].sort()
  if (unique.length === 1) return [direction === 'src' ? '-s' : '-d', unique[0] as string]
  // `ipset save` prints a /32 member as a bare address; store members the same way.
  const members = [...new Set(unique.map((c) => (c.endsWith('/32') ? c.slice(0, -3) : c)))].sort()
  const name = ownedSet(direction === 'src' ? 'S' : 'D', owner)
  sets.push({ name, type: 'hash:net', maxelem: 65536, entries: members, owner })
  return ['-m', 'set', '--match-set', name, direction]
}
