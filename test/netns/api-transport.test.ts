import { execFileSync } from 'node:child_process'
import { connect } from 'node:net'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { RouterdProcess } from '../helpers/routerd-process.ts'
import { TOKEN } from '../helpers/router-harness.ts'

/**
 * The API as a real server: a client that trickles its request is cut off at the deadline even
 * with a valid token; with a certificate and key configured it speaks HTTPS only; and nothing
 * but JSON lines reaches the daemon's log (node's own warnings included).
 */

const root = process.getuid?.() === 0

describe.skipIf(!root)('API transport: request deadline and log lines', () => {
  let r: RouterdProcess
  beforeAll(async () => { r = await RouterdProcess.create({ requestTimeoutSeconds: 2, logLevel: 'info' }) })
  afterAll(async () => { await r?.close() })

  it('a body trickled a byte at a time is cut off at the deadline, token or not; others are still served', async () => {
    const socket = connect(r.socket)
    let closed = false
    let answer = ''
    socket.on('data', (d: Buffer) => { answer += d.toString('utf8') })
    socket.on('close', () => { closed = true })
    socket.on('error', () => { closed = true })
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()))
    socket.write(`PUT /v1/config HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{`)
    // 600 bytes, one every 50 ms, would take 30 s; the daemon must close the connection long before.
    for (let i = 0; i < 600 && !closed; i++) {
      socket.write(' ')
      await new Promise((res) => setTimeout(res, 50))
    }
    socket.destroy()
    expect(closed, 'the connection was still open after 30 s of trickling').toBe(true)
    expect(answer === '' || answer.startsWith('HTTP/1.1 408')).toBe(true)
    expect((await r.api('GET', '/v1/status')).status).toBe(200)
  })

  it('every line the daemon wrote is a JSON object (no plain-text node warnings)', async () => {
    // DHCP on a guest link makes routerd bind its per-link socket (the sockopt path).
    const config = {
      interfaces: [{ id: 'guest1', role: 'guest', mac: '02:5e:00:00:00:02' }], publicIps: [],
      guestNetworks: [{ id: 'net1', interface: 'guest1', cidr: '10.1.1.0/24', routerIp: '10.1.1.1' }],
      staticNats: [], portForwards: [], firewallRules: [], egressRules: [], staticRoutes: [],
      dhcpHosts: [{ id: 'vm1', network: 'net1', mac: '02:5e:00:00:01:01', ip: '10.1.1.10' }],
    }
    await r.put(config)
    await new Promise((res) => setTimeout(res, 500))
    const lines = r.output().split('\n').filter((l) => l.trim() !== '')
    expect(lines.length).toBeGreaterThan(0)
    const notJson = lines.filter((l) => { try { return typeof JSON.parse(l) !== 'object' } catch { return true } })
    expect(notJson).toEqual([])
  })
})

describe.skipIf(!root)('API transport: TLS', () => {
  let r: RouterdProcess
  let dir: string
  beforeAll(async () => {
    dir = execFileSync('mktemp', ['-d']).toString().trim()
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=routerd-test',
      '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' })
    r = await RouterdProcess.create({
      listen: { host: '127.0.0.1', port: 8443 }, tls: { certFile: join(dir, 'cert.pem'), keyFile: join(dir, 'key.pem') },
    })
  })
  afterAll(async () => {
    await r?.close()
    if (dir) execFileSync('rm', ['-rf', dir])
  })

  it('answers HTTPS verified against its certificate, with the token', async () => {
    const res = await r.lab.exec(r.lab.ns.rtr, 'curl', ['-s', '--cacert', join(dir, 'cert.pem'), '--resolve', 'routerd-test:8443:127.0.0.1',
      '-H', `Authorization: Bearer ${TOKEN}`, 'https://routerd-test:8443/v1/status'])
    expect(JSON.parse(res.stdout).appliedGeneration).toBe(0)
  })

  it("the unit's readiness wait speaks TLS too", async () => {
    const ready = fileURLToPath(new URL('../../appliance/routerd-ready.mjs', import.meta.url))
    const res = await r.lab.exec(r.lab.ns.rtr, process.execPath, [ready, '--config', join(r.dir, 'routerd.json'), '--timeout', '20'], { okCodes: [0, 1] })
    expect(res.exitCode, res.stderr).toBe(0)
  })

  it('refuses plain HTTP', async () => {
    const res = await r.lab.exec(r.lab.ns.rtr, 'curl', ['-s', '--max-time', '3', '-o', '/dev/null', '-w', '%{http_code}', 'http://127.0.0.1:8443/healthz'], { okCodes: [0, 52, 56] })
    expect(res.stdout).not.toBe('200')
  })
})
