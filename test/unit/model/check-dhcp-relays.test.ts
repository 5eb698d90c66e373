import { describe, expect, it } from 'vitest'
import { emptyConfig, type RouterConfig } from '../../../src/router/model/config.ts'
import { checkConfig } from '../../../src/router/model/check.ts'
import { validateConfig } from '../../../src/router/model/parse.ts'

function withRelays(relays: unknown): unknown {
  const c: RouterConfig = {
    ...emptyConfig(),
    interfaces: [{ id: 'g', role: 'guest', name: 'eth1' }],
    guestNetworks: [{ id: 'n1', interface: 'g', cidr: '10.1.1.0/24', routerIp: '10.1.1.1' }],
  }
  return { ...c, guestNetworks: [{ ...c.guestNetworks[0], dhcp: { relays } }] }
}

function problems(relays: unknown): [string, string][] {
  const parsed = validateConfig(withRelays(relays))
  if (!parsed.ok) return parsed.diagnostics.map((d) => [d.path, d.code])
  return checkConfig(parsed.config).filter((d) => d.severity === 'error').map((d) => [d.path, d.code])
}

describe('dhcp.relays of a guest network', () => {
  const cases: { name: string; relays: unknown; expect: [string, string][] }[] = [
    { name: 'relay agents on the network are accepted', relays: ['10.1.1.10', '10.1.1.254'], expect: [] },
    { name: 'an address outside the network is not one of its relays', relays: ['10.2.2.10'], expect: [['/guestNetworks/0/dhcp/relays/0', 'ERR_ADDRESS_OUTSIDE_NETWORK']] },
    { name: "the network's broadcast address is not a host", relays: ['10.1.1.255'], expect: [['/guestNetworks/0/dhcp/relays/0', 'ERR_ADDRESS_OUTSIDE_NETWORK']] },
    { name: "the router's own address is not a relay", relays: ['10.1.1.1'], expect: [['/guestNetworks/0/dhcp/relays/0', 'ERR_ADDRESS_IN_USE']] },
    { name: 'a relay listed twice', relays: ['10.1.1.10', '10.1.1.10'], expect: [['/guestNetworks/0/dhcp/relays/1', 'ERR_DUPLICATE_RELAY']] },
  ]
  for (const c of cases) it(c.name, () => expect(problems(c.relays)).toEqual(c.expect))

  it('at most 8 relays, each an IPv4 address', () => {
    expect(problems(Array.from({ length: 9 }, (_, i) => `10.1.1.${10 + i}`)).length).toBeGreaterThan(0)
    expect(problems(['not-an-address']).length).toBeGreaterThan(0)
  })
})
