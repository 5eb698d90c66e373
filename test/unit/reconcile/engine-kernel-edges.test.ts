import { readFileSync } from 'node:fs'
import { afterEach, describe, expect, it } from 'vitest'
import { ConfigStore } from '../../../src/router/store/config-store.ts'
import { firewallRule, forward, labRouterConfig, startFakeRouter, type FakeRouter } from '../../helpers/fake-router.ts'

/**
 * Kernel behaviours the engine once mishandled, found with the fake kernel (whose behaviour
 * here was recorded against the real tools: see test/unit/kernel/fake/).
 */

const routers: FakeRouter[] = []
afterEach(async () => { for (const r of routers.splice(0)) await r.close() })

async function start(config: Record<string, unknown>): Promise<FakeRouter> {
  const r = await startFakeRouter()
  routers.push(r)
  const res = await r.api('PUT', '/v1/config', config)
  expect(res.status, JSON.stringify(res.body)).toBe(200)
  return r
}

async function snapshot(r: FakeRouter) {
  return { kernel: r.kernel.state(), config: r.engine.getConfig(), stored: new ConfigStore(r.stateDir).load() }
}

function fullConfig(): Record<string, unknown> {
  return JSON.parse(readFileSync(new URL('../../golden/full/config.json', import.meta.url), 'utf8')) as Record<string, unknown>
}

describe('kernel edges', () => {
  it('iptables-restore refused by the kernel at COMMIT of a later table ("line N: RULE_APPEND failed (…)", exit 4): the tables committed before it are put back', async () => {
    const r = await start({ ...labRouterConfig(), portForwards: [forward('pf-a', 8080)] })
    const before = await snapshot(r)
    const fault = r.kernel.fail({ tool: 'iptables-restore', when: (c) => c.stdin.includes('svm:pf:pf-ssh'), line: /^-A SVM-EGR-/, shape: 'kernel', message: 'Cannot allocate memory' })
    const res = await r.api('PUT', '/v1/config', fullConfig())
    expect(fault.fired).toBe(1)
    expect(res.status).toBe(422)
    // The line is read from this form too, so the tables committed before it are put back.
    expect(await snapshot(r)).toEqual(before)
    expect(res.body.error.line).not.toBeNull()
  })

  it('ipset refuses a member while parsing after buffered lines of the same set: the set edit is undone', async () => {
    const r = await start({ ...labRouterConfig(), firewallRules: [firewallRule('fw-a', 22, ['192.0.2.0/24', '198.18.0.0/15'])] })
    const before = await snapshot(r)
    // The in-place edit is "del a, del b, add c, add d". ipset sends the dels as one message
    // when the adds start, and drops "add c" with "add d" when it cannot parse "add d". The
    // undo runs under -exist: undoing "add c", which never happened, is no error.
    const fault = r.kernel.fail({ tool: 'ipset', when: (c) => c.args[0] === 'restore' && c.stdin.includes('del '), line: 4, shape: 'parse' })
    const res = await r.api('PUT', '/v1/config/firewallRules/fw-a', firewallRule('fw-a', 22, ['203.0.113.0/24', '100.64.0.0/10']))
    expect(fault.fired).toBe(1)
    expect(res.status).toBe(422)
    expect(await snapshot(r)).toEqual(before)
  })

  it('removing the public IP that is the primary address of its subnet keeps the other public IPs of that subnet', async () => {
    const r = await start({ ...labRouterConfig() })
    const config = labRouterConfig() as { publicIps: { id: string; sourceNat?: boolean }[] }
    // 203.0.113.10 (source NAT) is eth2's primary; .11 and .12 are secondaries of its subnet.
    // With net.ipv4.conf.*.promote_secondaries = 0 (the kernel's default) deleting the primary
    // deletes its secondaries too, and eth2, left without an address, loses its default routes
    // (main and table 100) as well; routerd sets it to 1.
    const res = await r.api('PUT', '/v1/config', {
      ...config,
      publicIps: config.publicIps.filter((p) => p.id !== 'ip-snat').map((p) => (p.id === 'ip-static' ? { ...p, sourceNat: true } : p)),
    })
    expect(res.status, JSON.stringify(res.body)).toBe(200)
    expect(r.kernel.state().addresses.filter((a) => a.dev === 'eth2').map((a) => a.cidr).sort()).toEqual(['203.0.113.11/24', '203.0.113.12/24'])
    expect(await r.engine.diff()).toEqual([])
  })
})
