import { parseIpv4, reservedKind } from '../../../core/ipv4.ts'
import type { DomainCheck } from './domain.ts'
import type { Push } from './diagnostics.ts'
import { checkHostCidr } from './fields.ts'
import type { ConfigIndex } from './index.ts'

/**
 * Interfaces: how each is matched on the host (one of mac or name, a link that exists and no
 * other interface matched), its addresses, and a gateway only on a public or management interface.
 */

export const interfaces: DomainCheck = {
  check(ix, push, only) {
    only.each(ix.config, 'interfaces', (iface, i) => {
      const path = `/interfaces/${i}`
      if ((iface.mac === undefined) === (iface.name === undefined)) {
        push(path, 'ERR_INTERFACE_MATCH', 'give exactly one of mac or name to match the interface')
      }
      iface.addresses?.forEach((a, j) => checkHostCidr(a, `${path}/addresses/${j}`, push))
      if (iface.gateway !== undefined && iface.role !== 'public' && iface.role !== 'management') {
        push(`${path}/gateway`, 'ERR_GATEWAY_NOT_PUBLIC', `only a public or management interface has a gateway (role is ${iface.role})`)
      }
      const gateway = iface.gateway === undefined ? undefined : parseIpv4(iface.gateway)
      const gatewayReserved = gateway === undefined ? undefined : reservedKind(gateway)
      if (gatewayReserved !== undefined) push(`${path}/gateway`, 'ERR_ADDRESS_RESERVED', `${iface.gateway} is ${gatewayReserved}, not a gateway`)
      if (ix.facts !== undefined && (iface.mac !== undefined || iface.name !== undefined)) {
        const link = ix.links.links[i]
        const first = link === undefined ? undefined : ix.links.firstClaim.get(link)
        const field = iface.mac !== undefined ? 'mac' : 'name'
        if (link === undefined) {
          push(`${path}/${field}`, 'ERR_INTERFACE_NOT_FOUND', `no link on this host has ${field} ${iface.mac ?? iface.name}`)
        } else if (first !== i) {
          push(`${path}/${field}`, 'ERR_INTERFACE_CLAIMED', `link ${link} is already matched by /interfaces/${first}`)
        }
      }
    })
  },
  affected(ix, edit, picks) {
    // The engine reads the host facts again for an interface edit, so every interface is matched
    // again (there are at most 64); which one claims a link first depends on all of them.
    if (edit.collection === 'interfaces') picks.all('interfaces', ix.where('interfaces', () => true))
  },
}

/** Reports a reference to an interface that does not exist or has another role; true when it is fine. */
export function checkInterfaceRef(ix: ConfigIndex, id: string, role: string, path: string, push: Push): boolean {
  const iface = ix.interfaceById.get(id)
  if (iface === undefined) {
    push(path, 'ERR_UNKNOWN_INTERFACE', `no interface has id "${id}"`)
    return false
  }
  if (iface.role !== role) {
    push(path, 'ERR_INTERFACE_ROLE', `interface "${id}" has role ${iface.role}, expected ${role}`)
    return false
  }
  return true
}
