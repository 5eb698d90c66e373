import { describe, expect, it } from 'vitest'
import { validateConfig } from '../../../src/router/model/parse.ts'

const facts = { links: [{ name: 'eth0', mac: '02:00:00:00:00:01' }, { name: 'eth1', mac: '02:00:00:00:00:02' }], controlPorts: [] }
const shared = {
  interfaces: [{ id: 'g', role: 'guest', name: 'eth0' }],
  guestNetworks: [{ id: 'n', interface: 'g', cidr: '10.1.1.0/24', routerIp: '10.1.1.1', dhcp: { gateway: '10.1.1.254' } }],
  dhcpHosts: [{ id: 'vm1', network: 'n', mac: '02:00:00:00:10:01', ip: '10.1.1.10' }],
}

describe('roles and optional collections', () => {
  it('a collection left out is empty: the stored document has every collection', () => {
    const r = validateConfig(shared, facts)
    expect(r.ok).toBe(true)
    if (r.ok) expect(r.config).toMatchObject({ publicIps: [], portForwards: [], staticRoutes: [], dhcpHosts: shared.dhcpHosts })
  })

  it('a dhcpsrvr takes interfaces, guest networks and DHCP hosts, and refuses every other filled collection with its path', () => {
    expect(validateConfig(shared, facts, 'dhcpsrvr').ok).toBe(true)
    const withNat = {
      ...shared,
      interfaces: [...shared.interfaces, { id: 'p', role: 'public', name: 'eth1' }],
      publicIps: [{ id: 'ip', ip: '203.0.113.10', prefixLength: 24, interface: 'p', sourceNat: true }],
      staticRoutes: [{ id: 'r', cidr: '10.9.0.0/16', via: '10.1.1.10' }],
    }
    const r = validateConfig(withNat, facts, 'dhcpsrvr')
    expect(r.ok).toBe(false)
    if (!r.ok) expect(r.diagnostics.map((d) => `${d.path} ${d.code}`)).toEqual(['/publicIps ERR_NOT_IN_ROLE', '/staticRoutes ERR_NOT_IN_ROLE'])
    expect(validateConfig(withNat, facts, 'router').ok).toBe(true)
  })

  it('an empty collection of another role is no problem (a full document from a client that sends every collection)', () => {
    expect(validateConfig({ ...shared, publicIps: [], portForwards: [] }, facts, 'dhcpsrvr').ok).toBe(true)
  })
})
