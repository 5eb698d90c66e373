import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { binary, run, type StartedProcess } from '../../../src/core/exec.ts'
import { LAB_ADDR, labRouterConfig } from '../../../src/lab/lab.ts'
import { PEER } from '../../helpers/router-harness.ts'
import { RouterdProcess } from '../../helpers/routerd-process.ts'

/**
 * The HAProxy routerd runs for load balancers of mode http and tls, attacked from the internet
 * side with real sockets: one client opening thousands of connections that trickle their
 * headers (slow-loris) or finish a TLS handshake and say nothing. HAProxy's memory stays
 * bounded (a 256 MB VM holds it), another client is served throughout, and the attacker's
 * connections are cut at their deadlines.
 */

const root = process.getuid?.() === 0
const VIP = '203.0.113.10'
/** The attacker's source: the public gateway's own address in the internet namespace. */
const ATTACKER = LAB_ADDR.public0Gateway
const GOOD = LAB_ADDR.internetHost

describe.skipIf(!root)('HAProxy (load balancers of mode http and tls) under a hostile client', () => {
  let r: RouterdProcess
  let dir: string

  /** Resident memory of every HAProxy process in the router namespace (master and workers), KiB. */
  async function haproxyRssKb(): Promise<number> {
    const pids = (await run(binary('ip'), ['netns', 'pids', r.lab.ns.rtr])).stdout.split('\n').filter((p) => p !== '')
    let sum = 0
    for (const pid of pids) {
      try {
        const status = readFileSync(`/proc/${pid}/status`, 'utf8')
        if (/^Name:\s+haproxy$/m.test(status)) sum += Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0)
      } catch {
        // gone meanwhile
      }
    }
    return sum
  }

  const good = async (url: string) =>
    (await r.lab.exec(r.lab.ns.inet, 'curl', ['-sk', '--max-time', '5', '--interface', GOOD, url], { okCodes: [0, 7, 28, 35, 52, 56] })).stdout.trim()

  function attacker(script: string): StartedProcess {
    return r.lab.start(r.lab.ns.inet, process.execPath, ['-e', script])
  }

  async function until(p: StartedProcess, text: string, ms: number): Promise<void> {
    for (const deadline = Date.now() + ms; Date.now() < deadline && !p.output().includes(text);) await new Promise((ok) => setTimeout(ok, 100))
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'lb-hostile-'))
    const cert = join(dir, 'site.crt')
    const key = join(dir, 'site.key')
    await run(binary('openssl'), ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2', '-subj', '/CN=lb.test', '-keyout', key, '-out', cert])
    r = await RouterdProcess.create()
    const ns = await r.lab.addVm('h1', '10.1.1.31')
    const peer = r.lab.start(ns, process.execPath, [PEER, 'named', 'tcp', '8080', 'h1'])
    for (let i = 0; i < 100 && !peer.output().includes('ready'); i++) await new Promise((ok) => setTimeout(ok, 20))
    const stored = await r.api('PUT', '/v1/certificates/site', { certificate: readFileSync(cert, 'utf8'), key: readFileSync(key, 'utf8') })
    expect(stored.status, JSON.stringify(stored.body)).toBe(200)
    const lb = (id: string, port: number, extra: Record<string, unknown>) =>
      ({ id, publicIp: VIP, protocol: 'tcp', publicPorts: { start: port }, privatePorts: { start: 8080 }, backends: [{ ip: '10.1.1.31' }], ...extra })
    await r.put({ ...labRouterConfig(), loadBalancers: [lb('web', 8000, { mode: 'http' }), lb('secure', 8443, { mode: 'tls', tls: { certificate: 'site' } })] })
    for (let i = 0; i < 200 && !(await good(`http://${VIP}:8000/`)).startsWith('h1'); i++) await new Promise((ok) => setTimeout(ok, 50))
    expect(await good(`http://${VIP}:8000/`)).toMatch(/^h1 /)
    expect(await good(`https://${VIP}:8443/`)).toMatch(/^h1 /)
  }, 60_000)

  afterAll(async () => {
    await r?.close()
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true })
  })

  it('3,000 slow-loris connections and 500 silent TLS sessions from one client: it gets its share (1,024 a frontend), HAProxy\'s memory stays bounded, another client is served, the attacker is cut', async () => {
    const before = await haproxyRssKb()
    const loris = attacker(`
      const net = require('net'), tls = require('tls'); let open = 0, closed = 0, early = 0
      const line = 'GET / HTTP/1.1\\r\\nHost: x\\r\\nX-Pad: '
      const watch = (s) => { const at = Date.now(); s.on('error', () => {}); s.on('data', () => {}); s.on('close', () => { closed++; if (Date.now() - at < 2000) early++ }); return s }
      for (let i = 0; i < 3000; i++) {
        const s = watch(net.connect({ port: 8000, host: '${VIP}', localAddress: '${ATTACKER}' }, () => { open++; s.write(line) }))
        const t = setInterval(() => { if (s.writable) s.write('a') }, 1000)
        s.on('close', () => clearInterval(t))
      }
      for (let i = 0; i < 500; i++) watch(tls.connect({ port: 8443, host: '${VIP}', localAddress: '${ATTACKER}', rejectUnauthorized: false }, () => { open++ }))
      setInterval(() => console.log('open ' + open + ' early ' + early + ' closed ' + closed), 1000)
      setTimeout(() => {}, 120000)`)
    const count = (what: string) => Number(new RegExp(`${what} (\\d+)[^\\n]*\\s*$`).exec(loris.output())?.[1] ?? 0)
    try {
      await until(loris, 'open 3500', 30_000)
      await new Promise((ok) => setTimeout(ok, 3000))
      const peak = await haproxyRssKb()
      // Beyond its 1,024 on the http frontend, the client's connections were refused at accept.
      expect(count('early'), loris.output().split('\n').slice(-2).join(' ')).toBe(3000 - 1024)
      expect(await good(`http://${VIP}:8000/`)).toMatch(/^h1 /)
      expect(await good(`https://${VIP}:8443/`)).toMatch(/^h1 /)
      // The VM has 256 MB: one client's idle sockets take ~20 KiB each (a request buffer, a TLS
      // session), 1,524 of them ~30 MiB; without its share (3,500) it was ~40 MiB and growing with it.
      expect(peak - before, `HAProxy RSS ${before} → ${peak} KiB`).toBeLessThan(48 * 1024)
      // timeout http-request (10 s) cuts the trickling heads (timeout client, 60 s, the silent TLS sessions later).
      for (const deadline = Date.now() + 30_000; Date.now() < deadline && count('closed') < 3000;) await new Promise((ok) => setTimeout(ok, 500))
      expect(count('closed')).toBeGreaterThanOrEqual(3000)
    } finally {
      loris.kill('SIGKILL')
      await loris.exited
    }
  }, 120_000)
})
