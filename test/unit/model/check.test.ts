import { describe, expect, it } from 'vitest'
import { emptyConfig, type RouterConfig } from '../../../src/router/model/config.ts'
import { validateConfig } from '../../../src/router/model/parse.ts'
import { checkConfig } from '../../../src/router/model/check.ts'

function base(): RouterConfig {
  return {
    ...emptyConfig(),
    interfaces: [
      { id: 'g', role: 'guest', name: 'eth1' },
      { id: 'p', role: 'public', name: 'eth2', gateway: '203.0.113.1' },
    ],
    publicIps: [
      { id: 'snat', ip: '203.0.113.10', prefixLength: 24, interface: 'p', sourceNat: true },
      { id: 'pf', ip: '203.0.113.12', prefixLength: 24, interface: 'p' },
    ],
    guestNetworks: [{ id: 'n1', interface: 'g', cidr: '10.1.1.0/24', routerIp: '10.1.1.1' }],
  }
}

const pf = (id: string, start: number, end = start, extra: object = {}) => ({
  id, publicIp: '203.0.113.12', protocol: 'tcp' as const, publicPorts: { start, end }, privateIp: '10.1.1.5', privatePorts: { start, end }, ...extra,
})

const cases: { name: string; edit: (c: RouterConfig) => void; expect: [path: string, code: string][] }[] = [
  { name: 'a valid config has no problems', edit: () => {}, expect: [] },
  {
    name: 'DHCP hosts: unknown network, address outside or taken, MAC and name twice, bad route, bad range',
    edit: (c) => {
      c.guestNetworks[0] = { ...c.guestNetworks[0]!, dhcp: { range: { start: '10.1.1.200', end: '10.1.1.100' }, gateway: '10.2.0.1' } }
      const h = (id: string, mac: string, ip: string, extra: object = {}) => ({ id, network: 'n1', mac, ip, ...extra })
      c.dhcpHosts = [
        h('a', '02:00:00:00:00:0a', '10.1.1.10', { hostname: 'web' }),
        h('b', '02:00:00:00:00:0A', '10.1.1.10', { hostname: 'WEB' }),
        h('c', '02:00:00:00:00:0c', '10.1.1.1'),
        h('d', '02:00:00:00:00:0d', '10.9.9.9', { staticRoutes: [{ destination: '172.16.0.1/12', gateway: '10.9.0.1' }] }),
        { ...h('e', '02:00:00:00:00:0e', '10.1.1.20'), network: 'nope' },
      ]
    },
    expect: [
      ['/guestNetworks/0/dhcp/gateway', 'ERR_ADDRESS_OUTSIDE_NETWORK'],
      ['/guestNetworks/0/dhcp/range/end', 'ERR_BAD_ADDRESS_RANGE'],
      ['/dhcpHosts/1/mac', 'ERR_DUPLICATE_MAC'],
      ['/dhcpHosts/1/ip', 'ERR_ADDRESS_IN_USE'],
      ['/dhcpHosts/1/hostname', 'ERR_DUPLICATE_HOSTNAME'],
      ['/dhcpHosts/2/ip', 'ERR_ADDRESS_IN_USE'],
      ['/dhcpHosts/3/ip', 'ERR_ADDRESS_OUTSIDE_NETWORK'],
      ['/dhcpHosts/3/staticRoutes/0/destination', 'ERR_BAD_CIDR'],
      ['/dhcpHosts/3/staticRoutes/0/gateway', 'ERR_UNREACHABLE_NEXT_HOP'],
      ['/dhcpHosts/4/network', 'ERR_UNKNOWN_NETWORK'],
    ],
  },
  {
    name: 'overlapping port forwards on one IP and protocol are reported on the later one',
    edit: (c) => { c.portForwards = [pf('a', 100, 200), pf('b', 150, 160), pf('c', 201)] },
    expect: [['/portForwards/1/publicPorts', 'ERR_PORT_FORWARD_OVERLAP']],
  },
  {
    name: 'the same ports on another protocol do not overlap',
    edit: (c) => { c.portForwards = [pf('a', 100), { ...pf('b', 100), protocol: 'udp' }] },
    expect: [],
  },
  {
    name: 'an overlap hidden behind a long earlier range is still found',
    edit: (c) => { c.portForwards = [pf('a', 1, 1000), pf('b', 10), pf('c', 500)] },
    expect: [['/portForwards/1/publicPorts', 'ERR_PORT_FORWARD_OVERLAP'], ['/portForwards/2/publicPorts', 'ERR_PORT_FORWARD_OVERLAP']],
  },
  {
    name: 'a private address outside every guest network',
    edit: (c) => { c.portForwards = [{ ...pf('a', 80), privateIp: '10.9.9.9' }] },
    expect: [['/portForwards/0/privateIp', 'ERR_ADDRESS_OUTSIDE_NETWORK']],
  },
  {
    name: 'an unknown public IP and an unknown network',
    edit: (c) => {
      c.firewallRules = [{ id: 'f', publicIp: '198.51.100.99', protocol: 'all' }]
      c.egressRules = [{ id: 'e', network: 'nope', protocol: 'all' }]
    },
    expect: [['/firewallRules/0/publicIp', 'ERR_UNKNOWN_PUBLIC_IP'], ['/egressRules/0/network', 'ERR_UNKNOWN_NETWORK']],
  },
  {
    name: 'duplicate ids in one collection',
    edit: (c) => { c.portForwards = [pf('a', 80), pf('a', 81)] },
    expect: [['/portForwards/1/id', 'ERR_DUPLICATE_ID']],
  },
  {
    name: 'bad CIDRs: host bits set, prefix too long',
    edit: (c) => {
      c.guestNetworks = [{ id: 'n1', interface: 'g', cidr: '10.1.1.7/24', routerIp: '10.1.1.1' }]
      c.firewallRules = [{ id: 'f', publicIp: '203.0.113.10', protocol: 'tcp', ports: { start: 22 }, sourceCidrs: ['1.2.3.4/33'] }]
    },
    expect: [['/guestNetworks/0/cidr', 'ERR_BAD_CIDR'], ['/firewallRules/0/sourceCidrs/0', 'ERR_BAD_CIDR']],
  },
  {
    name: 'port ranges: reversed, and public/private of different length',
    edit: (c) => { c.portForwards = [{ ...pf('a', 90), publicPorts: { start: 90, end: 80 }, privatePorts: { start: 1, end: 5 } }] },
    expect: [['/portForwards/0/publicPorts/end', 'ERR_BAD_PORT_RANGE'], ['/portForwards/0/privatePorts', 'ERR_PORT_RANGE_LENGTH']],
  },
  {
    name: 'static NAT on the source-NAT IP, and a port forward on a static-NAT IP',
    edit: (c) => {
      c.staticNats = [{ id: 's1', publicIp: '203.0.113.10', privateIp: '10.1.1.5' }, { id: 's2', publicIp: '203.0.113.12', privateIp: '10.1.1.6' }]
      c.portForwards = [pf('a', 80)]
    },
    expect: [['/staticNats/0/publicIp', 'ERR_STATIC_NAT_ON_SOURCE_NAT'], ['/portForwards/0/publicIp', 'ERR_PORT_FORWARD_ON_STATIC_NAT']],
  },
  {
    name: 'ports on icmp and an ICMP code without type',
    edit: (c) => { c.firewallRules = [{ id: 'f', publicIp: '203.0.113.10', protocol: 'icmp', ports: { start: 1 }, icmpCode: 0 }] },
    expect: [['/firewallRules/0/ports', 'ERR_PORTS_WITHOUT_PROTOCOL'], ['/firewallRules/0/icmpCode', 'ERR_ICMP_CODE_WITHOUT_TYPE']],
  },
  {
    name: 'interface references: wrong role, unknown id, router IP outside its network',
    edit: (c) => {
      c.publicIps.push({ id: 'x', ip: '203.0.113.20', prefixLength: 24, interface: 'g' })
      c.guestNetworks = [{ id: 'n1', interface: 'zz', cidr: '10.1.1.0/24', routerIp: '10.1.2.1' }]
    },
    expect: [['/publicIps/2/interface', 'ERR_INTERFACE_ROLE'], ['/guestNetworks/0/interface', 'ERR_UNKNOWN_INTERFACE'], ['/guestNetworks/0/routerIp', 'ERR_ADDRESS_OUTSIDE_NETWORK']],
  },
  {
    name: 'a static route whose next hop is on no connected network',
    edit: (c) => { c.staticRoutes = [{ id: 'r', cidr: '172.16.0.0/12', via: '192.0.2.1' }] },
    expect: [['/staticRoutes/0/via', 'ERR_UNREACHABLE_NEXT_HOP']],
  },
  {
    name: 'public IPs that are unspecified, loopback, broadcast, multicast or link-local are refused',
    edit: (c) => {
      c.publicIps.push(
        { id: 'x0', ip: '0.0.0.0', prefixLength: 24, interface: 'p' },
        { id: 'x1', ip: '127.0.0.1', prefixLength: 8, interface: 'p' },
        { id: 'x2', ip: '255.255.255.255', prefixLength: 32, interface: 'p' },
        { id: 'x3', ip: '224.0.0.1', prefixLength: 24, interface: 'p' },
        { id: 'x4', ip: '169.254.1.1', prefixLength: 16, interface: 'p' },
      )
    },
    expect: [
      ['/publicIps/2/ip', 'ERR_ADDRESS_RESERVED'], ['/publicIps/3/ip', 'ERR_ADDRESS_RESERVED'], ['/publicIps/4/ip', 'ERR_ADDRESS_RESERVED'],
      ['/publicIps/5/ip', 'ERR_ADDRESS_RESERVED'], ['/publicIps/6/ip', 'ERR_ADDRESS_RESERVED'],
    ],
  },
  {
    name: "an address owned twice: a guest network's router IP used as a public IP",
    edit: (c) => { c.publicIps.push({ id: 'x', ip: '10.1.1.1', prefixLength: 24, interface: 'p' }) },
    expect: [['/publicIps/2/ip', 'ERR_ADDRESS_IN_USE']],
  },
  {
    name: 'guest networks in reserved space and a reserved router IP are refused',
    edit: (c) => {
      c.interfaces.push({ id: 'g2', role: 'guest', name: 'eth3' }, { id: 'g3', role: 'guest', name: 'eth4' })
      c.guestNetworks.push(
        { id: 'n2', interface: 'g2', cidr: '127.0.0.0/8', routerIp: '127.0.0.1' },
        { id: 'n3', interface: 'g3', cidr: '224.1.0.0/16', routerIp: '224.1.0.1' },
      )
    },
    expect: [['/guestNetworks/1/cidr', 'ERR_ADDRESS_RESERVED'], ['/guestNetworks/2/cidr', 'ERR_ADDRESS_RESERVED']],
  },
  {
    name: "static routes via the router's own address, for the default route, and shadowing a connected network",
    edit: (c) => {
      c.staticRoutes = [
        { id: 'own', cidr: '172.16.0.0/12', via: '10.1.1.1' },
        { id: 'def', cidr: '0.0.0.0/0', via: '10.1.1.254' },
        { id: 'conn', cidr: '10.1.1.0/25', via: '10.1.1.254' },
        { id: 'pub', cidr: '203.0.113.0/24', via: '10.1.1.254' },
        { id: 'lo', cidr: '127.0.0.0/8', via: '10.1.1.254' },
        { id: 'ok', cidr: '192.168.0.0/16', via: '10.1.1.254' },
      ]
    },
    expect: [
      ['/staticRoutes/0/via', 'ERR_ROUTE_VIA_SELF'],
      ['/staticRoutes/1/cidr', 'ERR_ROUTE_SHADOWS_DEFAULT'],
      ['/staticRoutes/2/cidr', 'ERR_ROUTE_SHADOWS_CONNECTED'],
      ['/staticRoutes/3/cidr', 'ERR_ROUTE_SHADOWS_CONNECTED'],
      ['/staticRoutes/4/cidr', 'ERR_ADDRESS_RESERVED'],
    ],
  },
  {
    name: 'a static route around a connected network shadows nothing, unless a guest is its next hop (it could then send from the connected network)',
    edit: (c) => {
      c.staticRoutes = [
        { id: 'wide-pub', cidr: '203.0.0.0/16', via: '203.0.113.254' },
        { id: 'wide-guest', cidr: '10.0.0.0/8', via: '10.1.1.254' },
      ]
    },
    expect: [['/staticRoutes/1/cidr', 'ERR_ROUTE_SHADOWS_CONNECTED']],
  },
  {
    name: 'VM data: for a DHCP host of a known network, once per VM, a list only under public-keys',
    edit: (c) => {
      c.dhcpHosts = [{ id: 'h', network: 'n1', mac: '02:00:00:00:00:0a', ip: '10.1.1.10' }]
      c.vmData = [
        { id: 'ok', network: 'n1', ip: '10.1.1.10', metadata: { 'public-keys': ['a', 'b'] } },
        { id: 'twice', network: 'n1', ip: '10.1.1.10' },
        { id: 'nohost', network: 'n1', ip: '10.1.1.11', metadata: { 'vm-id': ['a'] } },
        { id: 'nonet', network: 'n9', ip: '10.1.1.10' },
      ]
    },
    expect: [
      ['/vmData/1/ip', 'ERR_DUPLICATE_VM_DATA'],
      ['/vmData/2/ip', 'ERR_NO_DHCP_HOST'],
      ['/vmData/2/metadata/vm-id', 'ERR_METADATA_LIST'],
      ['/vmData/3/network', 'ERR_UNKNOWN_NETWORK'],
    ],
  },
  {
    name: 'a gateway that is loopback or multicast is refused',
    edit: (c) => { c.interfaces[1] = { id: 'p', role: 'public', name: 'eth2', gateway: '127.0.0.1' } },
    expect: [['/interfaces/1/gateway', 'ERR_ADDRESS_RESERVED']],
  },
]

