import type { Diagnostic } from '../../core/errors.ts'
import type { RouterConfig } from './config.ts'
import { resolveLinkName, type HostFacts } from './facts.ts'
import {
  broadcastOf, cidrContains, cidrsOverlap, formatNetwork, hasHostBits, networkOf, parseCidr, parseIpv4, reservedKind, reservedOverlap,
  usableHost, type Cidr,
} from '../../core/ipv4.ts'
import { checkDhcp } from './check-dhcp.ts'
import { normalizePorts, type Ports } from './normalize.ts'

/**
 * Semantic checks on a config that already passed schema validation. Pure: returns every
 * problem found, each with its JSON pointer, never stops at the first.
 */

type Push = (path: string, code: string, message: string, severity?: Diagnostic['severity']) => void

function collector(): { diagnostics: Diagnostic[]; push: Push } {
  const diagnostics: Diagnostic[] = []
  const push: Push = (path, code, message, severity = 'error') => { diagnostics.push({ severity, path, code, message }) }
  return { diagnostics, push }
}

function checkNetworkCidr(text: string, path: string, push: Push): Cidr | undefined {
  const cidr = parseCidr(text)
  if (cidr === undefined || !text.includes('/')) {
    push(path, 'ERR_BAD_CIDR', `"${text}" is not an IPv4 network in CIDR notation`)
    return undefined
  }
  if (hasHostBits(cidr)) {
    push(path, 'ERR_BAD_CIDR', `"${text}" has host bits set; the network is ${formatNetwork(cidr)}`)
    return undefined
  }
  return cidr
}

function checkHostCidr(text: string, path: string, push: Push): Cidr | undefined {
  const cidr = parseCidr(text)
  if (cidr === undefined || !text.includes('/')) {
    push(path, 'ERR_BAD_CIDR', `"${text}" is not an IPv4 address with a prefix length`)
    return undefined
  }
  return cidr
}

function checkPorts(range: { start: number; end?: number }, path: string, push: Push): Ports {
  const ports = normalizePorts(range)
  if (ports.end < ports.start) push(`${path}/end`, 'ERR_BAD_PORT_RANGE', `end ${ports.end} is below start ${ports.start}`)
  return ports
}

/**
 * Limits the checks of a leaf collection (one nothing else refers to) to one item: an item edit
 * with 10,000 forwards present checks that forward against the rest, not all pairs again. The
 * collections other items refer to are always checked whole (they are small).
 */
export interface CheckScope {
  collection: 'portForwards' | 'firewallRules' | 'egressRules'
  index: number
}

function inScope(scope: CheckScope | undefined, collection: string, index: number): boolean {
  return scope === undefined || scope.collection !== collection || scope.index === index
}

function checkDuplicateIds(config: RouterConfig, push: Push, scope: CheckScope | undefined): void {
  for (const [collection, items] of Object.entries(config)) {
    if (!Array.isArray(items)) continue
    if (scope !== undefined && scope.collection === collection) {
      const id = (items[scope.index] as { id: string } | undefined)?.id
      const first = items.findIndex((item: { id: string }) => item.id === id)
      if (first !== scope.index) push(`/${collection}/${scope.index}/id`, 'ERR_DUPLICATE_ID', `id "${id}" is already used by /${collection}/${first}`)
      continue
    }
    const seen = new Map<string, number>()
    items.forEach((item: { id: string }, index) => {
      const first = seen.get(item.id)
      if (first !== undefined) {
        push(`/${collection}/${index}/id`, 'ERR_DUPLICATE_ID', `id "${item.id}" is already used by /${collection}/${first}`)
      } else seen.set(item.id, index)
    })
  }
}

interface MatchFields { protocol: string; ports?: { start: number; end?: number }; icmpType?: number; icmpCode?: number }

