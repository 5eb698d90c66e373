import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { MessageType } from '../../../src/router/services/dhcp/codec.ts'
import { LAB_MACS, labRouterConfig } from '../../../src/lab/lab.ts'
import { sendForgedDhcp, udhcpc } from '../../helpers/dhcp-clients.ts'
import { RouterdProcess } from '../../helpers/routerd-process.ts'

/**
 * Issue 7, item 5: a guest of net2 posing as a relay agent of net1 (giaddr = vm1's address, vm1's
 * MAC) must not bind, receive or release anything of net1; relays are served only from the
 * addresses a network lists, from port 67, on that network's own link.
 */

const root = process.getuid?.() === 0
const ATTACKER = '10.2.2.50'

function config(relays?: string[]): Record<string, any> {
  const c = labRouterConfig() as Record<string, any>
  c['interfaces'] = [...c['interfaces'], { id: 'guest2', role: 'guest', mac: LAB_MACS.guest2 }]
  c['guestNetworks'] = [
    { ...c['guestNetworks'][0], domain: 'one.internal', ...(relays === undefined ? {} : { dhcp: { relays } }) },
    { id: 'net2', interface: 'guest2', cidr: '10.2.2.0/24', routerIp: '10.2.2.1', domain: 'two.internal', dhcp: { range: { start: '10.2.2.100', end: '10.2.2.110' } } },
  ]
  c['dhcpHosts'] = [{ id: 'vm1', network: 'net1', mac: LAB_MACS.vm1, ip: '10.1.1.10', hostname: 'vm-one' }]
  return c
}

describe.skipIf(!root)('adversarial: DHCP relay spoofing across networks', () => {
  let r: RouterdProcess
  let work: string
  const leases = () => r.leases()
  const dropped = () => r.metric('routerd_dhcp_dropped_total')

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'dhcp-relay-spoof-'))
    r = await RouterdProcess.create()
    await r.put(config())
    const vm3 = r.lab.ns.vm3
    // The attacker on net2 holds an address of net2, and claims vm1's address too, to receive
    // whatever the router would send to it.
    await r.lab.exec(vm3, 'ip', ['address', 'add', `${ATTACKER}/24`, 'dev', 'eth0'])
    await r.lab.exec(vm3, 'ip', ['address', 'add', '10.1.1.10/32', 'dev', 'eth0'])
  })
  afterAll(async () => {
    await r?.close()
    if (work) rmSync(work, { recursive: true, force: true })
  })

  it("from net2's link, a DISCOVER and REQUEST posing as net1's relay get no net1 lease, no reply, and are counted", async () => {
    const before = await dropped()
    const replies = await sendForgedDhcp(r.lab, r.lab.ns.vm3, {
      to: '10.2.2.1', sourcePort: 67, bindAddress: ATTACKER, listenMs: 2000,
      messages: [
        { type: MessageType.Discover, mac: LAB_MACS.vm1, giaddr: '10.1.1.10' },
        { type: MessageType.Request, mac: LAB_MACS.vm1, giaddr: '10.1.1.10', requested: '10.1.1.10', server: '10.1.1.1' },
      ],
    })
    expect(replies).toEqual([])
    expect(await leases()).not.toContainEqual(expect.objectContaining({ network: 'net1', mac: LAB_MACS.vm1 }))
    expect(await dropped()).toBe(before + 2)
    expect(await r.metric('routerd_dhcp_dropped_total', { reason: 'relay-not-listed' })).toBeGreaterThanOrEqual(2)
  })

  it("from net2's link, a RELEASE from vm1's address with net1's giaddr leaves vm1's lease alone", async () => {
    await r.lab.exec(r.lab.ns.vm1, 'ip', ['-4', 'addr', 'flush', 'dev', 'eth0'])
    const c = await udhcpc(r.lab, r.lab.ns.vm1, mkdtempSync(join(work, 'vm1-')))
    expect(c.addresses, c.output).toContain('inet 10.1.1.10/24')
    expect(await leases()).toContainEqual(expect.objectContaining({ network: 'net1', mac: LAB_MACS.vm1, bound: true }))
    for (const giaddr of ['10.1.1.10', '0.0.0.0']) {
      await sendForgedDhcp(r.lab, r.lab.ns.vm3, {
        to: '10.2.2.1', sourcePort: 67, bindAddress: '10.1.1.10',
        messages: [{ type: MessageType.Release, mac: LAB_MACS.vm1, giaddr, ciaddr: '10.1.1.10', server: '10.1.1.1' }],
      })
    }
    // Give the router the time to act on them, then look.
    await new Promise((resolve) => setTimeout(resolve, 500))
    expect(await leases()).toContainEqual(expect.objectContaining({ network: 'net1', mac: LAB_MACS.vm1, bound: true }))
  })

  it("a listed relay is served only from its own address and port 67 on its network's link", async () => {
    await r.put(config(['10.1.1.10']))
    // From net2's link, with the listed relay's address as source: not net2's relay.
    // The source is outside net2, so source validation in the raw table drops it before routerd
    // sees it; either way it is dropped and counted once.
    const droppedSomewhere = async () => await r.metric('routerd_dhcp_dropped_total', { reason: 'relay-not-listed' })
      + await r.metric('routerd_spoofed_packets_dropped_total', { network: 'net2' })
    const before = await droppedSomewhere()
    const spoofed = await sendForgedDhcp(r.lab, r.lab.ns.vm3, {
      to: '10.2.2.1', sourcePort: 67, bindAddress: '10.1.1.10', listenMs: 1500,
      messages: [{ type: MessageType.Discover, mac: LAB_MACS.vm1, giaddr: '10.1.1.10' }],
    })
    expect(spoofed).toEqual([])
    expect(await droppedSomewhere()).toBe(before + 1)
    // From vm1 (the listed relay) on net1, but from port 68: dropped.
    await r.lab.exec(r.lab.ns.vm1, 'ip', ['-4', 'addr', 'flush', 'dev', 'eth0'])
    await r.lab.exec(r.lab.ns.vm1, 'ip', ['address', 'add', '10.1.1.10/24', 'dev', 'eth0'])
    const wrongPort = await sendForgedDhcp(r.lab, r.lab.ns.vm1, {
      to: '10.1.1.1', sourcePort: 68, listenMs: 1500,
      messages: [{ type: MessageType.Discover, mac: LAB_MACS.vm1, giaddr: '10.1.1.10' }],
    })
    expect(wrongPort).toEqual([])
    expect(await r.metric('routerd_dhcp_dropped_total', { reason: 'relay-port' })).toBe(1)
    // From vm1 on net1 and port 67: served, in net1's scope, answered to the relay.
    const served = await sendForgedDhcp(r.lab, r.lab.ns.vm1, {
      to: '10.1.1.1', sourcePort: 67, listenMs: 1500,
      messages: [{ type: MessageType.Discover, mac: LAB_MACS.vm1, giaddr: '10.1.1.10' }],
    })
    expect(served).toEqual([{ type: MessageType.Offer, yiaddr: '10.1.1.10', giaddr: '10.1.1.10', from: '10.1.1.1', hostname: 'vm-one' }])
    // A giaddr outside the network is dropped even from the listed relay.
    const outside = await sendForgedDhcp(r.lab, r.lab.ns.vm1, {
      to: '10.1.1.1', sourcePort: 67, listenMs: 1500,
      messages: [{ type: MessageType.Discover, mac: LAB_MACS.vm1, giaddr: '10.2.2.7' }],
    })
    expect(outside).toEqual([])
    expect(await r.metric('routerd_dhcp_dropped_total', { reason: 'relay-giaddr' })).toBe(1)
  })
})
