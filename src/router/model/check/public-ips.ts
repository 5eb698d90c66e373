import { editedValues, type DomainCheck } from './domain.ts'
import type { Push } from './diagnostics.ts'
import type { ConfigIndex } from './index.ts'
import { checkInterfaceRef } from './interfaces.ts'

/**
 * Public IPs: on a public interface, an ordinary unicast address that is not its subnet's
 * network or broadcast address, each address once, one source-NAT IP per interface.
 */

export const publicIps: DomainCheck = {
  check(ix, push, only) {
    only.each(ix.config, 'publicIps', (p, i) => {
      const { refused, byIp, sourceNatByInterface } = ix.publicIps
      const path = `/publicIps/${i}`
      checkInterfaceRef(ix, p.interface, 'public', `${path}/interface`, push)
      const why = refused[i]
      if (why !== undefined) {
        push(`${path}/ip`, 'ERR_ADDRESS_RESERVED', why)
        return
      }
      const first = byIp.get(p.ip)
      if (first !== undefined && first.index !== i) push(`${path}/ip`, 'ERR_DUPLICATE_ADDRESS', `${p.ip} is already /publicIps/${first.index}`)
      const other = p.sourceNat === true ? sourceNatByInterface.get(p.interface) : undefined
      if (other !== undefined && other !== i) {
        push(`${path}/sourceNat`, 'ERR_DUPLICATE_SOURCE_NAT', `interface "${p.interface}" already has source-NAT IP /publicIps/${other}`)
      }
    })
  },
  affected(ix, edit, picks) {
    const interfaceIds = editedValues(edit, 'interfaces', (i) => i.id)
    if (interfaceIds.length > 0) picks.all('publicIps', ix.where('publicIps', (p) => interfaceIds.includes(p.interface)))
    // Which item holds an address or an interface's source NAT first depends on all that claim it.
    const ips = editedValues(edit, 'publicIps', (p) => p.ip)
    const snatInterfaces = editedValues(edit, 'publicIps', (p) => p.interface)
    if (ips.length > 0) {
      picks.all('publicIps', ix.where('publicIps', (p) => ips.includes(p.ip) || (p.sourceNat === true && snatInterfaces.includes(p.interface))))
    }
  },
}

/** Reports an ip that is none of the router's public IPs; true when it is one. */
export function checkPublicIpRef(ix: ConfigIndex, ip: string, path: string, push: Push): boolean {
  if (!ix.publicIps.byIp.has(ip)) {
    push(path, 'ERR_UNKNOWN_PUBLIC_IP', `${ip} is not one of the router's public IPs`)
    return false
  }
  return true
}

/** The public IPs whose acceptance an edit of public IPs can change: those with the ip of either version. */
export function publicIpsSharingEditedIp(ix: ConfigIndex, ips: readonly string[]): number[] {
  return ips.length === 0 ? [] : ix.where('publicIps', (p) => ips.includes(p.ip))
}
