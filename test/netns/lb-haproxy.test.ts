import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { binary, run } from '../../src/core/exec.ts'
import { LAB_ADDR, labRouterConfig } from '../../src/lab/lab.ts'
import { haproxyCommand } from '../../src/router/services/load-balancer/haproxy/runtime-api.ts'
import { PEER } from '../helpers/router-harness.ts'
import { RouterdProcess } from '../helpers/routerd-process.ts'

/**
 * Load balancers of mode http and tls, served by the HAProxy routerd runs, with real clients on
 * the public side: X-Forwarded-For and -Proto reach the backends, a backend added or reweighted
 * goes through the runtime API (the worker stays the same process), a structural change reloads
 * without one failed request under load, TLS is terminated with the stored certificate (curl
 * checks it), cookie stickiness holds, the key never comes back out, a backend behind the
 * PROXY protocol reads the client's address from its header (and both health checkers speak it),
 * and a config HAProxy refuses leaves the running one serving.
 */

const root = process.getuid?.() === 0
const HOST = LAB_ADDR.internetHost
const VIP = '203.0.113.10'
const BACKENDS = [['h1', '10.1.1.31'], ['h2', '10.1.1.32'], ['h3', '10.1.1.33']] as const
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

describe.skipIf(!root)('load balancers in HAProxy (modes http and tls)', () => {
  let r: RouterdProcess
  let dir: string
  let cert: string
  let key: string
  const vmNamespaces = new Map<string, string>()
  let proxiedPeer: ReturnType<RouterdProcess['lab']['start']>

  const web = (backends: readonly (readonly [string, string])[], extra: Record<string, unknown> = {}) => ({
    id: 'web', publicIp: VIP, protocol: 'tcp', publicPorts: { start: 8000 }, privatePorts: { start: 8080 }, mode: 'http',
    backends: backends.map(([, ip]) => ({ ip })), ...extra,
  })
  const secure = { id: 'secure', publicIp: VIP, protocol: 'tcp', publicPorts: { start: 8443 }, privatePorts: { start: 8080 }, mode: 'tls', tls: { certificate: 'site' }, backends: [{ ip: BACKENDS[0][1] }] }

  /** PUTs the config, then waits for the service to bring HAProxy to it (services follow the config after the answer). */
  async function put(lbs: unknown[]): Promise<void> {
    await r.put({ ...labRouterConfig(), loadBalancers: lbs })
    const want = (await r.api('GET', '/v1/status')).body.desiredGeneration
    for (let i = 0; i < 200; i++) {
      const haproxy = (await r.api('GET', '/v1/lb')).body.haproxy
      if (haproxy.lastError !== null) throw new Error(`haproxy: ${JSON.stringify(haproxy.lastError)}`)
      if (haproxy.generation === want) return
      await sleep(50)
    }
    throw new Error(`haproxy did not take generation ${want}: ${r.output().slice(-2000)}`)
  }

  const get = async (url: string, ...extra: string[]) =>
    (await r.lab.exec(r.lab.ns.inet, 'curl', ['-s', '--max-time', '5', '--interface', HOST, ...extra, url], { okCodes: [0, 7, 28, 35, 52, 56, 60] })).stdout.trim()

  /** The worker serving now, as HAProxy's own admin socket says. */
  const workerPid = async () => Number(/^Pid: (\d+)$/m.exec(await haproxyCommand(join(r.dir, 'state', 'haproxy', 'admin.sock'), 'show info'))?.[1])

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'lb-haproxy-'))
    cert = join(dir, 'site.crt')
    key = join(dir, 'site.key')
    await run(binary('openssl'), ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2', '-subj', '/CN=lb.test',
      '-addext', 'subjectAltName=DNS:lb.test', '-keyout', key, '-out', cert])
    r = await RouterdProcess.create()
    for (const [name, ip] of BACKENDS) {
      const ns = await r.lab.addVm(name, ip)
      vmNamespaces.set(name, ns)
      const p = r.lab.start(ns, process.execPath, [PEER, 'named', 'tcp', '8080', name])
      for (let i = 0; i < 100 && !p.output().includes('ready'); i++) await sleep(20)
    }
    proxiedPeer = r.lab.start(vmNamespaces.get('h1') as string, process.execPath, [PEER, 'proxied', 'tcp', '9090', 'h1'])
    for (let i = 0; i < 100 && !proxiedPeer.output().includes('ready'); i++) await sleep(20)
  }, 60_000)
  afterAll(async () => {
    await r?.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it('proxies round robin and tells the backend who the client was (X-Forwarded-For, X-Forwarded-Proto)', async () => {
    await put([web(BACKENDS.slice(0, 2))])
    const answers = await Promise.all([0, 1, 2, 3].map(() => get(`http://${VIP}:8000/`, '-H', 'Connection: close')))
    expect(new Set(answers.map((a) => a.split(' ')[0]))).toEqual(new Set(['h1', 'h2']))
    expect(answers[0]).toMatch(new RegExp(`^h[12] ${LAB_ADDR.router.replace(/\./g, '\\.')} xff=${HOST.replace(/\./g, '\\.')} proto=http$`))
  })

  it('a backend added or reweighted goes through the runtime API: the worker stays the same process', async () => {
    const before = await workerPid()
    await put([web(BACKENDS)])
    const seen = new Set<string>()
    for (let i = 0; i < 9; i++) seen.add((await get(`http://${VIP}:8000/`, '-H', 'Connection: close')).split(' ')[0] as string)
    expect(seen).toEqual(new Set(['h1', 'h2', 'h3']))
    await put([{ ...web(BACKENDS), backends: [{ ip: BACKENDS[0][1], weight: 0 }, { ip: BACKENDS[1][1] }, { ip: BACKENDS[2][1] }] }])
    const after = new Set<string>()
    for (let i = 0; i < 8; i++) after.add((await get(`http://${VIP}:8000/`, '-H', 'Connection: close')).split(' ')[0] as string)
    expect(after).toEqual(new Set(['h2', 'h3']))
    expect(await workerPid()).toBe(before)
  })

  it('a structural change reloads seamlessly: not one request fails under load', async () => {
    await put([web(BACKENDS)])
    const before = await workerPid()
    const load = r.lab.exec(r.lab.ns.inet, 'curl', ['-s', '--max-time', '30', '-H', 'Connection: close', '--interface', HOST, '-o', '/dev/null', '-w', '%{http_code}\\n', `http://${VIP}:8000/?[1-600]`],
      { timeoutMs: 60_000, okCodes: [0, 7, 28, 52, 56] })
    await sleep(300)
    await put([web(BACKENDS, { algorithm: 'leastconn' })])
    await sleep(300)
    await put([web(BACKENDS, { algorithm: 'roundrobin', stickiness: { kind: 'lbCookie' } })])
    const codes = (await load).stdout.trim().split('\n')
    expect(codes.length).toBe(600)
    expect(codes.filter((c) => c !== '200')).toEqual([])
    expect(await workerPid()).not.toBe(before)
  }, 60_000)

  it('cookie stickiness keeps a client on the backend that first served it', async () => {
    await put([web(BACKENDS, { stickiness: { kind: 'lbCookie', cookie: 'LB' } })])
    const jar = join(dir, 'jar')
    const first = (await get(`http://${VIP}:8000/`, '-c', jar)).split(' ')[0]
    expect(readFileSync(jar, 'utf8')).toMatch(/\tLB\t/)
    for (let i = 0; i < 6; i++) expect((await get(`http://${VIP}:8000/`, '-b', jar)).split(' ')[0]).toBe(first)
  })

  it('terminates TLS with the stored certificate (curl verifies it), and the key never comes back out', async () => {
    const refused = await r.api('PUT', '/v1/config', { ...labRouterConfig(), loadBalancers: [secure] })
    expect(refused.status).toBe(400)
    expect(JSON.stringify(refused.body)).toContain('ERR_CERTIFICATE_MISSING')
    const wrongKey = await r.api('PUT', '/v1/certificates/site', { certificate: readFileSync(cert, 'utf8'), key: (await run(binary('openssl'), ['genpkey', '-algorithm', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1'])).stdout })
    expect(wrongKey.body.error.code).toBe('ERR_BAD_CERTIFICATE')
    const stored = await r.api('PUT', '/v1/certificates/site', { certificate: readFileSync(cert, 'utf8'), key: readFileSync(key, 'utf8') })
    expect(stored.status).toBe(200)
    expect(stored.body).toMatchObject({ id: 'site', subject: 'CN=lb.test' })
    await put([web(BACKENDS), secure])
    expect(await get('https://lb.test:8443/', '--cacert', cert, '--resolve', `lb.test:8443:${VIP}`)).toMatch(/^h1 \S+ xff=\S+ proto=https$/)
    const pem = readFileSync(key, 'utf8').split('\n')[1] as string
    expect(JSON.stringify((await r.api('GET', '/v1/config')).body)).not.toContain(pem.slice(0, 20))
    expect(JSON.stringify((await r.api('GET', '/v1/certificates')).body)).not.toContain('PRIVATE')
    expect(statSync(join(r.dir, 'state', 'certificates', 'site.pem')).mode & 0o777).toBe(0o600)
    expect(r.output()).not.toContain(pem.slice(0, 20))
    expect((await r.api('DELETE', '/v1/certificates/site')).status).toBe(409)
  }, 30_000)

  it('sends the PROXY protocol (v2): the backend reads the client from the header; HAProxy\'s checks and routerd\'s speak it too, and /v1/lb shows HAProxy\'s view', async () => {
    const pp = { id: 'pp', publicIp: VIP, protocol: 'tcp', publicPorts: { start: 8100 }, privatePorts: { start: 9090 }, mode: 'http', proxyProtocol: true,
      backends: [{ ip: BACKENDS[0][1] }], healthCheck: { type: 'http', path: '/health', intervalSeconds: 1, timeoutSeconds: 1, rise: 1, fall: 2 } }
    await put([web(BACKENDS), pp])
    expect(await get(`http://${VIP}:8100/`, '-H', 'Connection: close')).toMatch(new RegExp(`^h1 proxy=${HOST.replace(/\./g, '\\.')}:\\d+->${VIP.replace(/\./g, '\\.')}:8100$`))
    let backend: Record<string, unknown> = {}
    for (let i = 0; i < 60; i++) {
      backend = (await r.api('GET', '/v1/lb')).body.loadBalancers.find((x: { id: string }) => x.id === 'pp').backends[0]
      if ((backend['lastResult'] as { ok: boolean } | null)?.ok === true && (backend['haproxy'] as { check: string } | undefined)?.check === 'L7OK') break
      await sleep(100)
    }
    expect(backend).toMatchObject({ ip: BACKENDS[0][1], state: 'up', lastResult: { ok: true, detail: 'status 200' }, haproxy: { status: 'UP', check: 'L7OK' } })
    expect((backend['haproxy'] as { totalSessions: number }).totalSessions).toBeGreaterThanOrEqual(1)
    expect(proxiedPeer.output()).not.toContain('rejected')
  }, 30_000)

  it('a config HAProxy refuses (a certificate damaged on disk) is reported and leaves the running one serving; the fix is taken', async () => {
    await r.api('PUT', '/v1/certificates/site', { certificate: readFileSync(cert, 'utf8'), key: readFileSync(key, 'utf8') })
    await put([web(BACKENDS), secure])
    const before = await workerPid()
    const served = (await r.api('GET', '/v1/lb')).body.haproxy.generation
    writeFileSync(join(r.dir, 'state', 'certificates', 'site.pem'), 'not a certificate\n')
    await r.put({ ...labRouterConfig(), loadBalancers: [web(BACKENDS, { algorithm: 'leastconn' }), secure] })
    let haproxy: { generation: number; lastError: { code: string } | null } = { generation: 0, lastError: null }
    for (let i = 0; i < 100 && haproxy.lastError === null; i++) {
      await sleep(50)
      haproxy = (await r.api('GET', '/v1/lb')).body.haproxy
    }
    expect(haproxy).toMatchObject({ generation: served, lastError: { code: 'ERR_HAPROXY_CONFIG' } })
    expect(await workerPid()).toBe(before)
    expect(await get(`http://${VIP}:8000/`, '-H', 'Connection: close')).toMatch(/^h[123] /)
    expect(await get('https://lb.test:8443/', '--cacert', cert, '--resolve', `lb.test:8443:${VIP}`)).toMatch(/^h1 /)
    await r.api('PUT', '/v1/certificates/site', { certificate: readFileSync(cert, 'utf8'), key: readFileSync(key, 'utf8') })
    const want = (await r.api('GET', '/v1/status')).body.desiredGeneration
    for (let i = 0; i < 100 && (haproxy.lastError !== null || haproxy.generation !== want); i++) {
      await sleep(50)
      haproxy = (await r.api('GET', '/v1/lb')).body.haproxy
    }
    expect(haproxy).toMatchObject({ generation: want, lastError: null })
    expect(await workerPid()).not.toBe(before)
  }, 30_000)

  it('a public port HAProxy stops serving (mode http → l4) loses its conntrack entries; a client reusing its port reaches a backend', async () => {
    await put([web(BACKENDS)])
    const port = String(41000 + (process.pid % 1000))
    const ask = async () => (await r.lab.exec(r.lab.ns.inet, process.execPath, [PEER, 'ask', 'tcp', VIP, '8000', HOST, port], { okCodes: [0, 1] })).stdout
    const entries = async () => (await r.lab.exec(r.lab.ns.rtr, 'conntrack', ['-L', '-p', 'tcp', '--orig-dst', VIP, '--orig-port-dst', '8000', '--orig-port-src', port], { okCodes: [0, 1] })).stdout
    // One request, ended by the client with a reset: the entry (no NAT: the router's own socket
    // answered) stays in CLOSE for 10 s.
    expect(await ask()).toMatch(/^h[123] /)
    expect(await entries()).toMatch(new RegExp(`CLOSE src=${HOST} dst=${VIP} sport=${port} dport=8000 src=${VIP} dst=${HOST} sport=8000 dport=${port} `))
    await r.put({ ...labRouterConfig(), loadBalancers: [web(BACKENDS, { mode: 'l4' })] })
    expect(await entries()).not.toContain(`dport=${port}`)
    // The same 4-tuple at once reaches a backend. (Here the kernel would also reopen the entry
    // by itself, as the client's reset closed it; entries closed otherwise, as in bench-lb's
    // runs after HAProxy, are not reopened: bench/README.md.)
    expect(await ask()).toMatch(/^h[123] /)
    expect(await entries()).toMatch(/src=10\.1\.1\.3[123] dst=/)
  }, 30_000)
})
