import type { RouterConfig } from './config.ts'
import { cidrContains, hasHostBits, parseCidr, parseIpv4, usableHost, type Cidr } from '../../core/ipv4.ts'

/**
 * Semantic checks of the DHCP/DNS parts: each network's DHCP settings and the dhcpHosts. Pure;
 * pushes every problem with its JSON pointer (see check.ts).
 */

type Push = (path: string, code: string, message: string, severity?: 'error' | 'warning') => void

interface NetworkInfo { cidr: Cidr | undefined; router: number | undefined }

export function checkDhcp(config: RouterConfig, push: Push): void {
  const networks = new Map<string, NetworkInfo>()
  config.guestNetworks.forEach((n, i) => {
    const cidr = parseCidr(n.cidr)
    const info: NetworkInfo = { cidr, router: parseIpv4(n.routerIp) }
    networks.set(n.id, info)
    const dhcp = n.dhcp
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
    // A relay agent is a host on the network: its messages arrive on the network's link.
    const relays = new Set<number>()
    dhcp.relays?.forEach((text, j) => {
      const relay = parseIpv4(text)
      if (relay === undefined) return
      if (!usableHost(cidr, relay)) push(`${path}/relays/${j}`, 'ERR_ADDRESS_OUTSIDE_NETWORK', `${text} is not a usable host address of ${n.cidr}`)
      else if (relay === info.router) push(`${path}/relays/${j}`, 'ERR_ADDRESS_IN_USE', `${text} is the router's own address`)
      else if (relays.has(relay)) push(`${path}/relays/${j}`, 'ERR_DUPLICATE_RELAY', `${text} is listed twice`)
      relays.add(relay)
    })
  })

  // Per network: one host per MAC, per address and per name (DNS answers one address per name).
  const seen = new Map<string, number>()
  const claim = (key: string, index: number): number | undefined => {
    const first = seen.get(key)
    if (first === undefined) seen.set(key, index)
    return first
  }
  config.dhcpHosts.forEach((h, i) => {
    const path = `/dhcpHosts/${i}`
    const net = networks.get(h.network)
    if (net === undefined) {
      push(`${path}/network`, 'ERR_UNKNOWN_NETWORK', `no guest network has id "${h.network}"`)
      return
    }
    const ip = parseIpv4(h.ip)
    if (ip !== undefined && net.cidr !== undefined) {
      if (!usableHost(net.cidr, ip)) push(`${path}/ip`, 'ERR_ADDRESS_OUTSIDE_NETWORK', `${h.ip} is not a usable host address of network "${h.network}"`)
      else if (ip === net.router) push(`${path}/ip`, 'ERR_ADDRESS_IN_USE', `${h.ip} is the router's own address`)
    }
    const mac = claim(`${h.network} mac ${h.mac.toLowerCase()}`, i)
    if (mac !== undefined) push(`${path}/mac`, 'ERR_DUPLICATE_MAC', `${h.mac} already has a lease in /dhcpHosts/${mac}`)
    const addr = claim(`${h.network} ip ${h.ip}`, i)
    if (addr !== undefined) push(`${path}/ip`, 'ERR_ADDRESS_IN_USE', `${h.ip} is already leased to /dhcpHosts/${addr}`)
    if (h.hostname !== undefined) {
      const name = claim(`${h.network} name ${h.hostname.toLowerCase()}`, i)
      if (name !== undefined) push(`${path}/hostname`, 'ERR_DUPLICATE_HOSTNAME', `"${h.hostname}" is already the name of /dhcpHosts/${name}`)
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
}

