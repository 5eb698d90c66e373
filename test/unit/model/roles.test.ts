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
    if (!r.ok) expect(r.diagnostics.map((d) => `${d.path} ${d.code}`)).toEqual(['/publicIps ERR_NOT_IN_ROLE', '/staticRoutes ERR_NOT_IN_ROLE', '/interfaces/1/role ERR_NOT_IN_ROLE'])
    expect(validateConfig(withNat, facts, 'router').ok).toBe(true)
  })

  it('an empty collection of another role is no problem (a full document from a client that sends every collection)', () => {
    expect(validateConfig({ ...shared, publicIps: [], portForwards: [] }, facts, 'dhcpsrvr').ok).toBe(true)
  })

  const ssvm = {
    interfaces: [
      { id: 'control', role: 'control', name: 'eth0', addresses: ['169.254.3.4/16'] },
      { id: 'mgmt', role: 'management', name: 'eth1', addresses: ['10.0.0.5/24'], gateway: '10.0.0.1' },
    ],
    staticRoutes: [{ id: 'mgmtcidr', cidr: '10.0.0.0/8', via: '10.0.0.1' }],
    internalSites: [{ id: 'mirror', cidr: '10.20.0.10/32' }],
  }

  it('a hostnet takes its own links (control, public, management, storage), routes, firewall rules and internal sites, and nothing of a guest', () => {
    expect(validateConfig(ssvm, facts, 'hostnet')).toMatchObject({ ok: true, warnings: [] })
    const r = validateConfig({ ...ssvm, ...shared, interfaces: [...ssvm.interfaces, { id: 'g', role: 'guest', name: 'eth9' }] }, undefined, 'hostnet')
    expect(r.ok).toBe(false)
    if (!r.ok) expect(r.diagnostics.map((d) => `${d.path} ${d.code}`)).toEqual(['/guestNetworks ERR_NOT_IN_ROLE', '/dhcpHosts ERR_NOT_IN_ROLE', '/interfaces/2/role ERR_NOT_IN_ROLE'])
  })

  it('internal sites and management links belong to hostnet alone', () => {
    const r = validateConfig(ssvm, facts, 'router')
    expect(r.ok).toBe(false)
    if (!r.ok) expect(r.diagnostics.map((d) => `${d.path} ${d.code}`)).toEqual(['/internalSites ERR_NOT_IN_ROLE', '/interfaces/1/role ERR_NOT_IN_ROLE'])
  })

  it('an internal site is a network, listed once, and needs a management link to be reached through', () => {
    const bad = { ...ssvm, internalSites: [{ id: 'a', cidr: '10.20.0.10/24' }, { id: 'b', cidr: '10.30.0.0/16' }, { id: 'c', cidr: '10.30.0.0/16' }, { id: 'd', cidr: '127.0.0.0/8' }] }
    const r = validateConfig(bad, facts, 'hostnet')
    expect(r.ok).toBe(false)
    if (!r.ok) expect(r.diagnostics.map((d) => `${d.path} ${d.code}`)).toEqual(['/internalSites/0/cidr ERR_BAD_CIDR', '/internalSites/2/cidr ERR_DUPLICATE_SITE', '/internalSites/3/cidr ERR_ADDRESS_RESERVED'])
    const alone = validateConfig({ ...ssvm, interfaces: [ssvm.interfaces[0]] , staticRoutes: [] }, facts, 'hostnet')
    expect(alone.ok).toBe(false)
    if (!alone.ok) expect(alone.diagnostics.map((d) => `${d.path} ${d.code}`)).toEqual(['/internalSites/0 ERR_NO_MANAGEMENT_INTERFACE'])
  })

  it('a management interface has a gateway (localgw); a storage or guest one does not', () => {
    const r = validateConfig({ ...ssvm, interfaces: [...ssvm.interfaces, { id: 's', role: 'storage', name: 'eth9', addresses: ['10.9.0.5/24'], gateway: '10.9.0.1' }] }, undefined, 'hostnet')
    expect(r.ok).toBe(false)
    if (!r.ok) expect(r.diagnostics.map((d) => `${d.path} ${d.code}`)).toEqual(['/interfaces/2/gateway ERR_GATEWAY_NOT_PUBLIC'])
  })
})
