import { formatNetwork, hasHostBits, parseCidr, type Cidr } from '../../../core/ipv4.ts'
import { normalizePorts, type Ports } from '../normalize.ts'
import type { Push } from './diagnostics.ts'

/**
 * Checks of single fields that need nothing but the field: CIDR texts, port ranges, protocol
 * matches. The schema checks their shape loosely (so a bad value gets its JSON path); these
 * check them exactly.
 */

/** A CIDR text that names a network (host bits clear), or why it names none (the message of ERR_BAD_CIDR). */
export type ParsedNetwork = { cidr: Cidr } | { problem: string }

/** Pure. The network a CIDR text names, or why it names none. */
export function parseNetworkCidr(text: string): ParsedNetwork {
  const cidr = parseCidr(text)
  if (cidr === undefined || !text.includes('/')) return { problem: `"${text}" is not an IPv4 network in CIDR notation` }
  if (hasHostBits(cidr)) return { problem: `"${text}" has host bits set; the network is ${formatNetwork(cidr)}` }
  return { cidr }
}

/** The network a CIDR text names, or undefined after reporting ERR_BAD_CIDR at `path`. */
export function checkNetworkCidr(text: string, path: string, push: Push): Cidr | undefined {
  const parsed = parseNetworkCidr(text)
  if ('problem' in parsed) {
    push(path, 'ERR_BAD_CIDR', parsed.problem)
    return undefined
  }
  return parsed.cidr
}

/** Reports ERR_BAD_CIDR at `path` unless `text` is an address with a prefix length (an interface address). */
export function checkHostCidr(text: string, path: string, push: Push): void {
  if (parseCidr(text) === undefined || !text.includes('/')) push(path, 'ERR_BAD_CIDR', `"${text}" is not an IPv4 address with a prefix length`)
}

/** The range with its end filled in; reports ERR_BAD_PORT_RANGE when it is reversed. */
export function checkPorts(range: { start: number; end?: number }, path: string, push: Push): Ports {
  const ports = normalizePorts(range)
  if (ports.end < ports.start) push(`${path}/end`, 'ERR_BAD_PORT_RANGE', `end ${ports.end} is below start ${ports.start}`)
  return ports
}

export interface MatchFields { protocol: string; ports?: { start: number; end?: number }; icmpType?: number; icmpCode?: number }

/** Reports ports or ICMP fields that the rule's protocol cannot match. */
export function checkMatch(rule: MatchFields, path: string, push: Push): void {
  if (rule.ports !== undefined) {
    if (rule.protocol !== 'tcp' && rule.protocol !== 'udp') {
      push(`${path}/ports`, 'ERR_PORTS_WITHOUT_PROTOCOL', `ports need protocol tcp or udp, not ${rule.protocol}`)
    } else checkPorts(rule.ports, `${path}/ports`, push)
  }
  if ((rule.icmpType !== undefined || rule.icmpCode !== undefined) && rule.protocol !== 'icmp') {
    push(`${path}/icmpType`, 'ERR_ICMP_WITHOUT_PROTOCOL', `ICMP type/code need protocol icmp, not ${rule.protocol}`)
  }
  if (rule.icmpCode !== undefined && rule.icmpType === undefined) {
    push(`${path}/icmpCode`, 'ERR_ICMP_CODE_WITHOUT_TYPE', 'an ICMP code needs an ICMP type')
  }
}

/** Reports every entry of a CIDR list that is not a network. */
export function checkCidrList(list: readonly string[] | undefined, path: string, push: Push): void {
  list?.forEach((text, i) => checkNetworkCidr(text, `${path}/${i}`, push))
}
