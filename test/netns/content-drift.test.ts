import { readFileSync } from 'node:fs'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { binary, run } from '../../src/core/exec.ts'
import { parseIpsetHeaders, parseIpsetSave } from '../../src/router/kernel/ipset.ts'
import { parseSave } from '../../src/router/kernel/iptables.ts'
import { LAB_ADDR, labRouterConfig } from '../../src/lab/lab.ts'
import { setDrift, tableDrift } from '../../src/router/plan/drift.ts'
import { desiredSetOptions, setOptions } from '../../src/router/plan/ipset.ts'
import { renderRouter } from '../../src/router/render/index.ts'
import { curl, eventually, kernelSnapshot, serve } from '../helpers/router-harness.ts'
import { RouterdProcess } from '../helpers/routerd-process.ts'

const root = process.getuid?.() === 0
const HOST = LAB_ADDR.internetHost

/** The lab config with a port forward open to everyone (svm-pf-open) and one limited to two sources (a hash:net set). */
function config(): Record<string, unknown> {
  const c = labRouterConfig()
  c['portForwards'] = [
    { id: 'pf-web', publicIp: '203.0.113.12', protocol: 'tcp', publicPorts: { start: 8080 }, privateIp: LAB_ADDR.vm1, privatePorts: { start: 80 } },
    { id: 'pf-two', publicIp: '203.0.113.12', protocol: 'tcp', publicPorts: { start: 9090 }, privateIp: LAB_ADDR.vm1, privatePorts: { start: 80 }, sourceCidrs: ['192.0.2.0/24', '198.18.0.0/15'] },
  ]
  c['firewallRules'] = [{ id: 'fw-1', publicIp: '203.0.113.10', protocol: 'tcp', ports: { start: 22 }, sourceCidrs: ['192.0.2.0/24', '198.18.0.0/15'] }]
  return c
}

/** The nat rule of port forward pf-web as iptables-save prints it: chain, position, arguments. */
async function dnatRule(r: RouterdProcess): Promise<{ chain: string; index: number; args: string[] }> {
  const lines = (await r.lab.exec(r.lab.ns.rtr, 'iptables-save', ['-t', 'nat'])).stdout.split('\n')
  const line = lines.find((l) => l.includes('svm:pf:pf-web') && l.includes('-j DNAT')) as string
  const chain = line.split(' ')[1] as string
  const index = lines.filter((l) => l.startsWith(`-A ${chain} `)).indexOf(line) + 1
  return { chain, index, args: line.split(' ').slice(2).map((a) => a.replace(/^"(.*)"$/, '$1')) }
}

describe.skipIf(!root)('drift by content', () => {
  const ns = `svmdrift${process.pid}`
  beforeAll(async () => { await run(binary('ip'), ['netns', 'add', ns]) })
  afterAll(async () => { await run(binary('ip'), ['netns', 'del', ns], { okCodes: [0, 1] }) })

  it('golden/full loaded into the kernel shows no drift: normalization maps what iptables-save prints back to the rendering', async () => {
    const golden = new URL('../golden/full/', import.meta.url)
    const rendered = renderRouter(JSON.parse(readFileSync(new URL('config.json', golden), 'utf8')), JSON.parse(readFileSync(new URL('facts.json', golden), 'utf8')))
    await run(binary('ipset'), ['restore'], { netns: ns, stdin: readFileSync(new URL('expected/ipset.restore', golden), 'utf8') })
    await run(binary('iptables-restore'), [], { netns: ns, stdin: readFileSync(new URL('expected/iptables.rules', golden), 'utf8') })
    const saved = parseSave((await run(binary('iptables-save'), [], { netns: ns })).stdout)
    const setsText = (await run(binary('ipset'), ['save'], { netns: ns })).stdout
    expect(rendered.tables.flatMap((t) => tableDrift(t, saved.get(t.name)))).toEqual([])
    const want = new Map(rendered.ipsets.map((s) => [s.name, desiredSetOptions(s)]))
    const have = new Map([...parseIpsetHeaders(setsText)].map(([n, h]) => [n, setOptions(h)]))
    expect(setDrift(new Map(rendered.ipsets.map((s) => [s.name, s.entries])), parseIpsetSave(setsText), { want, have })).toEqual([])
  })
})

