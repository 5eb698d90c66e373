import { usableHost } from '../../../core/ipv4.ts'
import type { DhcpScope } from './scope.ts'

/**
 * Which relayed messages (giaddr set) a network serves. The network is always the one whose link
 * the message came in on, never the one giaddr names: otherwise any guest could be served, and
 * answered, in another network's scope (issue 7, item 5). Pure.
 */

export type RelayRefusal = 'relay-not-listed' | 'relay-port' | 'relay-giaddr'

/**
 * Undefined when the scope serves a message relayed with `giaddr` from `source`:`port`; else why
 * not. A relay agent sends from its own address, listed in the network's `dhcp.relays`, and from
 * port 67 (RFC 1542 §4.1); giaddr names the client's segment, which must be inside the network.
 */
export function relayRefusal(scope: DhcpScope, giaddr: number, source: number, port: number): RelayRefusal | undefined {
  if (!scope.relays.has(source)) return 'relay-not-listed'
  if (port !== 67) return 'relay-port'
  if (!usableHost(scope.cidr, giaddr)) return 'relay-giaddr'
  return undefined
}
