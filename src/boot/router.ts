import type { Static } from 'typebox'
import { cidrContains, parseCidr, parseIpv4 } from '../core/ipv4.ts'
import type { InterfaceSpec, NetworkDhcp, RouterConfigInput } from '../router/model/config.ts'
import { cidrOf, hostSetup, networkOfNic, readDns, readInternalDns, resolversOf, withMac } from './common.ts'
import { ROUTERD_DEFAULTS, ROUTERD_PORT } from './defaults.ts'
import type { KeyReader } from './keys.ts'
import type { BootLink, BootPlan } from './plan.ts'

/**
 * `type=router` and `type=dhcpsrvr`: routerd in that role. CloudStack's NIC layout for both:
 * eth0 is the guest network (eth0ip is the router's own guest address, the guests' gateway and
 * DNS server on a router), eth1 the control link (link-local, SSH on 3922, the control API),
 * and on a router eth2 the first public network, holding the source-NAT address and the default
 * route through `gateway`. On a dhcpsrvr `gateway` is the shared network's own router: handed
 * to guests as their router and the VM's own default route, and nothing is forwarded.
 *
 * eth0ip is therefore not the control address on these roles (it is on the SSVM and vpcrouter);
 * CloudStack's setup_sshd binds sshd to eth1ip for both.
 */
export function translateRouter(r: KeyReader, role: 'router' | 'dhcpsrvr'): Omit<BootPlan, 'type' | 'problems'> {
  const name = r.hostname('name', 'the VM needs its host name')
  const guest = r.nic(0, `the guest NIC (eth0) of a ${role} needs its address and netmask`)
  const control = r.nic(1, 'the control NIC (eth1) needs its link-local address and netmask', { linkLocal: true })
  const pub = role === 'router' ? r.nic(2, 'the public NIC (eth2) of a router needs its source-NAT address and netmask') : undefined
  const gateway = r.ipv4('gateway', role === 'router' ? 'the public network\'s gateway holds the default route' : 'the shared network\'s gateway is handed to guests as their router')
  const dns = readDns(r)
  const internalDns = readInternalDns(r)
  const resolvers = resolversOf(internalDns, dns)
  const domain = r.domain('domain')
  const searchDomains = r.domains('dnssearchorder')
  const externalDns = r.boolean('useextdns', false)
  if (externalDns && dns.length === 0 && r.raw('dns1') === undefined) r.missing('dns1', 'useextdns=true hands guests the external resolvers, and none is given')
  const macs = r.macs('nic_macs')
  const authorizedKey = r.base64('authorized_key')
  const guestMtu = r.integer('privateMtu', false, 576, 9216)
  const publicMtu = role === 'router' ? r.integer('publicMtu', false, 576, 9216) : undefined

  // dhcprange is the guest network's first address and cidrsize its prefix (the MS derives both
  // from the network's CIDR); CloudStack uses them only to limit DNS to the network. They must
  // agree with eth0, which they are read from here.
  const dhcprange = r.ipv4('dhcprange', false)
  const cidrsize = r.integer('cidrsize', false, 1, 31)
  if (guest !== undefined) {
    const net = parseCidr(cidrOf(guest))!
    if (dhcprange !== undefined && !cidrContains(net, parseIpv4(dhcprange)!)) r.invalid('dhcprange', dhcprange, `must be inside the guest network ${networkOfNic(guest)} (eth0ip/eth0mask)`)
    if (cidrsize !== undefined && cidrsize !== guest.prefix) r.invalid('cidrsize', String(cidrsize), `must be the guest network's prefix length ${guest.prefix} (eth0mask)`)
  }
  if (gateway !== undefined && pub !== undefined && !cidrContains(parseCidr(cidrOf(pub))!, parseIpv4(gateway)!)) {
    r.invalid('gateway', gateway, `must be inside the public network ${networkOfNic(pub)} (eth2ip/eth2mask)`)
  }
  if (role === 'dhcpsrvr' && gateway !== undefined && guest !== undefined && !cidrContains(parseCidr(cidrOf(guest))!, parseIpv4(gateway)!)) {
    r.invalid('gateway', gateway, `must be inside the shared network ${networkOfNic(guest)} (eth0ip/eth0mask)`)
  }

  if (r.problems.length > 0 || name === undefined || guest === undefined || control === undefined || gateway === undefined) return {}
  if (role === 'router' && pub === undefined) return {}

  const links: BootLink[] = [
    withMac({ name: 'eth0', role: 'guest', address: cidrOf(guest) }, macs, 0),
    withMac({ name: 'eth1', role: 'control', address: cidrOf(control) }, macs, 1),
    ...(pub === undefined ? [] : [withMac({ name: 'eth2', role: 'public', address: cidrOf(pub) }, macs, 2)]),
  ]
  const match = (l: BootLink) => (l.mac !== undefined ? { mac: l.mac } : { name: l.name })
  const [guestLink, controlLink, pubLink] = links as [BootLink, BootLink, BootLink | undefined]

  const interfaces: InterfaceSpec[] = [
    { id: 'control', role: 'control', ...match(controlLink), addresses: [cidrOf(control)] },
    { id: 'guest', role: 'guest', ...match(guestLink), ...(guestMtu === undefined ? {} : { mtu: guestMtu }) },
  ]
  if (pubLink !== undefined) interfaces.push({ id: 'public', role: 'public', ...match(pubLink), ...(publicMtu === undefined ? {} : { mtu: publicMtu }), gateway })

  // useextdns: guests are given the upstream resolvers and the appliance serves no DNS.
  const dhcp: Static<typeof NetworkDhcp> = {
    ...(role === 'dhcpsrvr' ? { gateway } : {}),
    ...(externalDns && dns.length > 0 ? { dnsServers: dns } : {}),
    ...(searchDomains === undefined ? {} : { searchDomains }),
  }
  const document: Static<typeof RouterConfigInput> = {
    interfaces,
    ...(pub === undefined ? {} : { publicIps: [{ id: 'source-nat', ip: pub.ip, prefixLength: pub.prefix, interface: 'public', sourceNat: true }] }),
    guestNetworks: [{
      id: 'guest', interface: 'guest', cidr: networkOfNic(guest), routerIp: guest.ip,
      ...(domain === undefined ? {} : { domain }),
      ...(dns.length === 0 ? {} : { dnsServers: dns }),
      ...(Object.keys(dhcp).length === 0 ? {} : { dhcp }),
      ...(externalDns ? { dns: { enabled: false } } : {}),
    }],
    ...(pub === undefined ? {} : { defaultInterface: 'public' }),
  }
  return {
    // A dhcpsrvr's document has no public interface to hold its default route: the image sets it.
    host: role === 'dhcpsrvr'
      ? hostSetup(name, { link: 'eth1', address: control.ip }, resolvers, authorizedKey, [guestLink], [{ destination: 'default', via: gateway, link: 'eth0' }])
      : hostSetup(name, { link: 'eth1', address: control.ip }, resolvers, authorizedKey, [], []),
    routerd: {
      daemonConfig: { listen: { host: control.ip, port: ROUTERD_PORT }, ...ROUTERD_DEFAULTS, controlPorts: [...ROUTERD_DEFAULTS.controlPorts], role },
      initialDocument: document,
    },
  }
}
