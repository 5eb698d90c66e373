import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterEach, describe, expect, it } from 'vitest'
import { LAB_ADDR, labRouterConfig } from '../../src/lab/lab.ts'
import { curl, eventually, serve } from '../helpers/router-harness.ts'
import { RouterdProcess } from '../helpers/routerd-process.ts'

const root = process.getuid?.() === 0
const HOST = LAB_ADDR.internetHost
/** What the unit runs as ExecStartPost. */
const WAIT_READY = fileURLToPath(new URL('../../appliance/routerd-ready.mjs', import.meta.url))

/** Exit code of the unit's readiness wait against this routerd. */
async function waitReady(p: RouterdProcess, timeoutSeconds: number): Promise<number | null> {
  const run = await p.lab.exec(p.lab.ns.rtr, process.execPath, [WAIT_READY, '--config', join(p.dir, 'routerd.json'), '--timeout', String(timeoutSeconds)], { okCodes: [0, 1] })
  return run.exitCode
}

/** The lab config with a port forward open to everyone: its port goes into the set svm-pf-open. */
function configWithForward(): Record<string, unknown> {
  const config = labRouterConfig()
  config['portForwards'] = [{ id: 'pf-web', publicIp: '203.0.113.12', protocol: 'tcp', publicPorts: { start: 8080 }, privateIp: LAB_ADDR.vm1, privatePorts: { start: 80 } }]
  return config
}

/**
 * Readiness apart from liveness: /readyz (no token) and /v1/status `ready` say whether the
 * desired generation is in the kernel. Set up with a leftover set of another type, which the
 * kernel cannot swap with ours.
 */
describe.skipIf(!root)('routerd readiness: /readyz, and a leftover owned set of another type', () => {
  let r: RouterdProcess | undefined
  afterEach(async () => { await r?.close(); r = undefined })

  /** Kills routerd and leaves svm-pf-open as a hash:ip set (another type), used by a rule. */
  async function leaveWrongTypedSet(p: RouterdProcess, referencedFrom: 'mangle' | 'security'): Promise<void> {
    await p.kill()
    const ns = p.lab.ns.rtr
    for (const table of ['raw', 'mangle', 'nat', 'filter']) {
      await p.lab.exec(ns, 'iptables', ['-t', table, '-F'])
      await p.lab.exec(ns, 'iptables', ['-t', table, '-X'])
    }
    await p.lab.exec(ns, 'ipset', ['destroy'])
    await p.lab.exec(ns, 'ipset', ['create', 'svm-pf-open', 'hash:ip'])
    await p.lab.exec(ns, 'ipset', ['add', 'svm-pf-open', '203.0.113.12'])
    // In use by a rule: such a set can be neither renamed nor destroyed until the rule goes.
    await p.lab.exec(ns, 'iptables', ['-t', referencedFrom, '-A', 'OUTPUT', '-m', 'set', '--match-set', 'svm-pf-open', 'dst', '-j', 'ACCEPT'])
  }

  it('a wrong-typed svm-pf-open in use by an old rule before start: routerd replaces it, converges, /readyz turns 200', async () => {
    r = await RouterdProcess.create()
    await serve(r.lab, r.lab.ns.vm1, 'tcp', '80')
    await r.put(configWithForward())
    await leaveWrongTypedSet(r, 'mangle')
    await r.start()
    const ready = await r.api('GET', '/readyz', undefined)
    expect(ready.status, JSON.stringify((await r.api('GET', '/v1/status')).body.lastError)).toBe(200)
    expect(ready.body).toEqual(expect.objectContaining({ ready: true }))
    expect((await r.api('GET', '/v1/status')).body).toEqual(expect.objectContaining({ ready: true, lastError: null }))
    expect((await r.lab.exec(r.lab.ns.rtr, 'ipset', ['list', '-t', 'svm-pf-open'])).stdout).toMatch(/^Type: hash:ip,port$/m)
    expect((await r.api('GET', '/v1/diff')).body.differences).toEqual([])
    expect(await curl(r.lab, r.lab.ns.inet, 'http://203.0.113.12:8080/', HOST)).toBe(`${HOST} 80`)
    expect(await waitReady(r, 30)).toBe(0)
  })

  it('the kernel refuses the stored state: /readyz 503 while /healthz 200; once the obstacle goes, the retry makes it ready', async () => {
    r = await RouterdProcess.create({ driftCheckSeconds: 1 })
    await r.put(configWithForward())
    // The security table is not routerd's: a rule there keeps the wrong-typed set in use.
    await leaveWrongTypedSet(r, 'security')
    await r.start()
    const notReady = await r.api('GET', '/readyz', undefined)
    expect(notReady.status).toBe(503)
    expect(notReady.body).toEqual(expect.objectContaining({ ready: false }))
    expect((await r.api('GET', '/healthz')).status).toBe(200)
    const status = (await r.api('GET', '/v1/status')).body
    expect(status.ready).toBe(false)
    expect(status.lastError).not.toBeNull()
    // The unit's wait gives up (and, being "-", lets the unit come up not ready).
    expect(await waitReady(r, 1)).toBe(1)
    await r.lab.exec(r.lab.ns.rtr, 'iptables', ['-t', 'security', '-F'])
    await eventually(async () => (await r?.api('GET', '/readyz'))?.status === 200, 'ready after the retry')
    expect((await r.api('GET', '/v1/status')).body.ready).toBe(true)
    expect(await waitReady(r, 30)).toBe(0)
  })

  it('/readyz needs no token', async () => {
    r = await RouterdProcess.create()
    const { httpUnix } = await import('../helpers/router-harness.ts')
    expect((await httpUnix(r.socket, 'GET', '/readyz', undefined, '')).status).toBe(200)
  })
})
