import { cidrContains, parseIpv4 } from '../../../core/ipv4.ts'
import { editedValues, type DomainCheck } from './domain.ts'
import { checkInterfaceRef } from './interfaces.ts'

/**
 * Gateways and the default route: a public interface's gateway should be in one of its public
 * subnets (a warning: a provider may route it otherwise), and the defaultInterface is a public
 * interface with a gateway.
 */

export const defaultRoute: DomainCheck = {
  check(ix, push, only) {
    only.each(ix.config, 'interfaces', (iface, i) => {
      if (iface.role !== 'public' || iface.gateway === undefined) return
      const gw = parseIpv4(iface.gateway)
      const own = ix.publicIpsOn(iface.id)
      if (gw !== undefined && own.length > 0 && !own.some((p) => cidrContains(p.cidr, gw))) {
        push(`/interfaces/${i}/gateway`, 'WARN_GATEWAY_OFF_NETWORK', `${iface.gateway} is in none of this interface's public subnets`, 'warning')
      }
    })
    const id = ix.config.defaultInterface
    if (only.defaultInterface && id !== undefined && checkInterfaceRef(ix, id, 'public', '/defaultInterface', push)) {
      if (ix.interfaceById.get(id)?.gateway === undefined) push('/defaultInterface', 'ERR_NO_GATEWAY', `interface "${id}" has no gateway`)
    }
  },
  affected(ix, edit, picks) {
    if (edit.collection === 'interfaces') {
      picks.all('interfaces', ix.where('interfaces', () => true))
      picks.defaultInterface()
      return
    }
    // Which public IPs an interface has may change for the interfaces of the edited one and of
    // those sharing its ip (which of them is accepted may change).
    const ips = editedValues(edit, 'publicIps', (p) => p.ip)
    if (ips.length === 0) return
    const ids = new Set(editedValues(edit, 'publicIps', (p) => p.interface))
    for (const i of ix.where('publicIps', (p) => ips.includes(p.ip))) ids.add(ix.config.publicIps[i]?.interface ?? '')
    picks.all('interfaces', ix.where('interfaces', (iface) => ids.has(iface.id)))
  },
}
