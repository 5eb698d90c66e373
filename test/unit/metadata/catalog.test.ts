import { describe, expect, it } from 'vitest'
import { emptyConfig, type RouterConfig } from '../../../src/router/model/config.ts'
import { compileCatalog } from '../../../src/router/services/metadata/catalog.ts'

function config(): RouterConfig {
  return {
    ...emptyConfig(),
    interfaces: [{ id: 'g', role: 'guest', name: 'eth1' }, { id: 'p', role: 'public', name: 'eth2' }],
    publicIps: [
      { id: 'b-snat', ip: '203.0.113.20', prefixLength: 24, interface: 'p', sourceNat: true },
      { id: 'a-snat', ip: '203.0.113.10', prefixLength: 24, interface: 'p', sourceNat: true },
      { id: 'static', ip: '203.0.113.30', prefixLength: 24, interface: 'p' },
    ],
    guestNetworks: [
      { id: 'n1', interface: 'g', cidr: '10.1.1.0/24', routerIp: '10.1.1.1' },
      { id: 'off', interface: 'g', cidr: '10.2.0.0/24', routerIp: '10.2.0.1', metadata: { enabled: false } },
    ],
    staticNats: [{ id: 'sn', publicIp: '203.0.113.30', privateIp: '10.1.1.11' }],
    dhcpHosts: [
      { id: 'h1', network: 'n1', mac: '02:00:00:00:00:01', ip: '10.1.1.10', hostname: 'web-1' },
      { id: 'h2', network: 'n1', mac: '02:00:00:00:00:02', ip: '10.1.1.11' },
    ],
    vmData: [
      { id: 'v1', network: 'n1', ip: '10.1.1.10', metadata: { 'instance-id': 'i-1', 'public-keys': ['ssh-ed25519 A one', '', 'ssh-ed25519 B two'], 'cloud-name': '' } },
      { id: 'v2', network: 'n1', ip: '10.1.1.11', metadata: { 'public-ipv4': '198.51.100.7', 'local-hostname': 'given' }, userData: { sha256: 'a'.repeat(64), size: 3 } },
    ],
  }
}

describe('compileCatalog', () => {
  const [n1, ...rest] = compileCatalog(config())

  it('serves only the networks with metadata on', () => {
    expect(n1?.id).toBe('n1')
    expect(rest).toEqual([])
  })

  it('fills local-hostname, local-ipv4 and public-ipv4 (the source-NAT IP, the first by id) from what the router knows', () => {
    const vm = n1!.vms.get('10.1.1.10')!
    expect(Object.fromEntries(vm.values)).toEqual({
      'instance-id': 'i-1', 'local-hostname': 'web-1', 'local-ipv4': '10.1.1.10', 'public-ipv4': '203.0.113.10',
      'public-keys': 'ssh-ed25519 A one\nssh-ed25519 B two',
    })
    expect(vm.listing).toBe('instance-id\nlocal-hostname\nlocal-ipv4\npublic-ipv4\npublic-keys\n')
    expect(vm.userData).toBeUndefined()
  })

  it('gives a static-NAT VM its own public IP, and lets given values win over the defaults', () => {
    const vm = n1!.vms.get('10.1.1.11')!
    expect(vm.values.get('public-ipv4')).toBe('198.51.100.7')
    expect(vm.values.get('local-hostname')).toBe('given')
    const withoutOverride = compileCatalog({ ...config(), vmData: [{ id: 'v2', network: 'n1', ip: '10.1.1.11' }] })[0]!.vms.get('10.1.1.11')!
    expect(withoutOverride.values.get('public-ipv4')).toBe('203.0.113.30')
    expect(withoutOverride.values.has('local-hostname')).toBe(false)
  })

  it('prefers the source-NAT IP of the default interface', () => {
    const c = config()
    c.interfaces.push({ id: 'p2', role: 'public', name: 'eth3' })
    c.publicIps.push({ id: 'z', ip: '192.0.2.5', prefixLength: 24, interface: 'p2', sourceNat: true })
    c.defaultInterface = 'p2'
    expect(compileCatalog(c)[0]!.vms.get('10.1.1.10')!.values.get('public-ipv4')).toBe('192.0.2.5')
  })

  it('knows no VM of another network by address', () => {
    const c = config()
    c.vmData.push({ id: 'v3', network: 'off', ip: '10.2.0.5' })
    expect(compileCatalog(c)[0]!.vms.has('10.2.0.5')).toBe(false)
  })
})
