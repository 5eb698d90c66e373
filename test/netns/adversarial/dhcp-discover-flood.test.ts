import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { MessageType } from '../../../src/router/services/dhcp/codec.ts'
import { LAB_MACS, labRouterConfig } from '../../../src/lab/lab.ts'
import { sendForgedDhcp, udhcpc } from '../../helpers/dhcp-clients.ts'
import { RouterdProcess } from '../../helpers/routerd-process.ts'

/**
 * Issue 7, item 7: a guest floods DISCOVERs with forged MACs at a /16 range (each one a new
 * client to the router), and one MAC's DISCOVERs on top. Allocation must stay cheap and
 * bounded, so that well-behaved clients, on the same link and on another network, get their
 * leases meanwhile.
 */

const root = process.getuid?.() === 0
const OFFERS_MAX = 1024

function config(): Record<string, any> {
  const c = labRouterConfig() as Record<string, any>
  c['interfaces'] = [...c['interfaces'], { id: 'guest2', role: 'guest', mac: LAB_MACS.guest2 }]
  c['guestNetworks'] = [
    { ...c['guestNetworks'][0], cidr: '10.1.0.0/16', dhcp: { range: { start: '10.1.2.0', end: '10.1.255.254' } } },
    { id: 'net2', interface: 'guest2', cidr: '10.2.2.0/24', routerIp: '10.2.2.1', dhcp: { range: { start: '10.2.2.100', end: '10.2.2.110' } } },
  ]
  c['dhcpHosts'] = [{ id: 'vm2', network: 'net1', mac: LAB_MACS.vm2, ip: '10.1.1.11', hostname: 'vm-two' }]
  return c
}

describe.skipIf(!root)('adversarial: a DISCOVER flood with forged MACs', () => {
  let r: RouterdProcess
  let work: string
  const leases = () => r.leases()

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'dhcp-flood-'))
    r = await RouterdProcess.create()
    await r.put(config())
    await r.lab.exec(r.lab.ns.vm2, 'ip', ['-4', 'addr', 'flush', 'dev', 'eth0'])
  })
  afterAll(async () => {
    await r?.close()
    if (work) rmSync(work, { recursive: true, force: true })
  })

  it('well-behaved clients get their leases during the flood; offers stay capped; the excess is dropped and counted', async () => {
    // vm1 (net1) floods: 2,000 DISCOVERs from one MAC, then 30,000 from forged ones, 5,000 a second.
    const flood = sendForgedDhcp(r.lab, r.lab.ns.vm1, {
      to: '10.1.1.1', sourcePort: 68, pps: 5000,
      messages: [
        { type: MessageType.Discover, mac: '02:66:00:00:00:01', repeat: 2000 },
        { type: MessageType.Discover, mac: '02:66:00:00:00:02', randomMacs: 30_000 },
      ],
    })
    // Meanwhile a static host on the flooded link and a dynamic client on net2 ask for leases.
    await new Promise((resolve) => setTimeout(resolve, 1500))
    const [same, other] = await Promise.all([
      udhcpc(r.lab, r.lab.ns.vm2, mkdtempSync(join(work, 'vm2-'))),
      udhcpc(r.lab, r.lab.ns.vm3, mkdtempSync(join(work, 'vm3-'))),
    ])
    await flood
    expect(same.addresses, same.output).toContain('inet 10.1.1.11/16')
    expect(other.addresses, other.output).toContain('inet 10.2.2.100/24')
    const offers = (await leases()).filter((l) => l.network === 'net1' && !l.bound)
    expect(offers.length).toBeGreaterThan(0)
    expect(offers.length).toBeLessThanOrEqual(OFFERS_MAX)
    expect(await r.metric('routerd_dhcp_dropped_total', { reason: 'ratelimit-client' })).toBeGreaterThan(0)
    expect(await r.metric('routerd_dhcp_dropped_total', { reason: 'ratelimit-link' })).toBeGreaterThan(0)
    expect((await r.api('GET', '/healthz')).status).toBe(200)
  })
})
