import { describe, expect, it } from 'vitest'
import { answerFromZone as lookup, compileZones, type Zone, type ZoneAnswer } from '../../../src/router/services/dns/zone.ts'
import { emptyConfig, type RouterConfig } from '../../../src/router/model/config.ts'

const config: RouterConfig = {
  ...emptyConfig(),
  interfaces: [{ id: 'g', role: 'guest', name: 'eth1' }],
  guestNetworks: [{ id: 'n1', interface: 'g', cidr: '10.1.1.0/24', routerIp: '10.1.1.1', domain: 'Cloud.Internal' }],
  dhcpHosts: [
    { id: 'a', network: 'n1', mac: '02:00:00:00:00:01', ip: '10.1.1.10', hostname: 'Web', ipv6: 'fd00::10' },
    { id: 'b', network: 'n1', mac: '02:00:00:00:00:02', ip: '10.1.1.11' },
  ],
}
const zone = compileZones(config, 7)[0] as Zone
/** The zone's answer with records as plain objects (dns-packet's Answer union has no common data field). */
const answerFromZone = (z: Zone, name: string, qtype: number) => lookup(z, name, qtype) as (ZoneAnswer & { answers: any[]; authorities: any[] }) | undefined

describe('guest network zone', () => {
  it('answers A, AAAA and bare names of VMs, and the router as data-server', () => {
    expect(answerFromZone(zone, 'web.cloud.internal', 1)?.answers).toEqual([{ type: 'A', name: 'web.cloud.internal', ttl: 60, data: '10.1.1.10' }])
    expect(answerFromZone(zone, 'web.cloud.internal', 28)?.answers[0]?.data).toBe('fd00::10')
    expect(answerFromZone(zone, 'web', 1)?.answers[0]?.data).toBe('10.1.1.10')
    expect(answerFromZone(zone, 'data-server.cloud.internal', 1)?.answers[0]?.data).toBe('10.1.1.1')
  })

  it('NODATA and NXDOMAIN carry the SOA; the apex has SOA and NS', () => {
    const nodata = answerFromZone(zone, 'data-server.cloud.internal', 28)
    expect(nodata).toMatchObject({ rcode: 'NOERROR', answers: [] })
    expect(nodata?.authorities[0]?.type).toBe('SOA')
    const nx = answerFromZone(zone, 'nope.cloud.internal', 1)
    expect(nx?.rcode).toBe('NXDOMAIN')
    expect(nx?.authorities[0]).toMatchObject({ type: 'SOA', name: 'cloud.internal', data: { serial: 7 } })
    expect(answerFromZone(zone, 'cloud.internal', 2)?.answers[0]).toMatchObject({ type: 'NS', data: 'ns.cloud.internal' })
    expect(answerFromZone(zone, 'a.b.cloud.internal', 1)?.rcode).toBe('NXDOMAIN')
  })

  it('answers PTR inside the network, NXDOMAIN for unknown addresses, and leaves other names alone', () => {
    expect(answerFromZone(zone, '10.1.1.10.in-addr.arpa', 12)?.answers[0]?.data).toBe('web.cloud.internal')
    expect(answerFromZone(zone, '99.1.1.10.in-addr.arpa', 12)?.rcode).toBe('NXDOMAIN')
    expect(answerFromZone(zone, '1.2.3.4.in-addr.arpa', 12)).toBeUndefined()
    expect(answerFromZone(zone, 'www.example.com', 1)).toBeUndefined()
  })
})