describe('checkConfig', () => {
  for (const c of cases) {
    it(c.name, () => {
      const config = base()
      c.edit(config)
      const result = validateConfig(config)
      const got = result.ok ? [] : result.diagnostics.filter((d) => d.severity === 'error').map((d) => [d.path, d.code])
      expect(got).toEqual(c.expect)
    })
  }

  it('user data must be stored, at the size named, when the stored blobs are known (edits), and is not checked without them (the stored config at start)', () => {
    const config = base()
    config.dhcpHosts = [{ id: 'h', network: 'n1', mac: '02:00:00:00:00:0a', ip: '10.1.1.10' }, { id: 'h2', network: 'n1', mac: '02:00:00:00:00:0b', ip: '10.1.1.11' }]
    config.vmData = [
      { id: 'missing', network: 'n1', ip: '10.1.1.10', userData: { sha256: 'a'.repeat(64), size: 1 } },
      { id: 'size', network: 'n1', ip: '10.1.1.11', userData: { sha256: 'b'.repeat(64), size: 1 } },
    ]
    const facts = { links: [{ name: 'eth1', mac: '02:00:00:00:00:01' }, { name: 'eth2', mac: '02:00:00:00:00:02' }], controlPorts: [] }
    const found = checkConfig(config, { ...facts, userData: new Map([['b'.repeat(64), 2]]) }).filter((d) => d.severity === 'error').map((d) => [d.path, d.code])
    expect(found).toEqual([['/vmData/0/userData/sha256', 'ERR_USER_DATA_MISSING'], ['/vmData/1/userData/size', 'ERR_USER_DATA_SIZE']])
    expect(checkConfig(config, facts).filter((d) => d.severity === 'error')).toEqual([])
  })

  it("warns when a VM lacks a key cloud-init's CloudStack datasource cannot do without", () => {
    const config = base()
    config.dhcpHosts = [{ id: 'h', network: 'n1', mac: '02:00:00:00:00:0a', ip: '10.1.1.10' }]
    config.vmData = [{ id: 'v', network: 'n1', ip: '10.1.1.10', metadata: { 'instance-id': 'i-1', 'availability-zone': '' } }]
    const found = checkConfig(config).map((d) => [d.severity, d.path, d.code, d.message])
    expect(found).toEqual([['warning', '/vmData/0/metadata', 'WARN_METADATA_INCOMPLETE', "cloud-init's CloudStack datasource gives up without availability-zone (CloudStack always sends them)"]])
  })

  it('schema problems are all listed with their paths, unknown fields named', () => {
    const config = base() as unknown as Record<string, unknown[]>
    ;(config['interfaces'] as Record<string, unknown>[])[0] = { id: 'g', role: 'router', name: 'eth1', colour: 'red' }
    ;(config['publicIps'] as Record<string, unknown>[])[1] = { id: 'pf', ip: '203.0.113.300', prefixLength: 40, interface: 'p' }
    const result = validateConfig(config)
    expect(result.ok).toBe(false)
    if (result.ok) return
    expect(result.diagnostics.map((d) => [d.path, d.code])).toEqual([
      ['/interfaces/0/colour', 'ERR_UNKNOWN_FIELD'],
      ['/interfaces/0/role', 'ERR_SCHEMA'],
      ['/publicIps/1/ip', 'ERR_SCHEMA'],
      ['/publicIps/1/prefixLength', 'ERR_SCHEMA'],
    ])
  })

  it('every schema problem is listed, however many (TypeBox alone stops at 8)', () => {
    const config = base() as unknown as Record<string, unknown[]>
    config['publicIps'] = Array.from({ length: 30 }, (_, i) => ({ id: `ip${i}`, ip: `203.0.113.${300 + i}`, prefixLength: 24, interface: 'p' }))
    const result = validateConfig(config)
    expect(result.ok).toBe(false)
    if (!result.ok) expect(result.diagnostics.map((d) => d.path)).toEqual(Array.from({ length: 30 }, (_, i) => `/publicIps/${i}/ip`))
  })

  it('an empty source or destination list is refused (it would mean everyone); omitting it or 0.0.0.0/0 says everyone', () => {
    const config = base()
    config.portForwards = [pf('a', 80, 80, { sourceCidrs: [] }), pf('b', 81, 81, { sourceCidrs: ['0.0.0.0/0'] }), pf('c', 82)]
    config.firewallRules = [{ id: 'f', publicIp: '203.0.113.10', protocol: 'all', sourceCidrs: [] }]
    config.egressRules = [{ id: 'e', network: 'n1', protocol: 'all', sourceCidrs: [], destinationCidrs: [] }]
    const result = validateConfig(config)
    expect(result.ok ? [] : result.diagnostics.map((d) => [d.path, d.code])).toEqual([
      ['/portForwards/0/sourceCidrs', 'ERR_SCHEMA'],
      ['/firewallRules/0/sourceCidrs', 'ERR_SCHEMA'],
      ['/egressRules/0/sourceCidrs', 'ERR_SCHEMA'],
      ['/egressRules/0/destinationCidrs', 'ERR_SCHEMA'],
    ])
  })

  it('domains must be encodable in DNS: no empty label, labels of at most 63 bytes, at most 253 characters', () => {
    const domain = (d: string) => {
      const config = base()
      config.guestNetworks[0] = { ...config.guestNetworks[0]!, domain: d }
      const result = validateConfig(config)
      return result.ok ? 'ok' : result.diagnostics.map((x) => `${x.path} ${x.code}`).join()
    }
    expect(domain('cloud.internal')).toBe('ok')
    expect(domain('a-b.c0.example')).toBe('ok')
    expect(domain(`${'a'.repeat(63)}.b`)).toBe('ok')
    expect(domain('a..b')).toBe('/guestNetworks/0/domain ERR_SCHEMA')
    expect(domain('a.')).toBe('/guestNetworks/0/domain ERR_SCHEMA')
    expect(domain(`${'a'.repeat(70)}.b`)).toBe('/guestNetworks/0/domain ERR_SCHEMA')
    expect(domain(Array.from({ length: 64 }, () => 'abc').join('.'))).toBe('/guestNetworks/0/domain ERR_SCHEMA')
  })

  it('host facts: an interface MAC not on this host is an error', () => {
    const config = base()
    config.interfaces[0] = { id: 'g', role: 'guest', mac: '02:00:00:00:00:99' }
    const result = validateConfig(config, { links: [{ name: 'eth2', mac: '02:00:00:00:00:02' }], controlPorts: [] })
    expect(result.ok ? [] : result.diagnostics.map((d) => [d.path, d.code])).toEqual([
      ['/interfaces/0/mac', 'ERR_INTERFACE_NOT_FOUND'],
    ])
  })

  it('a scoped check of one port forward finds its overlap, duplicate id and bad reference, and ignores the other items', () => {
    const config = base()
    config.portForwards = [pf('a', 100, 200), { ...pf('z', 5000), privateIp: '10.9.9.9' }, pf('a', 150), pf('c', 300)]
    const codes = (index: number) => checkConfig(config, undefined, { collection: 'portForwards', index }).map((d) => `${d.path} ${d.code}`)
    expect(codes(2)).toEqual(['/portForwards/2/id ERR_DUPLICATE_ID', '/portForwards/2/publicPorts ERR_PORT_FORWARD_OVERLAP'])
    expect(codes(3)).toEqual([])
    expect(codes(1)).toEqual(['/portForwards/1/privateIp ERR_ADDRESS_OUTSIDE_NETWORK'])
  })
})
