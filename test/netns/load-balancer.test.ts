import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { StartedProcess } from '../../src/core/exec.ts'
import { LAB_ADDR } from '../../src/lab/lab.ts'
import { labRouterConfig, PEER, startHarness, type Harness } from '../helpers/router-harness.ts'

/**
 * Load balancers in the kernel (mode l4) with real traffic: backends are guest VMs added to the
 * lab, each answering with its own name and the client address it saw; clients are the public
 * host and a guest. Distribution per algorithm, client affinity, the client's address reaching
 * the backend, hairpin, and connections that survive backends being added, removed and drained
 * and the whole config being pushed again.
 */

const root = process.getuid?.() === 0
const HOST = LAB_ADDR.internetHost
const VIP = '203.0.113.10'
const BACKENDS = [['b1', '10.1.1.21'], ['b2', '10.1.1.22'], ['b3', '10.1.1.23'], ['b4', '10.1.1.24']] as const

describe.skipIf(!root)('load balancers in the kernel: real traffic through the router', () => {
  let h: Harness
  const ns = new Map<string, string>()

  function config(loadBalancers: unknown[]): Record<string, unknown> {
    return { ...labRouterConfig(), loadBalancers }
  }
  const lb = (id: string, port: number, backends: unknown[], extra: Record<string, unknown> = {}) => ({
    id, publicIp: VIP, protocol: 'tcp', publicPorts: { start: port }, privatePorts: { start: 8080 }, backends, ...extra,
  })
  const web = (weights: number[] = [1, 1, 1]) => lb('web', 80, weights.map((weight, i) => ({ ip: BACKENDS[i]![1], weight })))

  async function put(doc: Record<string, unknown>): Promise<void> {
    const res = await h.api('PUT', '/v1/config', doc)
    expect(res.status, JSON.stringify(res.body)).toBe(200)
  }

  /** `n` HTTP requests, each on its own connection, from one namespace: the backend names that answered, counted. */
  async function spread(from: string, url: string, n: number, bind?: string): Promise<Map<string, number>> {
    const args = ['-s', '--max-time', '20', '-H', 'Connection: close', ...(bind === undefined ? [] : ['--interface', bind]), `${url}?[1-${n}]`]
    const r = await h.lab.exec(from, 'curl', args, { timeoutMs: 30_000 })
    const counts = new Map<string, number>()
    for (const line of r.stdout.trim().split('\n')) {
      const name = line.split(' ')[0] as string
      counts.set(name, (counts.get(name) ?? 0) + 1)
    }
    return counts
  }

  beforeAll(async () => {
    h = await startHarness()
    for (const [name, ip] of BACKENDS) {
      const n = await h.lab.addVm(name, ip)
      ns.set(name, n)
      for (const proto of ['tcp', 'udp']) {
        const p = h.lab.start(n, process.execPath, [PEER, 'named', proto, '8080', name])
        for (let i = 0; i < 100 && !p.output().includes('ready'); i++) await new Promise((r) => setTimeout(r, 20))
      }
    }
  }, 60_000)
  afterAll(async () => { await h?.close() })

  it('round robin with equal weights takes turns exactly, and the backend sees the client address', async () => {
    await put(config([web()]))
    const counts = await spread(h.lab.ns.inet, `http://${VIP}/`, 300, HOST)
    expect(Object.fromEntries(counts)).toEqual({ b1: 100, b2: 100, b3: 100 })
    const seen = (await h.lab.exec(h.lab.ns.inet, 'curl', ['-s', '--interface', HOST, `http://${VIP}/`])).stdout.trim()
    expect(seen).toMatch(new RegExp(`^b[123] ${HOST.replace(/\./g, '\\.')}$`))
  })

  it('weights are respected (1:3, within 20 %); a drained backend (weight 0) gets nothing new', async () => {
    await put(config([web([1, 3, 0])]))
    const counts = await spread(h.lab.ns.inet, `http://${VIP}/`, 400, HOST)
    expect(counts.get('b3')).toBeUndefined()
    const b1 = counts.get('b1') ?? 0
    const b2 = counts.get('b2') ?? 0
    expect(b1 + b2).toBe(400)
    // Expected 100 and 300; the random split's standard deviation is ~8.7.
    expect(b1).toBeGreaterThan(80)
    expect(b1).toBeLessThan(120)
  })

  it('source affinity keeps a client on one backend; another client may land elsewhere', async () => {
    await put(config([lb('sticky', 81, BACKENDS.slice(0, 3).map(([, ip]) => ({ ip })), { algorithm: 'source' })]))
    const fromHost = await spread(h.lab.ns.inet, `http://${VIP}:81/`, 30, HOST)
    expect(fromHost.size).toBe(1)
    const fromGuest = await spread(h.lab.ns.vm1, `http://${VIP}:81/`, 30)
    expect(fromGuest.size).toBe(1)
    // Kernel-filled affinity sets are not drift, and a full push keeps them.
    expect((await h.api('GET', '/v1/diff')).body.differences).toEqual([])
    await put({ ...config([lb('sticky', 81, BACKENDS.slice(0, 3).map(([, ip]) => ({ ip })), { algorithm: 'source' })]), staticRoutes: [{ id: 'r', cidr: '172.16.0.0/12', via: '10.1.1.254' }] })
    expect([...(await spread(h.lab.ns.inet, `http://${VIP}:81/`, 10, HOST)).keys()]).toEqual([...fromHost.keys()])
  })

  it('hairpin: a guest reaches the VIP, and a guest backend balanced to itself answers', async () => {
    await put(config([web()]))
    const counts = await spread(h.lab.ns.vm1, `http://${VIP}/`, 30)
    expect([...counts.values()].reduce((a, b) => a + b, 0)).toBe(30)
    const fromBackend = await spread(ns.get('b1')!, `http://${VIP}/`, 6)
    expect([...fromBackend.values()].reduce((a, b) => a + b, 0)).toBe(6)
  })

  it('no backend taking connections refuses them at once', async () => {
    await put(config([web([0, 0, 0])]))
    const r = await h.lab.exec(h.lab.ns.inet, 'curl', ['-s', '--max-time', '3', '--interface', HOST, `http://${VIP}/`], { okCodes: [7, 28, 52, 56] })
    expect(r.exitCode).toBe(7)
  })

  it('a kept-alive TCP connection and a UDP flow keep their backend while backends are added, removed and drained and the config is pushed again', async () => {
    const udpLb = { ...lb('dns', 53, BACKENDS.slice(0, 2).map(([, ip]) => ({ ip })), { protocol: 'udp' }) }
    await put(config([web([1, 1]), udpLb]))
    const tcp = h.lab.start(h.lab.ns.inet, process.execPath, [PEER, 'keep', 'tcp', `http://${VIP}/`, '6'])
    const udp = h.lab.start(h.lab.ns.inet, process.execPath, [PEER, 'keep', 'udp', VIP, '53', '6', HOST])
    const changes = [
      config([web([1, 1, 1]), { ...udpLb, backends: [...udpLb.backends, { ip: BACKENDS[2][1] }] }]),
      config([web([1, 0, 1]), udpLb]),
      config([lb('web', 80, [{ ip: BACKENDS[0][1] }, { ip: BACKENDS[1][1] }, { ip: BACKENDS[3][1] }]), udpLb]),
      { ...config([web([1, 1]), udpLb]), staticRoutes: [{ id: 'r', cidr: '172.16.0.0/12', via: '10.1.1.254' }] },
    ]
    for (const c of changes) {
      await new Promise((r) => setTimeout(r, 700))
      await put(c)
    }
    const [t, u] = await Promise.all([exitOf(tcp), exitOf(udp)])
    expect(t.code, t.output).toBe(0)
    expect(u.code, u.output).toBe(0)
    for (const out of [t.output, u.output]) {
      const names = new Set(out.trim().split('\n').map((l) => l.split(' ')[0]))
      expect(names.size, out).toBe(1)
    }
  }, 30_000)

  it('continuous HTTP load (a connection per request) while backends are added, removed, drained and reweighted: not one request fails', async () => {
    await put(config([web([1, 1])]))
    // Runs until stopped after the last change, so the load spans every change however fast the machine is.
    const load = h.lab.start(h.lab.ns.inet, 'curl', ['-s', '--max-time', '5', '-H', 'Connection: close', '--interface', HOST, '-o', '/dev/null', '-w', '%{http_code}\\n', `http://${VIP}/?[1-1000000]`])
    const codes = () => load.output().split('\n').filter((l) => /^\d{3}$/.test(l))
    for (let i = 0; i < 100 && codes().length === 0; i++) await new Promise((r) => setTimeout(r, 20))
    const steps = [[1, 1, 1], [1, 0, 1], [0, 3, 1], [2, 1], [1, 1, 1], [1], [1, 1, 1]]
    for (let i = 0; i < 3; i++) {
      for (const weights of steps) {
        await new Promise((r) => setTimeout(r, 50))
        await put(config([web(weights)]))
      }
    }
    await new Promise((r) => setTimeout(r, 200))
    load.kill('SIGTERM')
    await load.exited
    const seen = codes()
    expect(seen.length).toBeGreaterThan(100)
    expect(seen.filter((c) => c !== '200')).toEqual([])
  }, 90_000)

  it('removing a UDP backend moves its flows only (their conntrack entries are cleared): the other backend\'s flow stays', async () => {
    const udpLb = lb('dns', 53, BACKENDS.slice(0, 2).map(([, ip]) => ({ ip })), { protocol: 'udp' })
    await put(config([udpLb]))
    const flows = [h.lab.start(h.lab.ns.inet, process.execPath, [PEER, 'keep', 'udp', VIP, '53', '4', HOST]), h.lab.start(h.lab.ns.inet, process.execPath, [PEER, 'keep', 'udp', VIP, '53', '4', HOST])]
    await new Promise((r) => setTimeout(r, 800))
    const on = await Promise.all(flows.map(async (f) => f.output().trim().split('\n')[0]?.split(' ')[0]))
    expect(new Set(on)).toEqual(new Set(['b1', 'b2']))
    await put(config([{ ...udpLb, backends: [{ ip: BACKENDS[0][1] }] }]))
    const [first, second] = await Promise.all(flows.map(exitOf))
    const ended = on[0] === 'b2' ? first : second
    const kept = on[0] === 'b2' ? second : first
    expect(kept?.code, kept?.output).toBe(0)
    // The removed backend's flow is cut; its next datagrams reach b1 (a new flow) or nothing while the entry is gone.
    expect(ended?.output.trim().split('\n').at(-1)?.startsWith('b2')).toBe(false)
  }, 20_000)
})

function exitOf(p: StartedProcess): Promise<{ code: number | null; output: string }> {
  return p.exited.then((code) => ({ code: typeof code === 'number' ? code : null, output: p.output() }))
}
