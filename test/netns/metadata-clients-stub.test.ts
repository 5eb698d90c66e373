import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { binary, run, startProcess, type StartedProcess } from '../../src/core/exec.ts'
import { deleteNamespaces } from '../../src/lab/lab.ts'
import { renderDhclientLease, renderNetworkdLease, runCloudInit } from '../helpers/cloud-init.ts'
import { passwordRequest, readPasswordAnswer, setGuestPassword } from '../helpers/password-client.ts'
import { eventually } from '../helpers/router-harness.ts'

/**
 * The guest clients (cloud-init's CloudStack datasource, the cloud-set-guest-password exchange)
 * against a stub of the issue 9 contract, so the helpers are proven before routerd serves it:
 *
 *   <id>-srv: eth0 10.9.0.1 (gateway), .2 (in the dhclient lease), .3 (in the networkd lease),
 *             .4 (what DNS answers for data-server), .53 (the DNS stub)
 *        │ veth
 *   <id>-vm:  eth0 10.9.0.10, default via 10.9.0.1
 *
 * Each candidate address is a different one of the stub's, so the address a request arrived at
 * tells which discovery step cloud-init took. The stub (one Node process per test) serves
 * 80 (metadata, user data), 8080 (passwords) and 53/udp (data-server) and logs every request.
 */

const root = process.getuid?.() === 0
const VM = '10.9.0.10'
const GATEWAY = '10.9.0.1'
const LEASE_SERVER = '10.9.0.2'
const NETWORKD_SERVER = '10.9.0.3'
const DATA_SERVER = '10.9.0.4'
const DNS = '10.9.0.53'
const DOMAIN = 'stub.internal'
const KEYS = ['ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOne one@example', 'ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQTwo two@example']
/** Not UTF-8 (a gzip header and a stray 0xff): user data must come back byte for byte. */
const USER_DATA = Buffer.concat([Buffer.from('#cloud-config\nruncmd: [true]\n'), Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0xff, 0x00, 0x0a])])

interface StubSpec {
  metadata: Record<string, string | string[]>
  /** base64, or null for a VM without user data (404). */
  userData: string | null
  password: string | null
}

interface StubEvent {
  kind: 'http' | 'dns' | 'ready'
  port?: number
  local?: string
  remote?: string
  method?: string
  url?: string
  version?: string
  headers?: string[]
  name?: string
  type?: number
}

/** The stub: metadata and passwords as the contract words them, keyed by the client's source IP. */
const STUB = String.raw`
const http = require('node:http'), dgram = require('node:dgram')
const spec = JSON.parse(process.argv[1])
const log = (o) => process.stdout.write(JSON.stringify(o) + '\n')
let pending = spec.password
const value = (k) => { const v = spec.metadata[k]; return v === undefined ? '' : Array.isArray(v) ? v.join('\n') : v }
const keys = Object.keys(spec.metadata).filter((k) => value(k) !== '')
const seen = (port, req) => log({ kind: 'http', port, local: req.socket.localAddress, remote: req.socket.remoteAddress, method: req.method, url: req.url, version: req.httpVersion, headers: req.rawHeaders })
const send = (res, status, body) => { res.writeHead(status, { 'content-type': 'text/plain' }); res.end(body) }
const metadata = http.createServer((req, res) => {
  seen(80, req)
  if (req.socket.remoteAddress !== spec.vm) return send(res, 404, '')
  const path = (req.url || '/').split('?')[0].toLowerCase()
  if (path === '/latest/user-data') return spec.userData === null ? send(res, 404, '') : send(res, 200, Buffer.from(spec.userData, 'base64'))
  if (path === '/latest/meta-data/' || path === '/latest/meta-data') return send(res, 200, keys.join('\n') + '\n')
  const m = /^\/latest\/(?:meta-data\/)?([a-z0-9][a-z0-9._-]*)$/.exec(path)
  if (m && keys.includes(m[1])) return send(res, 200, value(m[1]))
  send(res, 404, '')
})
const passwords = http.createServer((req, res) => {
  seen(8080, req)
  const r = req.headers['domu_request']
  if (req.socket.remoteAddress === spec.vm && r === 'send_my_password') return send(res, 200, pending === null ? 'saved_password' : pending)
  if (req.socket.remoteAddress === spec.vm && r === 'saved_password') { pending = null; return send(res, 200, 'saved_password') }
  send(res, 400, 'bad_request')
})
const dns = dgram.createSocket('udp4')
dns.on('message', (q, from) => {
  let i = 12
  const labels = []
  while (q[i]) { labels.push(q.subarray(i + 1, i + 1 + q[i]).toString()); i += 1 + q[i] }
  const name = labels.join('.').toLowerCase(), type = q.readUInt16BE(i + 1)
  log({ kind: 'dns', name, type })
  const known = spec.dns.names.includes(name), a = known && type === 1
  const header = Buffer.from(q.subarray(0, 12))
  header[2] = 0x84 | (q[2] & 1); header[3] = known ? 0x80 : 0x83
  header.writeUInt16BE(1, 4); header.writeUInt16BE(a ? 1 : 0, 6); header.writeUInt32BE(0, 8)
  const answer = a ? Buffer.concat([Buffer.from([0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4]), Buffer.from(spec.dns.answer.split('.').map(Number))]) : Buffer.alloc(0)
  dns.send(Buffer.concat([header, q.subarray(12, i + 5), answer]), from.port, from.address)
})
let up = 0
const ready = () => { if (++up === 3) log({ kind: 'ready' }) }
metadata.listen(80, '0.0.0.0', ready)
passwords.listen(8080, '0.0.0.0', ready)
dns.bind(53, spec.dns.listen, ready)
`

