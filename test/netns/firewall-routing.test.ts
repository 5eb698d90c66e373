import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { LAB_ADDR } from '../../src/lab/lab.ts'
import { curl, labRouterConfig, serve, startHarness, type Harness } from '../helpers/router-harness.ts'

const root = process.getuid?.() === 0
const HOST = LAB_ADDR.internetHost
const OTHER_HOST = '192.0.2.20'

describe.skipIf(!root)('firewall, egress and policy routing with real traffic', () => {
  let h: Harness
  beforeAll(async () => {
    h = await startHarness()
    const config = {
      ...labRouterConfig(),
      portForwards: [
        { id: 'pf-pub1', publicIp: '198.51.100.10', protocol: 'tcp', publicPorts: { start: 8080 }, privateIp: LAB_ADDR.vm1, privatePorts: { start: 80 } },
      ],
      firewallRules: [
        { id: 'fw-ssh', publicIp: '203.0.113.10', protocol: 'tcp', ports: { start: 9022 }, sourceCidrs: [`${HOST}/32`] },
        { id: 'fw-pub1', publicIp: '198.51.100.10', protocol: 'tcp', ports: { start: 9022 } },
      ],
    }
    const res = await h.api('PUT', '/v1/config', config)
    expect(res.status, JSON.stringify(res.body)).toBe(200)
    await h.lab.exec(h.lab.ns.inet, 'ip', ['addr', 'add', `${OTHER_HOST}/32`, 'dev', 'lo'])
    await serve(h.lab, h.lab.ns.rtr, 'tcp', '9022-9023')
    await serve(h.lab, h.lab.ns.vm1, 'tcp', '80')
    await serve(h.lab, h.lab.ns.inet, 'tcp', '80-81', HOST)
  })
  afterAll(async () => { await h?.close() })

  it('ingress: a rule opens a port of the router for one source CIDR only; other ports stay closed', async () => {
    expect(await curl(h.lab, h.lab.ns.inet, 'http://203.0.113.10:9022/', HOST)).toBe(`${HOST} 9022`)
    expect(await curl(h.lab, h.lab.ns.inet, 'http://203.0.113.10:9022/', OTHER_HOST)).toBeNull()
    expect(await curl(h.lab, h.lab.ns.inet, 'http://203.0.113.10:9023/', HOST)).toBeNull()
  })

  it('ingress: widening the rule to 192.0.2.0/24 and ports 9022-9023 opens both for both hosts', async () => {
    const res = await h.api('PUT', '/v1/config/firewallRules/fw-ssh',
      { id: 'fw-ssh', publicIp: '203.0.113.10', protocol: 'tcp', ports: { start: 9022, end: 9023 }, sourceCidrs: ['192.0.2.0/24', '198.18.0.0/15'] })
    expect(res.status, JSON.stringify(res.body)).toBe(200)
    expect(await curl(h.lab, h.lab.ns.inet, 'http://203.0.113.10:9023/', OTHER_HOST)).toBe(`${OTHER_HOST} 9023`)
    expect((await h.api('DELETE', '/v1/config/firewallRules/fw-ssh')).status).toBe(200)
    expect(await curl(h.lab, h.lab.ns.inet, 'http://203.0.113.10:9022/', HOST)).toBeNull()
  })

  it('egress default deny + an allow rule: only the allowed port leaves', async () => {
    const net = { id: 'net1', interface: 'guest1', cidr: '10.1.1.0/24', routerIp: LAB_ADDR.router, egressDefault: 'deny' }
    expect((await h.api('PUT', '/v1/config/guestNetworks/net1', net)).status).toBe(200)
    expect(await curl(h.lab, h.lab.ns.vm1, `http://${HOST}:80/`)).toBeNull()
    const allow = { id: 'eg-web', network: 'net1', protocol: 'tcp', ports: { start: 80 }, destinationCidrs: ['192.0.2.0/24'] }
    expect((await h.api('PUT', '/v1/config/egressRules/eg-web', allow)).status).toBe(200)
    expect(await curl(h.lab, h.lab.ns.vm1, `http://${HOST}:80/`)).toBe('203.0.113.10 80')
    expect(await curl(h.lab, h.lab.ns.vm1, `http://${HOST}:81/`)).toBeNull()
  })

  it('egress default allow + a deny rule: everything but the denied port leaves', async () => {
    const net = { id: 'net1', interface: 'guest1', cidr: '10.1.1.0/24', routerIp: LAB_ADDR.router, egressDefault: 'allow' }
    expect((await h.api('PUT', '/v1/config/guestNetworks/net1', net)).status).toBe(200)
    const deny = { id: 'eg-web', network: 'net1', protocol: 'tcp', ports: { start: 81 }, destinationCidrs: [`${HOST}/32`] }
    expect((await h.api('PUT', '/v1/config/egressRules/eg-web', deny)).status).toBe(200)
    expect(await curl(h.lab, h.lab.ns.vm1, `http://${HOST}:80/`)).toBe('203.0.113.10 80')
    expect(await curl(h.lab, h.lab.ns.vm1, `http://${HOST}:81/`)).toBeNull()
  })

  it('two public interfaces: replies leave by the interface the connection came in on', async () => {
    // The internet namespace drops, by strict rp_filter, a packet from 198.51.100.10 arriving on
    // the 203.0.113.0/24 segment: a reply routed by the main table's default would be lost.
    expect(await curl(h.lab, h.lab.ns.inet, 'http://198.51.100.10:8080/', HOST)).toBe(`${HOST} 80`)
    expect(await curl(h.lab, h.lab.ns.inet, 'http://198.51.100.10:9022/', HOST)).toBe(`${HOST} 9022`)
  })

  it('without the policy rules those replies are lost, and a resync puts the rules back', async () => {
    await h.lab.exec(h.lab.ns.rtr, 'ip', ['rule', 'del', 'priority', '1101'])
    await h.lab.exec(h.lab.ns.rtr, 'ip', ['rule', 'del', 'priority', '1201'])
    expect(await curl(h.lab, h.lab.ns.inet, 'http://198.51.100.10:8080/', HOST)).toBeNull()
    const res = await h.api('POST', '/v1/resync')
    expect(res.body.problems.length).toBeGreaterThan(0)
    expect(await curl(h.lab, h.lab.ns.inet, 'http://198.51.100.10:8080/', HOST)).toBe(`${HOST} 80`)
    expect((await h.api('GET', '/v1/diff')).body.differences).toEqual([])
  })
})
