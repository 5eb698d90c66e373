import { parseIpv4, usableHost } from '../../../core/ipv4.ts'
import type { DomainCheck } from './domain.ts'

/**
 * The DHCP settings of each guest network: the gateway handed out, the dynamic range and the
 * relay agents are usable host addresses of the network (a relay agent is a host on it: its
 * messages arrive on the network's link). Each depends on its own network only.
 */

export const networkDhcp: DomainCheck = {
  check(ix, push, only) {
    only.each(ix.config, 'guestNetworks', (n, i) => {
      const { items } = ix.guestNetworks
      const dhcp = n.dhcp
      const cidr = items[i]?.loose
      if (dhcp === undefined || cidr === undefined) return
      const path = `/guestNetworks/${i}/dhcp`
      if (dhcp.gateway !== undefined) {
        const gw = parseIpv4(dhcp.gateway)
        if (gw !== undefined && !usableHost(cidr, gw)) push(`${path}/gateway`, 'ERR_ADDRESS_OUTSIDE_NETWORK', `${dhcp.gateway} is not a usable host address of ${n.cidr}`)
      }
      if (dhcp.range !== undefined) {
        const start = parseIpv4(dhcp.range.start)
        const end = parseIpv4(dhcp.range.end)
        if (start !== undefined && !usableHost(cidr, start)) push(`${path}/range/start`, 'ERR_ADDRESS_OUTSIDE_NETWORK', `${dhcp.range.start} is not a usable host address of ${n.cidr}`)
        if (end !== undefined && !usableHost(cidr, end)) push(`${path}/range/end`, 'ERR_ADDRESS_OUTSIDE_NETWORK', `${dhcp.range.end} is not a usable host address of ${n.cidr}`)
        if (start !== undefined && end !== undefined && end < start) push(`${path}/range/end`, 'ERR_BAD_ADDRESS_RANGE', `${dhcp.range.end} is below ${dhcp.range.start}`)
      }
      const router = items[i]?.router
      const relays = new Set<number>()
      dhcp.relays?.forEach((text, j) => {
        const relay = parseIpv4(text)
        if (relay === undefined) return
        if (!usableHost(cidr, relay)) push(`${path}/relays/${j}`, 'ERR_ADDRESS_OUTSIDE_NETWORK', `${text} is not a usable host address of ${n.cidr}`)
        else if (relay === router) push(`${path}/relays/${j}`, 'ERR_ADDRESS_IN_USE', `${text} is the router's own address`)
        else if (relays.has(relay)) push(`${path}/relays/${j}`, 'ERR_DUPLICATE_RELAY', `${text} is listed twice`)
        relays.add(relay)
      })
    })
  },
  affected() {
    // Nothing outside the network itself, which an edit of it selects anyway.
  },
}
