import { describe, expect, it } from 'vitest'
import { emptyConfig, type RouterConfig } from '../../../src/router/model/config.ts'
import { passwordKeeper } from '../../../src/router/services/metadata/password-keep.ts'

function config(hosts: { ip: string; mac: string }[], networks = ['n1']): RouterConfig {
  return {
    ...emptyConfig(),
    interfaces: [{ id: 'g', role: 'guest', name: 'eth1' }],
    guestNetworks: networks.map((id, i) => ({ id, interface: 'g', cidr: `10.${i + 1}.0.0/24`, routerIp: `10.${i + 1}.0.1`, ...(id === 'off' ? { metadata: { enabled: false } } : {}) })),
    dhcpHosts: hosts.map((h, i) => ({ id: `h${i}`, network: 'n1', ...h })),
  }
}

describe('passwordKeeper', () => {
  const before = config([{ ip: '10.1.0.10', mac: '02:00:00:00:00:0a' }, { ip: '10.1.0.11', mac: '02:00:00:00:00:0b' }])

  it('keeps a password while its VM holds the address, also when the MAC is only written in other case', () => {
    const keep = passwordKeeper(before, config([{ ip: '10.1.0.10', mac: '02:00:00:00:00:0A' }, { ip: '10.1.0.11', mac: '02:00:00:00:00:0b' }]))
    expect(keep('n1', '10.1.0.10')).toBe(true)
    expect(keep('n1', '10.1.0.11')).toBe(true)
  })

  it('drops it when the DHCP host is removed or the address goes to another MAC', () => {
    const keep = passwordKeeper(before, config([{ ip: '10.1.0.11', mac: '02:00:00:00:00:0c' }]))
    expect(keep('n1', '10.1.0.10')).toBe(false)
    expect(keep('n1', '10.1.0.11')).toBe(false)
  })

  it('keeps one set before its DHCP host exists, at start (no previous config) too', () => {
    expect(passwordKeeper(before, before)('n1', '10.1.0.99')).toBe(true)
    expect(passwordKeeper(undefined, config([]))('n1', '10.1.0.10')).toBe(true)
  })

  it('drops every password of a network that is gone or no longer serves metadata', () => {
    expect(passwordKeeper(before, config([], ['n2']))('n1', '10.1.0.99')).toBe(false)
    expect(passwordKeeper(undefined, config([], ['n1', 'off']))('off', '10.2.0.5')).toBe(false)
    expect(passwordKeeper(undefined, emptyConfig())('n1', '10.1.0.10')).toBe(false)
  })
})
