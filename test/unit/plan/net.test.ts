import { describe, expect, it } from 'vitest'
import { planNet, type CurrentNet } from '../../../src/router/plan/net.ts'
import type { DesiredNet } from '../../../src/router/render/net.ts'

const current = (over: Partial<CurrentNet> = {}): CurrentNet => ({
  links: [{ dev: 'eth1', mtu: 1500, up: true }, { dev: 'eth2', mtu: 1500, up: false }, { dev: 'eth9', mtu: 1500, up: true }],
  addresses: [
    { dev: 'eth1', cidr: '10.1.1.1/24', scope: 'global' },
    { dev: 'eth1', cidr: '10.1.2.1/24', scope: 'global' },
    { dev: 'eth1', cidr: '169.254.3.4/16', scope: 'global' },
    { dev: 'eth9', cidr: '192.168.5.5/24', scope: 'global' },
  ],
  routes: [{ table: 'main', dst: '172.16.0.0/12', via: '10.1.1.254' }],
  rules: [{ priority: 1100, selector: ['fwmark', '0x65/0xff'], table: 101 }],
  ...over,
})

const desired: DesiredNet = {
  links: [{ dev: 'eth1' }, { dev: 'eth2', mtu: 1450 }],
  addresses: [{ dev: 'eth1', cidr: '10.1.1.1/24' }, { dev: 'eth1', cidr: '10.1.3.1/24' }, { dev: 'eth2', cidr: '203.0.113.10/24' }],
  routes: [{ table: 'main', dst: 'default', via: '203.0.113.1', dev: 'eth2' }, { table: 100, dst: 'default', via: '203.0.113.1', dev: 'eth2' }],
  rules: [{ priority: 1000, selector: [], table: 'main', suppressPrefixLength: 0 }, { priority: 1100, selector: ['fwmark', '0x64/0xff'], table: 100 }],
  managedDevs: ['eth1', 'eth2'],
}

describe('planNet', () => {
  it('orders links, adds and replaces before deletes; leaves unmanaged links and link-local addresses alone', () => {
    expect(planNet(current(), desired).forward).toEqual([
      'link set dev eth2 mtu 1450 up',
      'address add 10.1.3.1/24 dev eth1',
      'address add 203.0.113.10/24 dev eth2',
      'route replace default via 203.0.113.1 dev eth2 proto 199',
      'route replace default via 203.0.113.1 dev eth2 table 100 proto 199',
      'rule add priority 1000 lookup main suppress_prefixlength 0 protocol 199',
      'rule add priority 1100 fwmark 0x64/0xff lookup 100 protocol 199',
      'rule del priority 1100 fwmark 0x65/0xff lookup 101 protocol 199',
      'route del 172.16.0.0/12 via 10.1.1.254 proto 199',
      'address del 10.1.2.1/24 dev eth1',
    ])
  })

  it('every forward line has an inverse, so a batch stopped at line n can be undone', () => {
    const plan = planNet(current(), desired)
    expect(plan.inverse).toHaveLength(plan.forward.length)
    expect(plan.inverse[1]).toBe('address del 10.1.3.1/24 dev eth1')
    expect(plan.inverse[9]).toBe('address add 10.1.2.1/24 dev eth1')
  })

  it('converged state plans nothing', () => {
    const converged = current({
      links: [{ dev: 'eth1', mtu: 1500, up: true }, { dev: 'eth2', mtu: 1450, up: true }],
      addresses: desired.addresses.map((a) => ({ ...a, scope: 'global' })),
      routes: [{ table: 'main', dst: 'default', via: '203.0.113.1', dev: 'eth2' }, { table: 100, dst: 'default', via: '203.0.113.1', dev: 'eth2' }],
      rules: desired.rules,
    })
    expect(planNet(converged, desired).forward).toEqual([])
  })
})
