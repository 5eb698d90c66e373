import { cidrContains, cidrsOverlap, formatNetwork, parseCidr, parseIpv4, reservedOverlap, type Cidr } from '../../../core/ipv4.ts'
import { editedValues, type DomainCheck, type Edit } from './domain.ts'
import { editedNetworks } from './guest-networks.ts'
import type { ConfigIndex, Key } from './index.ts'
import { editedInterfaceAddresses } from './own-addresses.ts'

/**
 * Static routes: to a network that is not the default route, reserved space, inside a connected
 * network (or around one, through a guest) or already routed; through a next hop on a connected network that is not the
 * router's own address.
 */

/** A route's canonical network; routes whose CIDR is no network have none. */
const ROUTE_BY_NETWORK: Key<'staticRoutes'> = {
  collection: 'staticRoutes',
  of: (_, index, ix) => {
    const cidr = routeNetwork(ix, index)
    return cidr === undefined ? undefined : formatNetwork(cidr)
  },
}

function routeNetwork(ix: ConfigIndex, index: number): Cidr | undefined {
  const parsed = ix.routeCidrs[index]
  return parsed !== undefined && 'cidr' in parsed ? parsed.cidr : undefined
}

export const staticRoutes: DomainCheck = {
  check(ix, push, only) {
    only.each(ix.config, 'staticRoutes', (r, i) => {
      const { owners } = ix.ownAddresses
      const { connected } = ix
      const path = `/staticRoutes/${i}`
      const parsed = ix.routeCidrs[i]
      const via = parseIpv4(r.via)
      if (parsed !== undefined && 'problem' in parsed) push(`${path}/cidr`, 'ERR_BAD_CIDR', parsed.problem)
      if (parsed !== undefined && 'cidr' in parsed) {
        const { cidr } = parsed
        const key = formatNetwork(cidr)
        // A route inside (or equal to) a connected network would take part of it away. A wider
        // one shadows nothing (the connected network's longer prefix wins), unless it goes
        // through a guest: raw's anti-spoofing lets that guest send from the route's network,
        // which would then include the connected one.
        const viaGuest = via !== undefined && ix.guestNetworks.valid.some((n) => cidrContains(n.cidr, via))
        const shadowed = connected.find((c) => cidrsOverlap(c, cidr) && (viaGuest || cidr.prefix >= c.prefix))
        const reserved = reservedOverlap(cidr)
        if (cidr.prefix === 0) push(`${path}/cidr`, 'ERR_ROUTE_SHADOWS_DEFAULT', 'the default route is the public gateway\'s (interfaces[].gateway, defaultInterface)')
        else if (reserved !== undefined) push(`${path}/cidr`, 'ERR_ADDRESS_RESERVED', `${key} overlaps ${reserved}`)
        else if (shadowed !== undefined) push(`${path}/cidr`, 'ERR_ROUTE_SHADOWS_CONNECTED', `${key} overlaps the connected network ${formatNetwork(shadowed)}`)
        else {
          // Routes to one network share its fate above, so the first of them is the one routed.
          const first = ix.firstSharing(ROUTE_BY_NETWORK, i)
          if (first !== i) push(`${path}/cidr`, 'ERR_DUPLICATE_ROUTE', `${key} is already routed by /staticRoutes/${first}`)
        }
      }
      if (via !== undefined && owners.has(via)) {
        push(`${path}/via`, 'ERR_ROUTE_VIA_SELF', `${r.via} is ${owners.get(via)}`)
      } else if (via !== undefined && !connected.some((c) => cidrContains(c, via))) {
        push(`${path}/via`, 'ERR_UNREACHABLE_NEXT_HOP', `${r.via} is on no connected network`)
      }
    })
  },
  affected(ix, edit, picks) {
    if (edit.collection === 'staticRoutes') {
      const keys = editedValues(edit, 'staticRoutes', (r) => {
        const cidr = parseCidr(r.cidr)
        return cidr === undefined ? undefined : formatNetwork(cidr)
      })
      picks.all('staticRoutes', ix.where('staticRoutes', (_, i) => {
        const cidr = routeNetwork(ix, i)
        return cidr !== undefined && keys.includes(formatNetwork(cidr))
      }))
      return
    }
    const { cidrs, addresses } = connectedChangedBy(ix, edit)
    if (cidrs.length === 0 && addresses.length === 0) return
    picks.all('staticRoutes', ix.where('staticRoutes', (r, i) => {
      const cidr = routeNetwork(ix, i)
      const via = parseIpv4(r.via)
      return (cidr !== undefined && cidrs.some((c) => cidrsOverlap(c, cidr)))
        || (via !== undefined && (addresses.includes(via) || cidrs.some((c) => cidrContains(c, via))))
    }))
  },
}

/**
 * The connected networks and own addresses an edit can add, remove or hand to another holder:
 * those of the edited guest network, interface or public IP, and for a public IP also those of
 * the public IPs with the same ip (which of them is accepted may change).
 */
function connectedChangedBy(ix: ConfigIndex, edit: Edit): { cidrs: Cidr[]; addresses: number[] } {
  if (edit.collection === 'guestNetworks') {
    const { cidrs, routers } = editedNetworks(edit)
    return { cidrs, addresses: routers }
  }
  if (edit.collection === 'interfaces') {
    const cidrs = editedValues(edit, 'interfaces', (i) => i.addresses).flat().flatMap((a) => parseCidr(a) ?? [])
    return { cidrs, addresses: editedInterfaceAddresses(edit) }
  }
  if (edit.collection === 'publicIps') {
    const ips = editedValues(edit, 'publicIps', (p) => p.ip)
    const subnets = [...editedValues(edit, 'publicIps', (p) => p), ...ix.where('publicIps', (p) => ips.includes(p.ip)).flatMap((i) => ix.config.publicIps[i] ?? [])]
    const cidrs = subnets.flatMap((p) => {
      const address = parseIpv4(p.ip)
      return address === undefined ? [] : [{ address, prefix: p.prefixLength }]
    })
    return { cidrs, addresses: cidrs.map((c) => c.address) }
  }
  return { cidrs: [], addresses: [] }
}
