import { cidrContains, formatNetwork, parseCidr, parseIpv4, type Cidr } from '../core/ipv4.ts'
import type { InterfaceSpec, StaticRoute } from '../router/model/config.ts'
import { cidrOf, hostSetup, networkOfNic, readDns, readInternalDns, resolversOf, withMac } from './common.ts'
import { ROUTERD_DEFAULTS, ROUTERD_PORT, STORAGED_DEFAULTS, STORAGED_PORT } from './defaults.ts'
import type { KeyReader } from './keys.ts'
import type { BootLink, BootPlan, StoragedBootConfig } from './plan.ts'

/**
 * `type=secstorage`: storaged, plus routerd in role hostnet for the VM's own links.
 * CloudStack's SSVM NIC layout: eth0 control (link-local on KVM; sshd and both control APIs),
 * eth1 management (the pod's network: `mgmtcidr` is reached via `localgw` there), eth2 public
 * (the default route through `gateway`; downloads and uploads), and eth3 storage when the zone
 * has a storage network (`storageip`, `storagenetmask`, `storagegateway`).
 *
 * routerd (role hostnet) owns the links, their addresses and routes, and the VM's firewall: SSH
 * and both APIs on the control link, 80 and 443 on the public IP, and no new web connection out
 * of the management link but to the internal sites the management server lists later
 * (SecStorageVMSetupCommand's allowedInternalSites → PUT /v1/config/internalSites/<id>).
 */
