import { cidrsOverlap, parseCidr, parseIpv4, usableHost, type Cidr } from '../../../core/ipv4.ts'
import { editedValues, type DomainCheck, type Edit } from './domain.ts'
import { checkInterfaceRef } from './interfaces.ts'

/**
 * Guest networks: one per guest interface, a network CIDR outside reserved space and outside
 * every earlier network, the router IP a usable host address of it.
 */

export const guestNetworks: DomainCheck = {
  check(ix, push, only) {
    only.each(ix.config, 'guestNetworks', (n, i) => {
      const { items, valid, byInterface } = ix.guestNetworks
      const path = `/guestNetworks/${i}`
      checkInterfaceRef(ix, n.interface, 'guest', `${path}/interface`, push)
      const first = byInterface.get(n.interface)
      if (first !== i) push(`${path}/interface`, 'ERR_INTERFACE_SHARED', `interface "${n.interface}" already carries /guestNetworks/${first}`)
      const entry = items[i]
      if (entry === undefined) return
      if ('problem' in entry.parsed) {
        push(`${path}/cidr`, 'ERR_BAD_CIDR', entry.parsed.problem)
        return
      }
      const { cidr } = entry.parsed
      if (entry.reserved !== undefined) {
        push(`${path}/cidr`, 'ERR_ADDRESS_RESERVED', `${n.cidr} overlaps ${entry.reserved}`)
        return
      }
      if (entry.router !== undefined && !usableHost(cidr, entry.router)) {
        push(`${path}/routerIp`, 'ERR_ADDRESS_OUTSIDE_NETWORK', `${n.routerIp} is not a usable host address of ${n.cidr}`)
      }
      for (const other of valid) {
        if (other.index >= i) break
        if (cidrsOverlap(other.cidr, cidr)) push(`${path}/cidr`, 'ERR_NETWORK_OVERLAP', `${n.cidr} overlaps /guestNetworks/${other.index}`)
      }
    })
  },
  affected(ix, edit, picks) {
    const interfaceIds = [...editedValues(edit, 'interfaces', (i) => i.id), ...editedValues(edit, 'guestNetworks', (n) => n.interface)]
    const cidrs = editedNetworks(edit).cidrs
    if (interfaceIds.length === 0 && cidrs.length === 0) return
    const { items } = ix.guestNetworks
    picks.all('guestNetworks', ix.where('guestNetworks', (n, i) => {
      const parsed = items[i]?.parsed
      return interfaceIds.includes(n.interface) || (parsed !== undefined && 'cidr' in parsed && cidrs.some((c) => cidrsOverlap(c, parsed.cidr)))
    }))
  },
}

/**
 * The CIDRs (parsed loosely: a superset of the usable ones) and router IPs of the versions of an
 * edited guest network: addresses inside them or equal to them may be placed differently now.
 */
export function editedNetworks(edit: Edit): { cidrs: Cidr[]; routers: number[] } {
  return {
    cidrs: editedValues(edit, 'guestNetworks', (n) => parseCidr(n.cidr)),
    routers: editedValues(edit, 'guestNetworks', (n) => parseIpv4(n.routerIp)),
  }
}