function checkMatch(rule: MatchFields, path: string, push: Push): void {
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

function checkCidrList(list: readonly string[] | undefined, path: string, push: Push): void {
  list?.forEach((text, i) => checkNetworkCidr(text, `${path}/${i}`, push))
}

/**
 * Pure. Every semantic problem in `config`; host facts, when given, also check interface
 * matches; a scope limits a leaf collection's checks to one item (see CheckScope).
 */
export function checkConfig(config: RouterConfig, facts?: HostFacts, scope?: CheckScope): Diagnostic[] {
  const { diagnostics, push } = collector()
  checkDuplicateIds(config, push, scope)

  // Interfaces.
  const interfaces = new Map(config.interfaces.map((i) => [i.id, i]))
  const claimedLinks = new Map<string, number>()
  config.interfaces.forEach((iface, i) => {
    const path = `/interfaces/${i}`
    if ((iface.mac === undefined) === (iface.name === undefined)) {
      push(path, 'ERR_INTERFACE_MATCH', 'give exactly one of mac or name to match the interface')
    }
    iface.addresses?.forEach((a, j) => checkHostCidr(a, `${path}/addresses/${j}`, push))
    if (iface.gateway !== undefined && iface.role !== 'public') {
      push(`${path}/gateway`, 'ERR_GATEWAY_NOT_PUBLIC', `only a public interface has a gateway (role is ${iface.role})`)
    }
    const gateway = iface.gateway === undefined ? undefined : parseIpv4(iface.gateway)
    const gatewayReserved = gateway === undefined ? undefined : reservedKind(gateway)
    if (gatewayReserved !== undefined) push(`${path}/gateway`, 'ERR_ADDRESS_RESERVED', `${iface.gateway} is ${gatewayReserved}, not a gateway`)
    if (facts !== undefined && (iface.mac !== undefined || iface.name !== undefined)) {
      const link = resolveLinkName(facts, iface)
      const field = iface.mac !== undefined ? 'mac' : 'name'
      if (link === undefined) {
        push(`${path}/${field}`, 'ERR_INTERFACE_NOT_FOUND', `no link on this host has ${field} ${iface.mac ?? iface.name}`)
      } else if (claimedLinks.has(link)) {
        push(`${path}/${field}`, 'ERR_INTERFACE_CLAIMED', `link ${link} is already matched by /interfaces/${claimedLinks.get(link)}`)
      } else claimedLinks.set(link, i)
    }
  })
  const interfaceWithRole = (id: string, role: string, path: string): boolean => {
    const iface = interfaces.get(id)
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

  // Public IPs.
  const publicIps = new Map<string, { index: number; sourceNat: boolean; cidr: Cidr }>()
  const sourceNatByInterface = new Map<string, number>()
  config.publicIps.forEach((p, i) => {
    const path = `/publicIps/${i}`
    interfaceWithRole(p.interface, 'public', `${path}/interface`)
    const address = parseIpv4(p.ip)
    const reserved = address === undefined ? undefined : reservedKind(address)
    const subnet = address === undefined ? undefined : { address, prefix: p.prefixLength }
    if (reserved !== undefined) {
      push(`${path}/ip`, 'ERR_ADDRESS_RESERVED', `${p.ip} is ${reserved}, not a public address`)
      return
    }
    if (subnet !== undefined && subnet.prefix < 31 && (address === networkOf(subnet) || address === broadcastOf(subnet))) {
      push(`${path}/ip`, 'ERR_ADDRESS_RESERVED', `${p.ip} is the network or broadcast address of ${formatNetwork(subnet)}`)
      return
    }
    if (publicIps.has(p.ip)) {
      push(`${path}/ip`, 'ERR_DUPLICATE_ADDRESS', `${p.ip} is already /publicIps/${publicIps.get(p.ip)?.index}`)
    } else if (address !== undefined) {
      publicIps.set(p.ip, { index: i, sourceNat: p.sourceNat ?? false, cidr: { address, prefix: p.prefixLength } })
    }
    if (p.sourceNat === true) {
      const other = sourceNatByInterface.get(p.interface)
      if (other !== undefined) {
        push(`${path}/sourceNat`, 'ERR_DUPLICATE_SOURCE_NAT', `interface "${p.interface}" already has source-NAT IP /publicIps/${other}`)
      } else sourceNatByInterface.set(p.interface, i)
    }
  })
  const knownPublicIp = (ip: string, path: string): boolean => {
    if (!publicIps.has(ip)) {
      push(path, 'ERR_UNKNOWN_PUBLIC_IP', `${ip} is not one of the router's public IPs`)
      return false
    }
    return true
  }

  // Guest networks.
  const networks: { id: string; cidr: Cidr; index: number }[] = []
  const networkByInterface = new Map<string, number>()
  config.guestNetworks.forEach((n, i) => {
    const path = `/guestNetworks/${i}`
    interfaceWithRole(n.interface, 'guest', `${path}/interface`)
    if (networkByInterface.has(n.interface)) {
      push(`${path}/interface`, 'ERR_INTERFACE_SHARED', `interface "${n.interface}" already carries /guestNetworks/${networkByInterface.get(n.interface)}`)
    } else networkByInterface.set(n.interface, i)
    const cidr = checkNetworkCidr(n.cidr, `${path}/cidr`, push)
    if (cidr === undefined) return
    const reserved = reservedOverlap(cidr)
    if (reserved !== undefined) {
      push(`${path}/cidr`, 'ERR_ADDRESS_RESERVED', `${n.cidr} overlaps ${reserved}`)
      return
    }
    const router = parseIpv4(n.routerIp)
    if (router !== undefined && !usableHost(cidr, router)) {
      push(`${path}/routerIp`, 'ERR_ADDRESS_OUTSIDE_NETWORK', `${n.routerIp} is not a usable host address of ${n.cidr}`)
    }
    for (const other of networks) {
      if (cidrsOverlap(other.cidr, cidr)) {
        push(`${path}/cidr`, 'ERR_NETWORK_OVERLAP', `${n.cidr} overlaps /guestNetworks/${other.index}`)
      }
    }
    networks.push({ id: n.id, cidr, index: i })
  })
  const networkIds = new Set(config.guestNetworks.map((n) => n.id))

  // Addresses the router holds itself: each once, and none inside a guest network it does not serve.
  const ownAddresses = new Map<number, string>()
  for (const n of networks) {
    const router = parseIpv4(config.guestNetworks[n.index]?.routerIp ?? '')
    if (router !== undefined) ownAddresses.set(router, `the router IP of /guestNetworks/${n.index}`)
  }
  config.interfaces.forEach((iface, i) => iface.addresses?.forEach((a, j) => {
    const cidr = parseCidr(a)
    if (cidr === undefined) return
    const owner = ownAddresses.get(cidr.address)
    if (owner !== undefined) push(`/interfaces/${i}/addresses/${j}`, 'ERR_ADDRESS_IN_USE', `${a} is already ${owner}`)
    else ownAddresses.set(cidr.address, `an address of /interfaces/${i}`)
  }))
  for (const { index, cidr } of publicIps.values()) {
    const path = `/publicIps/${index}/ip`
    const owner = ownAddresses.get(cidr.address)
    const guest = networks.find((n) => cidrContains(n.cidr, cidr.address))
    if (owner !== undefined) push(path, 'ERR_ADDRESS_IN_USE', `${config.publicIps[index]?.ip} is already ${owner}`)
    else if (guest !== undefined) push(path, 'ERR_NETWORK_OVERLAP', `${config.publicIps[index]?.ip} is inside guest network /guestNetworks/${guest.index}`)
    else ownAddresses.set(cidr.address, `public IP /publicIps/${index}`)
  }

  const inGuestNetwork = (ip: string, path: string): void => {
    const address = parseIpv4(ip)
    if (address === undefined) return
    if (!networks.some((n) => cidrContains(n.cidr, address))) {
      push(path, 'ERR_ADDRESS_OUTSIDE_NETWORK', `${ip} is in no guest network`)
    } else if (ownAddresses.has(address)) {
      push(path, 'ERR_ADDRESS_IN_USE', `${ip} is ${ownAddresses.get(address)}, not a guest VM`)
    }
  }

  // Static NAT.
  const staticNatPublic = new Map<string, number>()
  const staticNatPrivate = new Map<string, number>()
  config.staticNats.forEach((s, i) => {
    const path = `/staticNats/${i}`
    if (knownPublicIp(s.publicIp, `${path}/publicIp`) && publicIps.get(s.publicIp)?.sourceNat === true) {
      push(`${path}/publicIp`, 'ERR_STATIC_NAT_ON_SOURCE_NAT', `${s.publicIp} is a source-NAT IP and cannot be static-NATed`)
    }
    if (staticNatPublic.has(s.publicIp)) {
      push(`${path}/publicIp`, 'ERR_DUPLICATE_STATIC_NAT', `${s.publicIp} is already static-NATed by /staticNats/${staticNatPublic.get(s.publicIp)}`)
    } else staticNatPublic.set(s.publicIp, i)
    if (staticNatPrivate.has(s.privateIp)) {
      push(`${path}/privateIp`, 'ERR_DUPLICATE_STATIC_NAT', `${s.privateIp} already has static NAT /staticNats/${staticNatPrivate.get(s.privateIp)}`)
    } else staticNatPrivate.set(s.privateIp, i)
    inGuestNetwork(s.privateIp, `${path}/privateIp`)
  })

  // Port forwards: sorted sweep per (ip, protocol) finds overlaps in O(n log n).
  const spans: { key: string; start: number; end: number; index: number }[] = []
  config.portForwards.forEach((r, i) => {
    if (!inScope(scope, 'portForwards', i)) return
    const path = `/portForwards/${i}`
    knownPublicIp(r.publicIp, `${path}/publicIp`)
    const pub = checkPorts(r.publicPorts, `${path}/publicPorts`, push)
    const priv = checkPorts(r.privatePorts, `${path}/privatePorts`, push)
    if (pub.end - pub.start !== priv.end - priv.start) {
      push(`${path}/privatePorts`, 'ERR_PORT_RANGE_LENGTH', `private range has ${priv.end - priv.start + 1} ports, public has ${pub.end - pub.start + 1}`)
    }
    if (staticNatPublic.has(r.publicIp)) {
      push(`${path}/publicIp`, 'ERR_PORT_FORWARD_ON_STATIC_NAT', `${r.publicIp} is static-NATed by /staticNats/${staticNatPublic.get(r.publicIp)}`)
    }
    inGuestNetwork(r.privateIp, `${path}/privateIp`)
    checkCidrList(r.sourceCidrs, `${path}/sourceCidrs`, push)
    if (pub.end >= pub.start) spans.push({ key: `${r.publicIp}/${r.protocol}`, start: pub.start, end: pub.end, index: i })
  })
  if (scope?.collection === 'portForwards') {
    // One forward against all others of its IP and protocol: a linear scan.
    for (const span of spans) {
      const r = config.portForwards[span.index]
      config.portForwards.forEach((other, j) => {
        if (j === span.index || other.publicIp !== r?.publicIp || other.protocol !== r.protocol) return
        const o = normalizePorts(other.publicPorts)
        if (o.start <= span.end && span.start <= o.end) {
          push(`/portForwards/${span.index}/publicPorts`, 'ERR_PORT_FORWARD_OVERLAP', `${r.protocol} ${r.publicIp}:${span.start}-${span.end} overlaps /portForwards/${j}`)
        }
      })
    }
    spans.length = 0
  }
  spans.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : a.start - b.start))
  let reach: (typeof spans)[number] | undefined
  for (const span of spans) {
    if (reach !== undefined && reach.key === span.key && span.start <= reach.end) {
      const r = config.portForwards[span.index]
      push(`/portForwards/${span.index}/publicPorts`, 'ERR_PORT_FORWARD_OVERLAP',
        `${r?.protocol} ${r?.publicIp}:${span.start}-${span.end} overlaps /portForwards/${reach.index}`)
    }
    if (reach === undefined || reach.key !== span.key || span.end > reach.end) reach = span
  }

  // Firewall and egress rules.
  config.firewallRules.forEach((r, i) => {
    if (!inScope(scope, 'firewallRules', i)) return
    const path = `/firewallRules/${i}`
    knownPublicIp(r.publicIp, `${path}/publicIp`)
    checkMatch(r, path, push)
    checkCidrList(r.sourceCidrs, `${path}/sourceCidrs`, push)
  })
  config.egressRules.forEach((r, i) => {
    if (!inScope(scope, 'egressRules', i)) return
    const path = `/egressRules/${i}`
    if (!networkIds.has(r.network)) push(`${path}/network`, 'ERR_UNKNOWN_NETWORK', `no guest network has id "${r.network}"`)
    checkMatch(r, path, push)
    checkCidrList(r.sourceCidrs, `${path}/sourceCidrs`, push)
    checkCidrList(r.destinationCidrs, `${path}/destinationCidrs`, push)
  })

  // Static routes: the next hop must be on a connected network.
  const connected: Cidr[] = [...networks.map((n) => n.cidr), ...[...publicIps.values()].map((p) => p.cidr)]
  for (const iface of config.interfaces) for (const a of iface.addresses ?? []) {
    const cidr = parseCidr(a)
    if (cidr) connected.push(cidr)
  }
  const routeCidrs = new Map<string, number>()
  config.staticRoutes.forEach((r, i) => {
    const path = `/staticRoutes/${i}`
    const cidr = checkNetworkCidr(r.cidr, `${path}/cidr`, push)
    if (cidr !== undefined) {
      const key = formatNetwork(cidr)
      const shadowed = connected.find((c) => cidrsOverlap(c, cidr))
      const reserved = reservedOverlap(cidr)
      if (cidr.prefix === 0) push(`${path}/cidr`, 'ERR_ROUTE_SHADOWS_DEFAULT', 'the default route is the public gateway\'s (interfaces[].gateway, defaultInterface)')
      else if (reserved !== undefined) push(`${path}/cidr`, 'ERR_ADDRESS_RESERVED', `${key} overlaps ${reserved}`)
      else if (shadowed !== undefined) push(`${path}/cidr`, 'ERR_ROUTE_SHADOWS_CONNECTED', `${key} overlaps the connected network ${formatNetwork(shadowed)}`)
      else if (routeCidrs.has(key)) push(`${path}/cidr`, 'ERR_DUPLICATE_ROUTE', `${key} is already routed by /staticRoutes/${routeCidrs.get(key)}`)
      else routeCidrs.set(key, i)
    }
    const via = parseIpv4(r.via)
    if (via !== undefined && ownAddresses.has(via)) {
      push(`${path}/via`, 'ERR_ROUTE_VIA_SELF', `${r.via} is ${ownAddresses.get(via)}`)
    } else if (via !== undefined && !connected.some((c) => cidrContains(c, via))) {
      push(`${path}/via`, 'ERR_UNREACHABLE_NEXT_HOP', `${r.via} is on no connected network`)
    }
  })

  // Gateways and the default route.
  config.interfaces.forEach((iface, i) => {
    if (iface.role !== 'public' || iface.gateway === undefined) return
    const gw = parseIpv4(iface.gateway)
    const own = [...publicIps.values()].filter((p) => config.publicIps[p.index]?.interface === iface.id)
    if (gw !== undefined && own.length > 0 && !own.some((p) => cidrContains(p.cidr, gw))) {
      push(`/interfaces/${i}/gateway`, 'WARN_GATEWAY_OFF_NETWORK', `${iface.gateway} is in none of this interface's public subnets`, 'warning')
    }
  })
  if (config.defaultInterface !== undefined && interfaceWithRole(config.defaultInterface, 'public', '/defaultInterface')) {
    if (interfaces.get(config.defaultInterface)?.gateway === undefined) {
      push('/defaultInterface', 'ERR_NO_GATEWAY', `interface "${config.defaultInterface}" has no gateway`)
    }
  }
  checkDhcp(config, push)
  return diagnostics
}