describe.skipIf(!root)('guest clients against a stub metadata server (cloud-init datasource, cloud-set-guest-password)', () => {
  const id = `mdc${randomBytes(3).toString('hex')}`
  const srv = `${id}-srv`
  const vm = `${id}-vm`
  let work: string
  let dir: string
  let stubs: StartedProcess[] = []

  const ip = (ns: string, ...args: string[]) => run(binary('ip'), ['-n', ns, ...args])

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'metadata-clients-stub-'))
    try {
      for (const ns of [srv, vm]) {
        await run(binary('ip'), ['netns', 'add', ns])
        await ip(ns, 'link', 'set', 'lo', 'up')
      }
      await ip(srv, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', vm)
      for (const a of [GATEWAY, LEASE_SERVER, NETWORKD_SERVER, DATA_SERVER, DNS]) await ip(srv, 'address', 'add', `${a}/24`, 'dev', 'eth0')
      await ip(srv, 'link', 'set', 'eth0', 'up')
      await ip(vm, 'address', 'add', `${VM}/24`, 'dev', 'eth0')
      await ip(vm, 'link', 'set', 'eth0', 'up')
      await ip(vm, 'route', 'add', 'default', 'via', GATEWAY)
    } catch (err) {
      await deleteNamespaces([srv, vm])
      throw err
    }
  })

  afterAll(async () => {
    await deleteNamespaces([srv, vm])
    rmSync(work, { recursive: true, force: true })
  })

  beforeEach(() => { dir = mkdtempSync(join(work, 'test-')) })

  async function stopStubs(): Promise<void> {
    for (const s of stubs) s.kill('SIGKILL')
    await Promise.all(stubs.map((s) => s.exited))
    stubs = []
  }

  afterEach(stopStubs)

  const defaultSpec = (): StubSpec => ({
    metadata: { 'instance-id': 'i-0c1d2e3f', 'local-hostname': 'vm-one', 'local-ipv4': VM, 'public-ipv4': '203.0.113.10', 'public-keys': KEYS, 'availability-zone': 'zone1' },
    userData: USER_DATA.toString('base64'),
    password: 'S3cret-pw',
  })

  /** Starts this test's stub in <id>-srv and waits until its three sockets listen. */
  async function startStub(spec: StubSpec = defaultSpec()): Promise<{ events: () => StubEvent[] }> {
    const dns = { listen: DNS, answer: DATA_SERVER, names: ['data-server', `data-server.${DOMAIN}`] }
    const p = startProcess(process.execPath, ['-e', STUB, JSON.stringify({ ...spec, vm: VM, dns })], { netns: srv })
    stubs.push(p)
    const events = () => p.output().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as StubEvent)
    await eventually(async () => events().some((e) => e.kind === 'ready'), 'the stub to listen on 80, 8080 and 53/udp')
    return { events }
  }

  /** The HTTP requests the VM made, as "<server address>:<port> <url> [<DomU_Request>]". */
  const requests = (events: StubEvent[]) => events.filter((e) => e.kind === 'http' && e.remote === VM).map((e) => {
    const h = e.headers ?? []
    const domu = h.findIndex((n, i) => i % 2 === 0 && n.toLowerCase() === 'domu_request')
    return `${e.local}:${e.port} ${e.url}${domu >= 0 ? ` [${h[domu + 1]}]` : ''}`
  })

  describe('cloud-init finds the server by each discovery step, in its order', () => {
    it('data-server in DNS comes first (through the search list), over leases and the default route; everything is fetched from it', async () => {
      const stub = await startStub()
      const ci = await runCloudInit(vm, dir, {
        resolvConf: `nameserver ${DNS}\nsearch ${DOMAIN}\n`,
        networkdLease: renderNetworkdLease({ address: VM, serverAddress: NETWORKD_SERVER, router: GATEWAY }),
        dhclientLease: renderDhclientLease({ address: VM, serverIdentifier: LEASE_SERVER, routers: GATEWAY }),
      })
      expect({ server: ci.server, via: ci.via, found: ci.found }, ci.log).toEqual({ server: DATA_SERVER, via: 'data-server', found: true })
      expect(ci.instanceId).toBe('i-0c1d2e3f')
      expect(ci.localHostname).toBe('vm-one')
      expect(ci.publicKeys).toEqual(KEYS)
      expect(ci.metadata['local-ipv4']).toBe(VM)
      expect(ci.metadata['public-ipv4']).toBe('203.0.113.10')
      expect(ci.userData.equals(USER_DATA)).toBe(true)
      // cloud-init asked the password server too, and acknowledged what it got.
      expect(ci.password).toBe('S3cret-pw')
      const events = stub.events()
      expect(events.filter((e) => e.kind === 'dns' && e.type === 1).map((e) => e.name)).toContain(`data-server.${DOMAIN}`)
      const seen = requests(events)
      expect(seen.every((r) => r.startsWith(`${DATA_SERVER}:`)), seen.join('\n')).toBe(true)
      expect(seen).toContain(`${DATA_SERVER}:80 /latest/meta-data/instance-id`)
      expect(seen).toContain(`${DATA_SERVER}:80 /latest/user-data`)
      expect(seen).toContain(`${DATA_SERVER}:80 /latest/meta-data/`)
      expect(seen).toContain(`${DATA_SERVER}:80 /latest/meta-data/public-keys`)
      expect(seen.filter((r) => r.includes(':8080 '))).toEqual([`${DATA_SERVER}:8080 / [send_my_password]`, `${DATA_SERVER}:8080 / [saved_password]`])
    })

    it('without data-server, systemd-networkd\'s SERVER_ADDRESS comes next, over a dhclient lease', async () => {
      const stub = await startStub()
      const ci = await runCloudInit(vm, dir, {
        networkdLease: renderNetworkdLease({ address: VM, serverAddress: NETWORKD_SERVER, router: GATEWAY }),
        dhclientLease: renderDhclientLease({ address: VM, serverIdentifier: LEASE_SERVER, routers: GATEWAY }),
      })
      expect({ server: ci.server, via: ci.via, found: ci.found }, ci.log).toEqual({ server: NETWORKD_SERVER, via: 'networkd', found: true })
      expect(ci.instanceId).toBe('i-0c1d2e3f')
      expect(requests(stub.events()).every((r) => r.startsWith(`${NETWORKD_SERVER}:`))).toBe(true)
    })

    it('then the dhclient lease: the last dhcp-server-identifier in the file wins', async () => {
      const stub = await startStub()
      const older = renderDhclientLease({ address: VM, serverIdentifier: DATA_SERVER, routers: GATEWAY })
      const newer = renderDhclientLease({ address: VM, serverIdentifier: LEASE_SERVER, routers: GATEWAY })
      const ci = await runCloudInit(vm, dir, { dhclientLease: older + newer })
      expect({ server: ci.server, via: ci.via, found: ci.found }, ci.log).toEqual({ server: LEASE_SERVER, via: 'dhclient', found: true })
      expect(ci.localHostname).toBe('vm-one')
      expect(ci.password).toBe('S3cret-pw')
      expect(requests(stub.events()).every((r) => r.startsWith(`${LEASE_SERVER}:`))).toBe(true)
    })

    it('then the default gateway: with no lease at all, and with a lease that carries no server identifier', async () => {
      await startStub()
      const none = await runCloudInit(vm, dir)
      expect({ server: none.server, via: none.via, found: none.found }, none.log).toEqual({ server: GATEWAY, via: 'gateway', found: true })
      expect(none.instanceId).toBe('i-0c1d2e3f')
      const noId = await runCloudInit(vm, dir, { dhclientLease: renderDhclientLease({ address: VM, routers: GATEWAY }) })
      expect({ server: noId.server, via: noId.via, found: noId.found }, noId.log).toEqual({ server: GATEWAY, via: 'gateway', found: true })
      // The first run took the password and acknowledged it; the second is told it was saved.
      expect([none.password, noId.password]).toEqual(['S3cret-pw', undefined])
    })

    it('nothing to go by (no data-server, no lease, no default route): no router is found', async () => {
      await ip(vm, 'route', 'del', 'default')
      try {
        const ci = await runCloudInit(vm, dir)
        expect({ server: ci.server, found: ci.found }).toEqual({ server: undefined, found: false })
        expect(ci.log).toContain('No virtual router found!')
      } finally {
        await ip(vm, 'route', 'add', 'default', 'via', GATEWAY)
      }
    })

    it('a VM without user data gets no bytes (404), and one key served as one line is still a list of one', async () => {
      await startStub({ ...defaultSpec(), metadata: { 'instance-id': 'i-2', 'availability-zone': 'zone1', 'local-hostname': 'vm-two', 'public-keys': KEYS[0] as string }, userData: null, password: null })
      const ci = await runCloudInit(vm, dir)
      expect({ found: ci.found, instanceId: ci.instanceId, localHostname: ci.localHostname }, ci.log).toEqual({ found: true, instanceId: 'i-2', localHostname: 'vm-two' })
      expect(ci.userData.length).toBe(0)
      expect(ci.publicKeys).toEqual([KEYS[0]])
      expect(ci.password).toBeUndefined()
    })

    it('cloud-init 22.4 needs instance-id and availability-zone: without either, a boot would not take the datasource', async () => {
      const without = (key: string) => Object.fromEntries(Object.entries(defaultSpec().metadata).filter(([k]) => k !== key))
      // No availability-zone: the crawl succeeds, then get_data() raises while persisting instance-data.
      await startStub({ ...defaultSpec(), metadata: without('availability-zone') })
      const noZone = await runCloudInit(vm, dir)
      expect({ server: noZone.server, found: noZone.found, instanceId: noZone.instanceId }).toEqual({ server: GATEWAY, found: false, instanceId: 'i-0c1d2e3f' })
      expect(noZone.log).toContain("get_data() raised KeyError('availability-zone')")
      await stopStubs()
      // No instance-id: it polls latest/meta-data/instance-id (404) until max_wait, then gives up.
      await startStub({ ...defaultSpec(), metadata: without('instance-id') })
      const noId = await runCloudInit(vm, dir, { maxWaitSeconds: 2, timeoutSeconds: 1 })
      expect({ server: noId.server, found: noId.found }).toEqual({ server: GATEWAY, found: false })
      expect(noId.log).toContain('Giving up on waiting for the metadata')
    })
  })

  describe('cloud-set-guest-password\'s exchange', () => {
    it('send_my_password gets the pending password, the ack clears it; the next boot is told saved_password', async () => {
      const stub = await startStub()
      const first = await setGuestPassword(vm, GATEWAY)
      expect(first).toEqual({
        request: { status: 200, body: 'S3cret-pw', exitCode: 0 },
        outcome: 'password',
        password: 'S3cret-pw',
        ack: { status: 200, body: 'saved_password', exitCode: 0 },
      })
      const again = await setGuestPassword(vm, GATEWAY)
      expect(again).toEqual({ request: { status: 200, body: 'saved_password', exitCode: 0 }, outcome: 'saved', password: undefined, ack: undefined })
      // What wget puts on the wire: HTTP/1.1 (not 1.0), keep-alive, the header name as written.
      const wire = stub.events().filter((e) => e.kind === 'http' && e.port === 8080)
      expect(wire.map((e) => [e.method, e.url, e.version])).toEqual(Array(3).fill(['GET', '/', '1.1']))
      const headers = wire[0]?.headers ?? []
      expect(Object.fromEntries(Array.from({ length: headers.length / 2 }, (_, i) => [headers[2 * i], headers[2 * i + 1]]))).toEqual({
        Host: `${GATEWAY}:8080`, 'User-Agent': expect.stringMatching(/^Wget\//), Accept: '*/*', 'Accept-Encoding': 'identity',
        Connection: 'Keep-Alive', DomU_Request: 'send_my_password',
      })
      expect(requests(stub.events()).filter((r) => r.includes(':8080 '))).toEqual([
        `${GATEWAY}:8080 / [send_my_password]`, `${GATEWAY}:8080 / [saved_password]`, `${GATEWAY}:8080 / [send_my_password]`,
      ])
    })

    it('any other request is a 400: wget exits 8 and the script sees no body (bad_request only with --content-on-error)', async () => {
      await startStub()
      expect(await passwordRequest(vm, GATEWAY, 'send_my_passwords')).toEqual({ status: 400, body: '', exitCode: 8 })
      expect(await passwordRequest(vm, GATEWAY, 'save_password', { contentOnError: true })).toEqual({ status: 400, body: 'bad_request', exitCode: 8 })
      // The pending password is untouched by the bad requests.
      expect((await setGuestPassword(vm, GATEWAY)).password).toBe('S3cret-pw')
    })

    it('nothing listening: no status, wget\'s network-failure exit, and the script counts a failure', async () => {
      await startStub()
      const reply = await passwordRequest(vm, GATEWAY, 'send_my_password', { port: 8081 })
      expect(reply).toEqual({ status: undefined, body: '', exitCode: 4 })
      expect(readPasswordAnswer(reply)).toEqual({ outcome: 'failed', password: undefined })
    })
  })
})
