import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { LAB_ADDR } from '../../src/lab/lab.ts'
import { curl, labRouterConfig, serve, startHarness, udpAsk, type Harness } from '../helpers/router-harness.ts'

const root = process.getuid?.() === 0
const HOST = LAB_ADDR.internetHost

describe.skipIf(!root)('NAT with real traffic', () => {
  let h: Harness
  beforeAll(async () => {
    h = await startHarness()
    const config = labRouterConfig()
    Object.assign(config, {
      staticNats: [{ id: 'sn-vm2', publicIp: '203.0.113.11', privateIp: LAB_ADDR.vm2 }],
      portForwards: [
        { id: 'pf-web', publicIp: '203.0.113.12', protocol: 'tcp', publicPorts: { start: 8080 }, privateIp: LAB_ADDR.vm1, privatePorts: { start: 80 } },
        { id: 'pf-range', publicIp: '203.0.113.12', protocol: 'tcp', publicPorts: { start: 9000, end: 9002 }, privateIp: LAB_ADDR.vm1, privatePorts: { start: 7000, end: 7002 } },
        { id: 'pf-udp', publicIp: '203.0.113.12', protocol: 'udp', publicPorts: { start: 5353 }, privateIp: LAB_ADDR.vm1, privatePorts: { start: 5000 } },
        { id: 'pf-udprange', publicIp: '203.0.113.12', protocol: 'udp', publicPorts: { start: 6000, end: 6001 }, privateIp: LAB_ADDR.vm1, privatePorts: { start: 6000, end: 6001 } },
      ],
      firewallRules: [{ id: 'fw-sn-http', publicIp: '203.0.113.11', protocol: 'tcp', ports: { start: 80 } }],
    })
    const res = await h.api('PUT', '/v1/config', config)
    expect(res.status, JSON.stringify(res.body)).toBe(200)
    await serve(h.lab, h.lab.ns.inet, 'tcp', '80')
    await serve(h.lab, h.lab.ns.inet, 'udp', '53', HOST)
    await serve(h.lab, h.lab.ns.vm1, 'tcp', '80')
    await serve(h.lab, h.lab.ns.vm1, 'tcp', '7000-7002')
    await serve(h.lab, h.lab.ns.vm1, 'udp', '5000')
    await serve(h.lab, h.lab.ns.vm1, 'udp', '6000-6001')
    await serve(h.lab, h.lab.ns.vm2, 'tcp', '80')
  })
  afterAll(async () => { await h?.close() })

  it('source NAT: the public host sees the source-NAT IP (tcp and udp)', async () => {
    expect(await curl(h.lab, h.lab.ns.vm1, `http://${LAB_ADDR.internetHost}/`)).toBe('203.0.113.10 80')
    expect(await udpAsk(h.lab, h.lab.ns.vm1, LAB_ADDR.internetHost, 53)).toBe('203.0.113.10 53')
  })

  it('static NAT out: the VM leaves with its own public IP', async () => {
    expect(await curl(h.lab, h.lab.ns.vm2, `http://${LAB_ADDR.internetHost}/`)).toBe('203.0.113.11 80')
  })

  it('static NAT in: a port opened by a firewall rule reaches the VM; others are dropped', async () => {
    expect(await curl(h.lab, h.lab.ns.inet, 'http://203.0.113.11/', HOST)).toBe(`${LAB_ADDR.internetHost} 80`)
    expect(await curl(h.lab, h.lab.ns.inet, 'http://203.0.113.11:81/', HOST)).toBeNull()
  })

  it('port forwarding: single tcp port, tcp range mapped port by port, udp single and range', async () => {
    expect(await curl(h.lab, h.lab.ns.inet, 'http://203.0.113.12:8080/', HOST)).toBe(`${LAB_ADDR.internetHost} 80`)
    expect(await curl(h.lab, h.lab.ns.inet, 'http://203.0.113.12:9000/', HOST)).toBe(`${LAB_ADDR.internetHost} 7000`)
    expect(await curl(h.lab, h.lab.ns.inet, 'http://203.0.113.12:9002/', HOST)).toBe(`${LAB_ADDR.internetHost} 7002`)
    expect(await udpAsk(h.lab, h.lab.ns.inet, '203.0.113.12', 5353, HOST)).toBe(`${LAB_ADDR.internetHost} 5000`)
    expect(await udpAsk(h.lab, h.lab.ns.inet, '203.0.113.12', 6001, HOST)).toBe(`${LAB_ADDR.internetHost} 6001`)
    expect(await curl(h.lab, h.lab.ns.inet, 'http://203.0.113.12:8081/', HOST)).toBeNull()
  })

  it('hairpin: a guest reaches a port forward and a static NAT on its own public IPs', async () => {
    expect(await curl(h.lab, h.lab.ns.vm2, 'http://203.0.113.12:8080/')).toBe(`${LAB_ADDR.router} 80`)
    expect(await curl(h.lab, h.lab.ns.vm1, 'http://203.0.113.11/')).toBe(`${LAB_ADDR.router} 80`)
  })

  it('removing a UDP forward stops a flow that is still sending (stale conntrack entries are cleared)', async () => {
    expect(await udpAsk(h.lab, h.lab.ns.inet, '203.0.113.12', 6000, HOST, 40000)).toBe(`${HOST} 6000`)
    expect((await h.api('DELETE', '/v1/config/portForwards/pf-udprange')).status).toBe(200)
    expect(await udpAsk(h.lab, h.lab.ns.inet, '203.0.113.12', 6000, HOST, 40000)).toBeNull()
    expect(await udpAsk(h.lab, h.lab.ns.inet, '203.0.113.12', 5353, HOST, 40001)).toBe(`${HOST} 5000`)
  })

  it('removing the public IP that is its subnet\'s primary address keeps the other public IPs and the routes (promote_secondaries)', async () => {
    const { config } = (await h.api('GET', '/v1/config')).body
    const res = await h.api('PUT', '/v1/config', {
      ...config,
      publicIps: config.publicIps.filter((p: { id: string }) => p.id !== 'ip-snat').map((p: { id: string }) => (p.id === 'ip-static' ? { ...p, sourceNat: true } : p)),
      staticNats: [], portForwards: [], firewallRules: [],
    })
    expect(res.status, JSON.stringify(res.body)).toBe(200)
    const addrs = (await h.lab.exec(h.lab.ns.rtr, 'ip', ['-4', '-o', 'addr', 'show'])).stdout
    expect(addrs).toContain('203.0.113.11/24')
    expect(addrs).toContain('203.0.113.12/24')
    expect(addrs).not.toContain('203.0.113.10/24')
    expect((await h.api('GET', '/v1/diff')).body.differences).toEqual([])
    expect((await h.api('PUT', '/v1/config', config)).status).toBe(200)
  })
})