export function translateSecstorage(r: KeyReader): Omit<BootPlan, 'type' | 'problems'> {
  const name = r.hostname('name', 'the VM needs its host name')
  const control = r.nic(0, 'the control NIC (eth0) of the SSVM needs its link-local address and netmask', { linkLocal: true })
  const mgmt = r.nic(1, 'the management NIC (eth1) of the SSVM needs its address and netmask')
  const pub = r.nic(2, 'the public NIC (eth2) of the SSVM needs its address and netmask')
  const gateway = r.ipv4('gateway', 'the public network\'s gateway holds the default route')
  const dns = readDns(r)
  const internalDns = readInternalDns(r)
  const resolvers = resolversOf(internalDns, dns)
  const macs = r.macs('nic_macs')
  const authorizedKey = r.base64('authorized_key')

  // The management server, which the SSVM's agent dials (host may list several, comma-separated;
  // the first is checked) on port (the agent port, 8250 by default).
  const hostText = r.raw('host')
  const hosts = hostText === undefined ? r.missing('host', 'the management server\'s address is needed for the SSVM\'s checks') : hostText.split(',').map((h) => r.server('host', h))
  const port = r.integer('port', 'the management server\'s agent port is needed for the SSVM\'s checks', 1, 65535)

  // mgmtcidr via localgw on eth1 (common.sh adds it only when both are given).
  const mgmtcidrText = r.raw('mgmtcidr')
  const localgw = r.ipv4('localgw', mgmtcidrText === undefined ? false : 'mgmtcidr is routed via localgw on the management NIC')
  let mgmtcidr: string | undefined
  if (mgmtcidrText !== undefined) {
    const parsed = parseCidr(mgmtcidrText)
    if (parsed === undefined || !mgmtcidrText.includes('/') || parsed.prefix === 0) r.invalid('mgmtcidr', mgmtcidrText, 'must be an IPv4 network in CIDR notation (e.g. 10.0.0.0/16)')
    else mgmtcidr = formatNetwork(parsed)
  } else if (localgw !== undefined) r.missing('mgmtcidr', 'localgw is given, and the management network it leads to is not')
  if (localgw !== undefined && mgmt !== undefined && !cidrContains(parseCidr(cidrOf(mgmt))!, parseIpv4(localgw)!)) {
    r.invalid('localgw', localgw, `must be inside the management network ${networkOfNic(mgmt)} (eth1ip/eth1mask)`)
  }
  if (gateway !== undefined && pub !== undefined && !cidrContains(parseCidr(cidrOf(pub))!, parseIpv4(gateway)!)) {
    r.invalid('gateway', gateway, `must be inside the public network ${networkOfNic(pub)} (eth2ip/eth2mask)`)
  }

  // The storage NIC is optional, but half of it is a mistake.
  const storageip = r.ipv4('storageip', r.raw('storagenetmask') === undefined ? false : 'storagenetmask is given without the storage NIC\'s address')
  const storagePrefix = r.mask('storagenetmask', storageip === undefined ? false : 'storageip is given without its netmask')
  const storage = storageip === undefined || storagePrefix === undefined ? undefined : { ip: storageip, prefix: storagePrefix }
  // Checked, not used: CloudStack leaves the storage network connected only (its route via
  // storagegateway is commented out in common.sh).
  r.ipv4('storagegateway', false)

  if (r.problems.length > 0 || name === undefined || control === undefined || mgmt === undefined || pub === undefined || gateway === undefined) return {}
  const first = hosts?.[0]
  if (first === undefined || port === undefined) return {}

  const links: BootLink[] = [
    withMac({ name: 'eth0', role: 'control', address: cidrOf(control) }, macs, 0),
    withMac({ name: 'eth1', role: 'management', address: cidrOf(mgmt) }, macs, 1),
    withMac({ name: 'eth2', role: 'public', address: cidrOf(pub) }, macs, 2),
    ...(storage === undefined ? [] : [withMac({ name: 'eth3', role: 'storage', address: cidrOf(storage) }, macs, 3)]),
  ]
  const match = (l: BootLink) => (l.mac !== undefined ? { mac: l.mac } : { name: l.name })
  const [controlLink, mgmtLink, pubLink, storageLink] = links as [BootLink, BootLink, BootLink, BootLink | undefined]
  const interfaces: InterfaceSpec[] = [
    { id: 'control', role: 'control', ...match(controlLink), addresses: [cidrOf(control)] },
    { id: 'management', role: 'management', ...match(mgmtLink), addresses: [cidrOf(mgmt)], ...(localgw === undefined ? {} : { gateway: localgw }) },
    { id: 'public', role: 'public', ...match(pubLink), gateway },
    ...(storageLink === undefined || storage === undefined ? [] : [{ id: 'storage', role: 'storage' as const, ...match(storageLink), addresses: [cidrOf(storage)] }]),
  ]
  const connected = [mgmt, pub, ...(storage === undefined ? [] : [storage])].map((nic) => parseCidr(cidrOf(nic))!)
  const storaged: StoragedBootConfig = {
    listen: { host: control.ip, port: STORAGED_PORT }, ...STORAGED_DEFAULTS,
    checks: {
      managementAddress: { host: first.host, port },
      // ssvm-check.sh resolves a fixed public name; the boot line names none, so DNS is checked
      // by resolving the management server only when it is given by name.
      ...(first.isName ? { dnsName: first.host } : {}),
    },
  }
  return {
    host: hostSetup(name, { link: 'eth0', address: control.ip }, resolvers, authorizedKey, [], []),
    routerd: {
      daemonConfig: {
        listen: { host: control.ip, port: ROUTERD_PORT }, ...ROUTERD_DEFAULTS,
        // storaged's API is on the control link too.
        controlPorts: [...ROUTERD_DEFAULTS.controlPorts, STORAGED_PORT], role: 'hostnet',
      },
      initialDocument: {
        interfaces,
        publicIps: [{ id: 'public', ip: pub.ip, prefixLength: pub.prefix, interface: 'public' }],
        // Uploads and template copies reach storaged's public listener on 80 and 443 (CloudStack's
        // SSVM opens both on its public NIC); nothing else reaches the public IP.
        firewallRules: [
          { id: 'http', publicIp: pub.ip, protocol: 'tcp', ports: { start: 80 } },
          { id: 'https', publicIp: pub.ip, protocol: 'tcp', ports: { start: 443 } },
        ],
        staticRoutes: managementRoutes(mgmtcidr, localgw, connected, [...(hosts ?? []).flatMap((h) => (h === undefined || h.isName ? [] : [h.host])), ...internalDns]),
        defaultInterface: 'public',
      },
    },
    storaged: { daemonConfig: storaged },
  }
}

/**
 * Pure. What goes through the management gateway (localgw), as CloudStack's SSVM routes it: the
 * management network (mgmtcidr) unless the management NIC is on it, and each management server
 * and internal resolver that is on no network of the VM nor inside mgmtcidr.
 */
function managementRoutes(mgmtcidr: string | undefined, localgw: string | undefined, connected: readonly Cidr[], hosts: readonly string[]): StaticRoute[] {
  if (localgw === undefined) return []
  const routes: StaticRoute[] = []
  const network = mgmtcidr === undefined ? undefined : parseCidr(mgmtcidr)
  const onLink = network !== undefined && connected.some((c) => c.prefix <= network.prefix && cidrContains(c, network.address))
  if (network !== undefined && !onLink) routes.push({ id: 'mgmtcidr', cidr: formatNetwork(network), via: localgw })
  for (const host of [...new Set(hosts)]) {
    const address = parseIpv4(host)!
    if (connected.some((c) => cidrContains(c, address)) || (network !== undefined && cidrContains(network, address))) continue
    routes.push({ id: `host-${host.replaceAll('.', '-')}`, cidr: `${host}/32`, via: localgw })
  }
  return routes
}
