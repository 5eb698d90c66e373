import { describe, expect, it } from 'vitest'
import { relayRefusal } from '../../../src/router/services/dhcp/relay.ts'
import { compileScopes, type DhcpScope } from '../../../src/router/services/dhcp/scope.ts'
import { emptyConfig } from '../../../src/router/model/config.ts'
import { parseIpv4 } from '../../../src/core/ipv4.ts'

const ip = (t: string) => parseIpv4(t) as number
const scope = compileScopes({
  ...emptyConfig(),
  interfaces: [{ id: 'g', role: 'guest', mac: '02:00:00:00:00:02' }],
  guestNetworks: [{ id: 'net1', interface: 'g', cidr: '10.1.1.0/24', routerIp: '10.1.1.1', dhcp: { relays: ['10.1.1.10'] } }],
}, { links: [{ name: 'eth1', mac: '02:00:00:00:00:02', ifindex: 3 }], controlPorts: [] })[0] as DhcpScope

describe('relayed DHCP messages (giaddr set)', () => {
  const cases = [
    { name: "served from a listed relay's address, port 67, giaddr in the network", giaddr: '10.1.1.10', source: '10.1.1.10', port: 67, expect: undefined },
    { name: 'a giaddr other than the source is fine inside the network', giaddr: '10.1.1.200', source: '10.1.1.10', port: 67, expect: undefined },
    { name: 'refused from an address the network does not list', giaddr: '10.1.1.10', source: '10.1.1.11', port: 67, expect: 'relay-not-listed' },
    { name: 'refused from a listed address but a client port', giaddr: '10.1.1.10', source: '10.1.1.10', port: 68, expect: 'relay-port' },
    { name: "refused for a giaddr of another network (the relay cannot pick the scope)", giaddr: '10.2.2.1', source: '10.1.1.10', port: 67, expect: 'relay-giaddr' },
    { name: "refused for the network's broadcast address as giaddr", giaddr: '10.1.1.255', source: '10.1.1.10', port: 67, expect: 'relay-giaddr' },
  ] as const
  for (const c of cases) it(c.name, () => expect(relayRefusal(scope, ip(c.giaddr), ip(c.source), c.port)).toBe(c.expect))

  it('a network listing no relays refuses every relayed message', () => {
    expect(relayRefusal({ ...scope, relays: new Set() }, ip('10.1.1.10'), ip('10.1.1.10'), 67)).toBe('relay-not-listed')
  })
})
