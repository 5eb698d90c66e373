import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { MessageType } from '../../../src/router/services/dhcp/codec.ts'
import { LAB_MACS, labRouterConfig } from '../../../src/lab/lab.ts'
import { sendForgedDhcp, udhcpc } from '../../helpers/dhcp-clients.ts'
import { RouterdProcess } from '../../helpers/routerd-process.ts'

/**
 * Issue 7, item 6: a guest forges DECLINEs naming its neighbour's address and a RELEASE of its
 * neighbour's lease. The neighbour keeps its lease; the forgeries are counted, not obeyed.
 */

const root = process.getuid?.() === 0

function config(): Record<string, any> {
  const c = labRouterConfig() as Record<string, any>
  c['guestNetworks'] = [{ ...c['guestNetworks'][0], dhcp: { range: { start: '10.1.1.100', end: '10.1.1.120' } } }]
  c['dhcpHosts'] = []
  return c
}

describe.skipIf(!root)('adversarial: forged DECLINE and RELEASE', () => {
  let r: RouterdProcess
  let work: string
  const leases = () => r.leases()

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'dhcp-forged-'))
    r = await RouterdProcess.create()
    await r.put(config())
    await r.lab.exec(r.lab.ns.vm2, 'ip', ['-4', 'addr', 'flush', 'dev', 'eth0'])
  })
  afterAll(async () => {
    await r?.close()
    if (work) rmSync(work, { recursive: true, force: true })
  })

  it("vm1 cannot quarantine vm2's address or release vm2's lease", async () => {
    const c = await udhcpc(r.lab, r.lab.ns.vm2, mkdtempSync(join(work, 'vm2-')))
    expect(c.exitCode, c.output).toBe(0)
    const victim = (await leases()).find((l) => l.mac === LAB_MACS.vm2 && l.bound)
    expect(victim).toBeDefined()
    const ip = victim?.ip as string
    const received = async () => (await r.metric('routerd_dhcp_received_total', { type: 'decline' })) + (await r.metric('routerd_dhcp_received_total', { type: 'release' }))
    const before = await received()
    const declines = await r.metric('routerd_dhcp_outcomes_total', { outcome: 'ignored-decline-mismatch' })
    const releases = await r.metric('routerd_dhcp_outcomes_total', { outcome: 'ignored-release-mismatch' })
    // From vm1 (10.1.1.10): DECLINEs of vm2's address under vm1's own MAC and a made-up one, and
    // a RELEASE of vm2's lease under vm2's MAC, broadcast and unicast from vm1's own address.
    for (const to of ['10.1.1.255', '10.1.1.1']) {
      await sendForgedDhcp(r.lab, r.lab.ns.vm1, {
        to, sourcePort: 68,
        messages: [
          { type: MessageType.Decline, mac: LAB_MACS.vm1, requested: ip, server: '10.1.1.1' },
          { type: MessageType.Decline, mac: '02:66:00:00:00:09', requested: ip, server: '10.1.1.1' },
          { type: MessageType.Release, mac: LAB_MACS.vm2, ciaddr: ip, server: '10.1.1.1' },
        ],
      })
    }
    for (let i = 0; i < 50 && (await received()) < before + 6; i++) await new Promise((resolve) => setTimeout(resolve, 100))
    expect(await received()).toBe(before + 6)
    expect(await leases()).toContainEqual(expect.objectContaining({ mac: LAB_MACS.vm2, ip, bound: true }))
    expect(await r.metric('routerd_dhcp_outcomes_total', { outcome: 'ignored-decline-mismatch' })).toBe(declines + 4)
    expect(await r.metric('routerd_dhcp_outcomes_total', { outcome: 'ignored-release-mismatch' })).toBe(releases + 2)
    // vm2 renews its address as before.
    const again = await udhcpc(r.lab, r.lab.ns.vm2, mkdtempSync(join(work, 'vm2-')), ip)
    expect(again.addresses, again.output).toContain(`inet ${ip}/24`)
  })
})
