import { afterEach, describe, expect, it } from 'vitest'
import { firewallRule, forward, labRouterConfig, startFakeRouter, type FakeRouter } from '../../helpers/fake-router.ts'

/**
 * Drift on the fake kernel: what someone else changes in the kernel (a chain flushed, a set
 * member removed, a route deleted) is found by reading it back through iptables-save, ipset
 * save and ip -json, and a full apply puts the whole state back.
 */

const routers: FakeRouter[] = []
afterEach(async () => { for (const r of routers.splice(0)) await r.close() })

const tampering = [
  { name: 'an owned chain flushed', tool: 'iptables-restore', args: ['--noflush'], stdin: '*filter\n:SVM-INPUT - [0:0]\nCOMMIT\n', problem: /^filter\/SVM-INPUT: kernel lacks/ },
  { name: 'a built-in policy loosened', tool: 'iptables-restore', args: ['--noflush'], stdin: '*filter\n:FORWARD ACCEPT [0:0]\nCOMMIT\n', problem: /^filter\/FORWARD: policy ACCEPT, want DROP/ },
  { name: 'an ipset member removed', tool: 'ipset', args: ['del', 'svm-pf-open', '203.0.113.12,tcp:8080'], stdin: '', problem: /svm-pf-open/ },
  { name: 'the default route deleted', tool: 'ip', args: ['-batch', '-'], stdin: 'route del default proto 199\n', problem: /^net: route replace default via 203\.0\.113\.1 dev eth2 proto 199$/ },
  { name: 'an address removed', tool: 'ip', args: ['-batch', '-'], stdin: 'address del 10.1.1.1/24 dev eth1\n', problem: /^net: address add 10\.1\.1\.1\/24 dev eth1$/ },
]

describe('drift on the fake kernel', () => {
  it.each(tampering)('$name: found, then repaired to the exact state applied before', async ({ tool, args, stdin, problem }) => {
    const r = await startFakeRouter()
    routers.push(r)
    const put = await r.api('PUT', '/v1/config', { ...labRouterConfig(), portForwards: [forward('pf-a', 8080)], firewallRules: [firewallRule('fw-a', 22)] })
    expect(put.status, JSON.stringify(put.body)).toBe(200)
    expect(await r.engine.diff()).toEqual([])
    const applied = r.kernel.state()
    await r.kernel.run(tool, args, { stdin })
    expect(await r.engine.diff()).toEqual(expect.arrayContaining([expect.stringMatching(problem)]))
    const found = await r.engine.checkDrift()
    expect(found.length).toBeGreaterThan(0)
    expect(r.engine.status().drift).toMatchObject({ checks: 1, repairs: 1 })
    expect(r.kernel.state()).toEqual(applied)
    expect(await r.engine.checkDrift()).toEqual([])
  })
})