describe.skipIf(!root)('routerd: drift that keeps the counts', () => {
  let r: RouterdProcess | undefined
  afterEach(async () => { await r?.close(); r = undefined })

  async function started(driftCheckSeconds: number): Promise<RouterdProcess> {
    const p = await RouterdProcess.create({ driftCheckSeconds })
    await serve(p.lab, p.lab.ns.vm1, 'tcp', '80')
    await p.put(config())
    return p
  }

  it('a freshly applied lab config shows no drift, nor do item edits applied as partial changes after it', async () => {
    r = await started(0)
    expect((await r.api('GET', '/v1/diff')).body.differences).toEqual([])
    for (let i = 0; i < 6; i++) {
      const pf = { id: `pf-e${i}`, publicIp: '203.0.113.12', protocol: i % 2 === 0 ? 'tcp' : 'udp', publicPorts: { start: 7000 + i * 300 }, privateIp: LAB_ADDR.vm2, privatePorts: { start: 7000 + i * 300 }, ...(i % 3 === 0 ? { sourceCidrs: ['192.0.2.0/24', '198.18.0.0/15'] } : {}) }
      expect((await r.api('PUT', `/v1/config/portForwards/${pf.id}`, pf)).status).toBe(200)
      const fw = { id: `fw-e${i}`, publicIp: '203.0.113.10', protocol: 'tcp', ports: { start: 3000 + i }, sourceCidrs: [`192.0.2.${i}/32`] }
      expect((await r.api('PUT', `/v1/config/firewallRules/${fw.id}`, fw)).status).toBe(200)
    }
    expect((await r.api('DELETE', '/v1/config/portForwards/pf-e2')).status).toBe(200)
    expect((await r.api('DELETE', '/v1/config/firewallRules/fw-1')).status).toBe(200)
    const eg = { id: 'eg-1', network: 'net1', protocol: 'tcp', ports: { start: 443 }, destinationCidrs: ['192.0.2.0/24', '198.51.100.0/24'] }
    const egress = await r.api('PUT', '/v1/config/egressRules/eg-1', eg)
    expect(egress.status, JSON.stringify(egress.body)).toBe(200)
    expect((await r.api('GET', '/v1/status')).body.lastApply.kind).toBe('partial')
    expect((await r.api('GET', '/v1/diff')).body.differences).toEqual([])
  })

  it('a DNAT rule rewritten in place (another target) is shown in /v1/diff and repaired by the drift check', async () => {
    r = await started(0)
    const before = await kernelSnapshot(r.lab, r.lab.ns.rtr)
    const rule = await dnatRule(r)
    const hijacked = rule.args.map((a) => (a === `${LAB_ADDR.vm1}:80` ? '10.1.1.99:6666' : a))
    expect(hijacked).not.toEqual(rule.args)
    await r.lab.exec(r.lab.ns.rtr, 'iptables', ['-t', 'nat', '-R', rule.chain, String(rule.index), ...hijacked])
    const differences: string[] = (await r.api('GET', '/v1/diff')).body.differences
    expect(differences.some((d) => d.includes('unexpected') && d.includes('10.1.1.99:6666'))).toBe(true)
    expect(differences.some((d) => d.includes('lacks') && d.includes(`${LAB_ADDR.vm1}:80`))).toBe(true)
    const resync = await r.api('POST', '/v1/resync')
    expect(resync.body.problems.length).toBeGreaterThan(0)
    expect(await kernelSnapshot(r.lab, r.lab.ns.rtr)).toBe(before)
    expect((await r.api('GET', '/v1/diff')).body.differences).toEqual([])
    expect(await curl(r.lab, r.lab.ns.inet, 'http://203.0.113.12:8080/', HOST)).toBe(`${HOST} 80`)
  })

  it('an ipset member swapped for another (same count, opening tcp/22) is shown in /v1/diff and repaired', async () => {
    r = await started(0)
    const before = await kernelSnapshot(r.lab, r.lab.ns.rtr)
    await r.lab.exec(r.lab.ns.rtr, 'ipset', ['del', 'svm-pf-open', '203.0.113.12,tcp:8080'])
    await r.lab.exec(r.lab.ns.rtr, 'ipset', ['add', 'svm-pf-open', '203.0.113.12,tcp:22'])
    const differences: string[] = (await r.api('GET', '/v1/diff')).body.differences
    expect(differences).toEqual(expect.arrayContaining([
      'ipset svm-pf-open: kernel has unexpected member 203.0.113.12,tcp:22',
      'ipset svm-pf-open: kernel lacks member 203.0.113.12,tcp:8080',
    ]))
    await r.api('POST', '/v1/resync')
    expect(await kernelSnapshot(r.lab, r.lab.ns.rtr)).toBe(before)
    expect((await r.api('GET', '/v1/diff')).body.differences).toEqual([])
  })

  it('the periodic check repairs both by itself', async () => {
    r = await started(1)
    const before = await kernelSnapshot(r.lab, r.lab.ns.rtr)
    const repairs = (await r.api('GET', '/v1/status')).body.drift.repairs as number
    const rule = await dnatRule(r)
    await r.lab.exec(r.lab.ns.rtr, 'iptables', ['-t', 'nat', '-R', rule.chain, String(rule.index), ...rule.args.map((a) => (a === `${LAB_ADDR.vm1}:80` ? '10.1.1.99:6666' : a))])
    await r.lab.exec(r.lab.ns.rtr, 'ipset', ['del', 'svm-pf-open', '203.0.113.12,tcp:8080'])
    await r.lab.exec(r.lab.ns.rtr, 'ipset', ['add', 'svm-pf-open', '203.0.113.12,tcp:22'])
    await eventually(async () => (await kernelSnapshot(r!.lab, r!.lab.ns.rtr)) === before, 'drift repair')
    expect((await r.api('GET', '/v1/status')).body.drift.repairs).toBeGreaterThan(repairs)
  })
})
