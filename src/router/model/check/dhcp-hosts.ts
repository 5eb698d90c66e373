import { cidrContains, hasHostBits, parseCidr, parseIpv4, usableHost } from '../../../core/ipv4.ts'
import type { DhcpHost } from '../config.ts'
import { editedValues, type DomainCheck } from './domain.ts'
import type { ConfigIndex, Key } from './index.ts'

/**
 * DHCP hosts (static leases): in a guest network that exists, at a usable address of it that is
 * not the router's, and per network one host per MAC, per address and per name (DNS answers one
 * address per name); their classless routes go through a gateway on the network.
 */

/** A key of the hosts of known networks, scoped to the network (hosts of unknown networks claim nothing). */
function hostKey(field: (h: DhcpHost) => string | undefined): Key<'dhcpHosts'> {
  return {
    collection: 'dhcpHosts',
    of: (h, _, ix) => {
      const value = field(h)
      return value === undefined || !ix.guestNetworks.byId.has(h.network) ? undefined : `${h.network} ${value}`
    },
  }
}

const HOST_BY_MAC = hostKey((h) => h.mac.toLowerCase())
/** A host by network and address (vm-data.ts finds a VM's host by it too). */
export const HOST_BY_IP = hostKey((h) => h.ip)
const HOST_BY_NAME = hostKey((h) => h.hostname?.toLowerCase())

/** The network a host's checks use: the last guest network with its id. */
function networkOf(ix: ConfigIndex, id: string): { cidr: ReturnType<typeof parseCidr>; router: number | undefined } | undefined {
  const index = ix.guestNetworks.byId.get(id)
  const entry = index === undefined ? undefined : ix.guestNetworks.items[index]
  return entry === undefined ? undefined : { cidr: entry.loose, router: entry.router }
}

export const dhcpHosts: DomainCheck = {
  check(ix, push, only) {
    only.each(ix.config, 'dhcpHosts', (h, i) => {
      const path = `/dhcpHosts/${i}`
      const net = networkOf(ix, h.network)
      if (net === undefined) {
        push(`${path}/network`, 'ERR_UNKNOWN_NETWORK', `no guest network has id "${h.network}"`)
        return
      }
      const ip = parseIpv4(h.ip)
      if (ip !== undefined && net.cidr !== undefined) {
        if (!usableHost(net.cidr, ip)) push(`${path}/ip`, 'ERR_ADDRESS_OUTSIDE_NETWORK', `${h.ip} is not a usable host address of network "${h.network}"`)
        else if (ip === net.router) push(`${path}/ip`, 'ERR_ADDRESS_IN_USE', `${h.ip} is the router's own address`)
      }
      const mac = ix.firstSharing(HOST_BY_MAC, i)
      if (mac !== i) push(`${path}/mac`, 'ERR_DUPLICATE_MAC', `${h.mac} already has a lease in /dhcpHosts/${mac}`)
      const addr = ix.firstSharing(HOST_BY_IP, i)
      if (addr !== i) push(`${path}/ip`, 'ERR_ADDRESS_IN_USE', `${h.ip} is already leased to /dhcpHosts/${addr}`)
      if (h.hostname !== undefined) {
        const name = ix.firstSharing(HOST_BY_NAME, i)
        if (name !== i) push(`${path}/hostname`, 'ERR_DUPLICATE_HOSTNAME', `"${h.hostname}" is already the name of /dhcpHosts/${name}`)
      }
      h.staticRoutes?.forEach((r, j) => {
        const rpath = `${path}/staticRoutes/${j}`
        const dest = parseCidr(r.destination)
        if (dest === undefined || !r.destination.includes('/') || hasHostBits(dest)) push(`${rpath}/destination`, 'ERR_BAD_CIDR', `"${r.destination}" is not an IPv4 network with host bits clear`)
        const gw = parseIpv4(r.gateway)
        if (gw !== undefined && net.cidr !== undefined && !cidrContains(net.cidr, gw)) {
          push(`${rpath}/gateway`, 'ERR_UNREACHABLE_NEXT_HOP', `${r.gateway} is not on network "${h.network}"`)
        }
      })
    })
  },
  affected(ix, edit, picks) {
    const networks = editedValues(edit, 'guestNetworks', (n) => n.id)
    if (networks.length > 0) picks.all('dhcpHosts', ix.where('dhcpHosts', (h) => networks.includes(h.network)))
    // Which host holds a MAC, address or name first in its network depends on all that claim it.
    const versions = editedValues(edit, 'dhcpHosts', (h) => h)
    if (versions.length > 0) {
      picks.all('dhcpHosts', ix.where('dhcpHosts', (h) => versions.some((v) => v.network === h.network
        && (v.mac.toLowerCase() === h.mac.toLowerCase() || v.ip === h.ip
          || (v.hostname !== undefined && v.hostname.toLowerCase() === h.hostname?.toLowerCase())))))
    }
  },
}
