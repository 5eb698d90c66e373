import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { StartedProcess } from '../../src/core/exec.ts'
import { LAB_ADDR, labRouterConfig } from '../../src/lab/lab.ts'
import { PEER } from '../helpers/router-harness.ts'
import { RouterdProcess } from '../helpers/routerd-process.ts'

/**
 * routerd's own health checks of load-balancer backends, with the daemon as the unit runs it and
 * backends that die, come back, or accept and never answer: a backend is out after `fall` failed
 * checks and back after `rise` passed ones, traffic follows, `GET /v1/lb` and the metrics say so;
 * and leastconn steers new connections away from a backend holding many.
 */

const root = process.getuid?.() === 0
const HOST = LAB_ADDR.internetHost
const VIP = '203.0.113.10'
const BACKENDS = [['b1', '10.1.1.21'], ['b2', '10.1.1.22'], ['b3', '10.1.1.23']] as const

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

describe.skipIf(!root)('load-balancer health checks and leastconn in routerd', () => {
  let r: RouterdProcess
  const ns = new Map<string, string>()
  const servers = new Map<string, StartedProcess>()

  async function startBackend(name: string): Promise<void> {
    const p = r.lab.start(ns.get(name)!, process.execPath, [PEER, 'named', 'tcp', '8080', name])
    for (let i = 0; i < 100 && !p.output().includes('ready'); i++) await sleep(20)
    servers.set(name, p)
  }

  async function until<T>(what: string, fn: () => Promise<T>, ok: (v: T) => boolean, ms = 15_000): Promise<T> {
    const end = Date.now() + ms
    let last: T = await fn()
    while (!ok(last)) {
      if (Date.now() > end) throw new Error(`${what}: still ${JSON.stringify(last)}`)
      await sleep(200)
      last = await fn()
    }
    return last
  }

  const backendState = async (ip: string) => {
    const lbs = (await r.api('GET', '/v1/lb')).body.loadBalancers as { id: string; backends: { ip: string; state: string; consecutiveFailures: number; consecutivePasses: number; lastResult: { detail: string } | null }[] }[]
    return lbs.find((l) => l.id === 'web')?.backends.find((b) => b.ip === ip)
  }

  async function names(n: number): Promise<Map<string, number>> {
    const out = await r.lab.exec(r.lab.ns.inet, 'curl', ['-s', '--max-time', '20', '-H', 'Connection: close', '--interface', HOST, `http://${VIP}/?[1-${n}]`], { timeoutMs: 30_000 })
    const counts = new Map<string, number>()
    for (const line of out.stdout.trim().split('\n')) counts.set(line.split(' ')[0] as string, (counts.get(line.split(' ')[0] as string) ?? 0) + 1)
    return counts
  }

  beforeAll(async () => {
    r = await RouterdProcess.create()
    for (const [name, ip] of BACKENDS) {
      ns.set(name, await r.lab.addVm(name, ip))
      await startBackend(name)
    }
    await r.put({
      ...labRouterConfig(),
      loadBalancers: [{
        id: 'web', publicIp: VIP, protocol: 'tcp', publicPorts: { start: 80 }, privatePorts: { start: 8080 },
        backends: BACKENDS.map(([, ip]) => ({ ip })),
        healthCheck: { type: 'http', path: '/', intervalSeconds: 1, timeoutSeconds: 1, rise: 2, fall: 2 },
      }],
    })
  }, 60_000)
  afterAll(async () => { await r?.close() })

  it('a killed backend is out after fall failed checks and back after rise passed ones; traffic and metrics follow', async () => {
    await until('all up with a passed check', async () => Promise.all(BACKENDS.map(([, ip]) => backendState(ip))), (s) => s.every((b) => b?.state === 'up' && b.lastResult !== null))
    servers.get('b2')!.kill('SIGKILL')
    const down = await until('b2 down', () => backendState('10.1.1.22'), (b) => b?.state === 'down')
    expect(down).toMatchObject({ consecutiveFailures: 2, lastResult: { detail: 'connect refused' } })
    expect(await r.metric('routerd_lb_backend_up', { backend: '10.1.1.22:8080' })).toBe(0)
    expect(await r.metric('routerd_lb_transitions_total', { lb: 'web', direction: 'down' })).toBe(1)
    // The chain follows without a new generation: new connections go to b1 and b3 only.
    expect(Object.fromEntries(await names(30))).toEqual({ b1: 15, b3: 15 })
    expect((await r.api('GET', '/v1/status')).body.desiredGeneration).toBe(1)
    await startBackend('b2')
    const up = await until('b2 up', () => backendState('10.1.1.22'), (b) => b?.state === 'up')
    expect(up?.consecutivePasses).toBe(2)
    expect(Object.fromEntries(await names(30))).toEqual({ b1: 10, b2: 10, b3: 10 })
    expect((await r.api('GET', '/v1/diff')).body.differences).toEqual([])
  }, 40_000)

  it('a backend that accepts and never answers fails by timeout', async () => {
    servers.get('b3')!.kill('SIGKILL')
    await servers.get('b3')!.exited
    // netcat listens and never says a word.
    const silent = r.lab.start(ns.get('b3')!, 'nc', ['-lk', '8080'])
    await sleep(300)
    const down = await until('b3 down', () => backendState('10.1.1.23'), (b) => b?.state === 'down')
    expect(down?.lastResult?.detail).toBe('timeout after 1000 ms')
    silent.kill('SIGKILL')
    await silent.exited
    await startBackend('b3')
    await until('b3 up', () => backendState('10.1.1.23'), (b) => b?.state === 'up')
  }, 40_000)

  it('leastconn steers new connections towards the backend holding fewer', async () => {
    const config = (weights: [number, number]) => ({
      ...labRouterConfig(),
      loadBalancers: [{
        id: 'web', publicIp: VIP, protocol: 'tcp', publicPorts: { start: 80 }, privatePorts: { start: 8080 }, algorithm: 'leastconn',
        backends: [{ ip: BACKENDS[0][1], weight: weights[0] }, { ip: BACKENDS[1][1], weight: weights[1] }],
      }],
    })
    await r.put(config([1, 0]))
    // Six long-lived connections, all on b1 while b2 is drained.
    const holders = Array.from({ length: 6 }, () => r.lab.start(r.lab.ns.inet, process.execPath, [PEER, 'keep', 'tcp', `http://${VIP}/`, '12']))
    await until('six connections on b1', async () => holders.map((h) => h.output().split('\n')[0] ?? ''), (lines) => lines.every((l) => l.startsWith('b1 ')))
    await r.put(config([1, 1]))
    const steered = await until('weights steered', async () => (await r.api('GET', '/v1/lb')).body.loadBalancers[0].backends,
      (bs: { steeredWeight?: number; connections?: number }[]) => bs[0]?.connections === 6 && (bs[1]?.steeredWeight ?? 0) > (bs[0]?.steeredWeight ?? 0))
    expect(steered.map((b: { steeredWeight?: number }) => b.steeredWeight)).toEqual([2, 16])
    const counts = await names(36)
    // 16 : 2 of new connections; round robin would give 18 each.
    expect(counts.get('b2') ?? 0).toBeGreaterThan(26)
    for (const h of holders) h.kill('SIGKILL')
  }, 40_000)
})
