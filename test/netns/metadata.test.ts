import { createHash, randomBytes } from 'node:crypto'
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { binary, run } from '../../src/core/exec.ts'
import { LAB_ADDR, LAB_MACS, labRouterConfig } from '../../src/lab/lab.ts'
import { RouterdProcess } from '../helpers/routerd-process.ts'
import { TOKEN } from '../helpers/router-harness.ts'

/**
 * The metadata, user data and password service, from guest namespaces with curl: every path,
 * each VM seeing only its own data (also after taking another VM's address), passwords served
 * until acknowledged and kept across a crash, nothing for the public side or another network,
 * and never a password in the config, the state files or the logs.
 */

const root = process.getuid?.() === 0
const ROUTER = LAB_ADDR.router
const PASSWORD = 'Tr0ub4dor&3-secret-for-vm1'
const USER_DATA = Buffer.concat([Buffer.from('#cloud-config\n'), randomBytes(3000), Buffer.from([0, 255, 0, 10, 13])])
const BIG_USER_DATA = randomBytes(1024 * 1024)
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex')
const SVMCTL = fileURLToPath(new URL('../../dist/cli/svmctl.js', import.meta.url))

function config(): Record<string, any> {
  const c = labRouterConfig() as Record<string, any>
  c['interfaces'] = [...c['interfaces'], { id: 'guest2', role: 'guest', mac: LAB_MACS.guest2 }]
  c['guestNetworks'] = [...c['guestNetworks'], { id: 'net2', interface: 'guest2', cidr: '10.2.2.0/24', routerIp: '10.2.2.1' }]
  c['staticNats'] = [{ id: 'sn-vm2', publicIp: '203.0.113.11', privateIp: LAB_ADDR.vm2 }]
  c['dhcpHosts'] = [
    { id: 'vm1', network: 'net1', mac: LAB_MACS.vm1, ip: LAB_ADDR.vm1, hostname: 'vm-one' },
    { id: 'vm2', network: 'net1', mac: LAB_MACS.vm2, ip: LAB_ADDR.vm2, hostname: 'vm-two' },
    { id: 'vm3', network: 'net2', mac: LAB_MACS.vm3, ip: '10.2.2.5', hostname: 'vm-three' },
  ]
  c['vmData'] = [
    {
      id: 'vm1', network: 'net1', ip: LAB_ADDR.vm1, userData: { sha256: sha(USER_DATA), size: USER_DATA.length },
      metadata: { 'instance-id': 'i-vm1', 'vm-id': 'uuid-vm1', 'public-keys': ['ssh-ed25519 AAAA one', 'ssh-ed25519 BBBB two'], 'service-offering': 'small', 'cloud-name': '' },
    },
    { id: 'vm2', network: 'net1', ip: LAB_ADDR.vm2, userData: { sha256: sha(BIG_USER_DATA), size: BIG_USER_DATA.length }, metadata: { 'instance-id': 'i-vm2' } },
    { id: 'vm3', network: 'net2', ip: '10.2.2.5', metadata: { 'instance-id': 'i-vm3' } },
  ]
  return c
}

describe.skipIf(!root)('metadata, user data and passwords: curl from guest namespaces', () => {
  let r: RouterdProcess
  let scratch: string

  /** curl in a namespace: status code and body bytes; status 0 when the connection failed. */
  async function get(ns: string, url: string, ...extra: string[]): Promise<{ status: number; body: Buffer }> {
    const out = join(scratch, `body-${randomBytes(4).toString('hex')}`)
    const res = await r.lab.exec(ns, 'curl', ['-s', '-k', '--max-time', '3', '--connect-timeout', '2', '-o', out, '-w', '%{http_code}', ...extra, url], { okCodes: [0, 7, 28, 35, 52, 56] })
    const body = res.exitCode === 0 ? readFileSync(out) : Buffer.alloc(0)
    rmSync(out, { force: true })
    return { status: res.exitCode === 0 ? Number(res.stdout) : 0, body }
  }
  const text = async (ns: string, url: string, ...extra: string[]) => {
    const { status, body } = await get(ns, url, ...extra)
    return { status, body: body.toString() }
  }
  const password = (ns: string, request: string, host = ROUTER) => text(ns, `http://${host}:8080/`, '-H', `DomU_Request: ${request}`)

  /** Uploads user data over the control socket with curl (raw bytes, or base64 text). */
  async function upload(bytes: Buffer, base64 = false): Promise<number> {
    const file = join(scratch, 'upload')
    writeFileSync(file, base64 ? bytes.toString('base64').replace(/(.{76})/g, '$1\n') : bytes)
    const res = await run(binary('curl'), [
      '-s', '-o', '/dev/null', '-w', '%{http_code}', '--unix-socket', r.socket, '-X', 'PUT', '-H', `Authorization: Bearer ${TOKEN}`,
      '-H', `Content-Type: ${base64 ? 'text/plain' : 'application/octet-stream'}`, '--data-binary', `@${file}`,
      `http://routerd/v1/user-data/${sha(bytes)}${base64 ? '?encoding=base64' : ''}`,
    ])
    return Number(res.stdout)
  }

  beforeAll(async () => {
    scratch = mkdtempSync(join(tmpdir(), 'metadata-test-'))
    r = await RouterdProcess.create({ logLevel: 'debug' })
    await r.lab.exec(r.lab.ns.vm3, 'ip', ['address', 'add', '10.2.2.5/24', 'dev', 'eth0'])
    expect(await upload(USER_DATA)).toBe(201)
    expect(await upload(BIG_USER_DATA, true)).toBe(201)
    await r.put(config())
  })
  afterAll(async () => {
    await r?.close()
    rmSync(scratch, { recursive: true, force: true })
  })

  it('serves the key listing, every key under meta-data/ and the short /latest/<key> form, case-insensitively', async () => {
    const listing = await text(r.lab.ns.vm1, `http://${ROUTER}/latest/meta-data/`)
    expect(listing).toEqual({ status: 200, body: 'instance-id\nlocal-hostname\nlocal-ipv4\npublic-ipv4\npublic-keys\nservice-offering\nvm-id\n' })
    expect(await text(r.lab.ns.vm1, `http://${ROUTER}/latest/meta-data/instance-id`)).toEqual({ status: 200, body: 'i-vm1' })
    expect(await text(r.lab.ns.vm1, `http://${ROUTER}/latest/instance-id`)).toEqual({ status: 200, body: 'i-vm1' })
    expect(await text(r.lab.ns.vm1, `http://${ROUTER}/LATEST/Meta-Data/Local-Hostname`)).toEqual({ status: 200, body: 'vm-one' })
    expect(await text(r.lab.ns.vm1, `http://${ROUTER}/latest/public-keys`)).toEqual({ status: 200, body: 'ssh-ed25519 AAAA one\nssh-ed25519 BBBB two' })
    expect(await text(r.lab.ns.vm1, `http://${ROUTER}/latest/meta-data/public-ipv4`)).toEqual({ status: 200, body: '203.0.113.10' })
    expect(await text(r.lab.ns.vm2, `http://${ROUTER}/latest/meta-data/public-ipv4`)).toEqual({ status: 200, body: '203.0.113.11' })
  })

  it('serves wget (what many guest images have instead of curl) on every path', async () => {
    const wget = async (url: string) => {
      const out = join(scratch, `wget-${randomBytes(4).toString('hex')}`)
      const res = await r.lab.exec(r.lab.ns.vm1, 'wget', ['-q', '-T', '3', '-t', '1', '-O', out, url], { okCodes: [0, 8] })
      const body = res.exitCode === 0 ? readFileSync(out) : undefined
      rmSync(out, { force: true })
      return body
    }
    expect((await wget(`http://${ROUTER}/latest/meta-data/`))?.toString()).toContain('instance-id\n')
    expect((await wget(`http://${ROUTER}/latest/meta-data/vm-id`))?.toString()).toBe('uuid-vm1')
    expect((await wget(`http://${ROUTER}/latest/service-offering`))?.toString()).toBe('small')
    expect((await wget('http://169.254.169.254/latest/user-data'))?.equals(USER_DATA)).toBe(true)
    expect(await wget(`http://${ROUTER}/latest/meta-data/nope`)).toBeUndefined()
  })

  it('answers 404 for an unknown key, an empty one and a path of no meaning', async () => {
    expect((await text(r.lab.ns.vm1, `http://${ROUTER}/latest/meta-data/nope`)).status).toBe(404)
    expect((await text(r.lab.ns.vm1, `http://${ROUTER}/latest/meta-data/cloud-name`)).status).toBe(404)
    expect((await text(r.lab.ns.vm1, `http://${ROUTER}/etc/passwd`)).status).toBe(404)
    expect((await text(r.lab.ns.vm1, `http://${ROUTER}/latest/meta-data/instance-id`, '-X', 'POST', '-d', 'x')).status).toBe(405)
  })

  it('serves binary user data byte for byte, 1 MiB too, over HTTP, HTTPS and 169.254.169.254', async () => {
    for (const url of [`http://${ROUTER}/latest/user-data`, `https://${ROUTER}/latest/user-data`, 'http://169.254.169.254/latest/user-data']) {
      const { status, body } = await get(r.lab.ns.vm1, url)
      expect(status).toBe(200)
      expect(body.equals(USER_DATA)).toBe(true)
    }
    const big = await get(r.lab.ns.vm2, 'http://169.254.169.254/latest/user-data')
    expect(big.status).toBe(200)
    expect(sha(big.body)).toBe(sha(BIG_USER_DATA))
    expect((await text(r.lab.ns.vm3, 'http://10.2.2.1/latest/user-data')).status).toBe(404)
  })

  it('never answers a VM with another VM data, even after it took that VM address', async () => {
    expect((await text(r.lab.ns.vm2, `http://${ROUTER}/latest/instance-id`)).body).toBe('i-vm2')
    await r.lab.exec(r.lab.ns.vm2, 'ip', ['link', 'set', 'eth0', 'down'])
    try {
      await r.lab.exec(r.lab.ns.vm1, 'ip', ['address', 'add', `${LAB_ADDR.vm2}/32`, 'dev', 'eth0'])
      // Its own MAC with vm2's address: the kernel drops it before the server sees it.
      for (const url of [`http://${ROUTER}/latest/instance-id`, `http://${ROUTER}:8080/`, 'http://169.254.169.254/latest/instance-id']) {
        expect((await text(r.lab.ns.vm1, url, '--interface', LAB_ADDR.vm2, '-H', 'DomU_Request: send_my_password')).status).toBe(0)
      }
      expect(await r.metric('routerd_metadata_spoofed_dropped_total', { network: 'net1' })).toBeGreaterThanOrEqual(3)
    } finally {
      await r.lab.exec(r.lab.ns.vm1, 'ip', ['address', 'del', `${LAB_ADDR.vm2}/32`, 'dev', 'eth0'])
      await r.lab.exec(r.lab.ns.vm2, 'ip', ['link', 'set', 'eth0', 'up'])
    }
  })

  it('serves a password until the VM acknowledges it, across a crash, and never shows it anywhere else', async () => {
    expect((await r.api('PUT', `/v1/passwords/net1/${LAB_ADDR.vm1}`, { password: PASSWORD })).status).toBe(204)
    expect((await r.api('GET', `/v1/passwords/net1/${LAB_ADDR.vm1}`)).body).toEqual({ pending: true })
    expect(await password(r.lab.ns.vm2, 'send_my_password')).toEqual({ status: 200, body: 'saved_password' })
    expect(await password(r.lab.ns.vm1, 'send_my_password')).toEqual({ status: 200, body: PASSWORD })
    expect(await password(r.lab.ns.vm1, 'send_my_password')).toEqual({ status: 200, body: PASSWORD })
    await r.kill()
    await r.start()
    await r.put(config())
    expect(await password(r.lab.ns.vm1, 'send_my_password')).toEqual({ status: 200, body: PASSWORD })
    expect(JSON.stringify((await r.api('GET', '/v1/config')).body)).not.toContain(PASSWORD)
    expect(await password(r.lab.ns.vm1, 'saved_password')).toEqual({ status: 200, body: 'saved_password' })
    expect(await password(r.lab.ns.vm1, 'send_my_password')).toEqual({ status: 200, body: 'saved_password' })
    expect((await r.api('GET', `/v1/passwords/net1/${LAB_ADDR.vm1}`)).body).toEqual({ pending: false })
    await r.kill()
    await r.start()
    expect(await password(r.lab.ns.vm1, 'send_my_password')).toEqual({ status: 200, body: 'saved_password' })
    expect(await password(r.lab.ns.vm1, 'bogus')).toEqual({ status: 400, body: 'bad_request' })
    expect(await password(r.lab.ns.vm1, '')).toEqual({ status: 400, body: 'bad_request' })
    // Not in the state files (journal, snapshots, passwords file once acknowledged) nor in any log line.
    const state = join(r.dir, 'state')
    for (const file of filesUnder(state)) expect(readFileSync(file).includes(PASSWORD), file).toBe(false)
    expect(r.output()).not.toContain(PASSWORD)
    expect(statSync(join(state, 'passwords.json')).mode & 0o777).toBe(0o600)
  })

  it('drops a pending password once its VM is gone: its DHCP host removed, or its address given to another MAC', async () => {
    const pending = async (ip: string) => (await r.api('GET', `/v1/passwords/net1/${ip}`)).body.pending as boolean
    // Set before the VM's DHCP host exists (the orchestrator may send it first): kept.
    expect((await r.api('PUT', '/v1/passwords/net1/10.1.1.77', { password: 'for-vm77' })).status).toBe(204)
    expect((await r.api('PUT', '/v1/config/dhcpHosts/vm77', { id: 'vm77', network: 'net1', mac: '02:00:00:00:77:77', ip: '10.1.1.77' })).status).toBe(200)
    expect(await pending('10.1.1.77')).toBe(true)
    // Another VM (another MAC) on that address must never get it.
    expect((await r.api('PUT', '/v1/config/dhcpHosts/vm77', { id: 'vm77', network: 'net1', mac: '02:00:00:00:78:78', ip: '10.1.1.77' })).status).toBe(200)
    expect(await pending('10.1.1.77')).toBe(false)
    // vm2 removed: its password goes with it, and vm2's namespace is no longer answered one.
    expect((await r.api('PUT', `/v1/passwords/net1/${LAB_ADDR.vm2}`, { password: 'for-vm2' })).status).toBe(204)
    expect((await r.api('DELETE', '/v1/config/vmData/vm2')).status).toBe(200)
    expect(await pending(LAB_ADDR.vm2)).toBe(true)
    expect((await r.api('DELETE', '/v1/config/dhcpHosts/vm2')).status).toBe(200)
    expect(await pending(LAB_ADDR.vm2)).toBe(false)
    expect(readFileSync(join(r.dir, 'state', 'passwords.json'), 'utf8')).not.toContain('for-vm')
    await r.put(config())
    expect(await password(r.lab.ns.vm2, 'send_my_password')).toEqual({ status: 200, body: 'saved_password' })
  })

  it('svmctl sets, reads and withdraws passwords (never from argv) and stores, lists and deletes user data', async () => {
    const tokenFile = join(scratch, 'token')
    writeFileSync(tokenFile, `${TOKEN}\n`, { mode: 0o600 })
    const svmctl = (args: string[], stdin?: string) =>
      run(process.execPath, [SVMCTL, '--socket', r.socket, '--token-file', tokenFile, ...args], { okCodes: [0, 1, 2], ...(stdin === undefined ? {} : { stdin }) })
    const set = await svmctl(['password', 'set', 'net1', LAB_ADDR.vm1, '-'], 'from-svmctl\n')
    expect(set.stdout, set.stderr).toBe(`password set for ${LAB_ADDR.vm1} on net1: pending until the VM fetches and acknowledges it\n`)
    expect(await password(r.lab.ns.vm1, 'send_my_password')).toEqual({ status: 200, body: 'from-svmctl' })
    expect((await svmctl(['password', 'get', 'net1', LAB_ADDR.vm1])).stdout).toBe(`a password is pending for ${LAB_ADDR.vm1} on net1\n`)
    expect((await svmctl(['password', 'delete', 'net1', LAB_ADDR.vm1])).exitCode).toBe(0)
    expect((await svmctl(['password', 'get', 'net1', LAB_ADDR.vm1])).stdout).toBe(`no password pending for ${LAB_ADDR.vm1} on net1\n`)
    expect(await svmctl(['password', 'set', 'nonet', LAB_ADDR.vm1, '-'], 'x')).toMatchObject({ exitCode: 2, stderr: expect.stringMatching(/^svmctl: ERR_NOT_FOUND: /) })

    const bytes = Buffer.concat([Buffer.from('#!/bin/sh\n'), randomBytes(2000)])
    const file = join(scratch, 'user-data.bin')
    writeFileSync(file, bytes)
    const put = await svmctl(['user-data', 'put', file])
    expect(JSON.parse(put.stdout)).toEqual({ sha256: sha(bytes), size: bytes.length })
    expect((await svmctl(['user-data', 'list'])).stdout).toContain(`${sha(bytes)}  ${String(bytes.length).padStart(8)} bytes  named by 0 vmData item(s)`)
    expect((await svmctl(['user-data', 'delete', sha(bytes)])).stdout).toBe(`user data ${sha(bytes)} deleted\n`)
    expect((await svmctl(['user-data', 'delete', sha(USER_DATA)])).stderr).toMatch(/^svmctl: ERR_IN_USE: /)
  })

  it('follows edits without a restart: a changed value, a removed VM', async () => {
    const c = config()
    const vm1 = { ...c['vmData'][0], metadata: { ...c['vmData'][0].metadata, 'instance-id': 'i-vm1-renamed' } }
    expect((await r.api('PUT', '/v1/config/vmData/vm1', vm1)).status).toBe(200)
    expect((await text(r.lab.ns.vm1, `http://${ROUTER}/latest/instance-id`)).body).toBe('i-vm1-renamed')
    expect((await r.api('DELETE', '/v1/config/vmData/vm1')).status).toBe(200)
    expect((await text(r.lab.ns.vm1, `http://${ROUTER}/latest/instance-id`)).status).toBe(404)
    expect((await r.api('PUT', '/v1/config/vmData/vm1', c['vmData'][0])).status).toBe(200)
  })

  it('refuses vmData whose address has no DHCP host or whose user data is not stored, and keeps referenced user data', async () => {
    const bad = await r.api('PUT', '/v1/config/vmData/ghost', { id: 'ghost', network: 'net1', ip: '10.1.1.99', userData: { sha256: 'f'.repeat(64), size: 1 } })
    expect(bad.status).toBe(400)
    const errors = bad.body.error.diagnostics.filter((d: { severity: string }) => d.severity === 'error')
    expect(errors.map((d: { code: string }) => d.code).sort()).toEqual(['ERR_NO_DHCP_HOST', 'ERR_USER_DATA_MISSING'])
    expect((await r.api('DELETE', `/v1/user-data/${sha(USER_DATA)}`)).status).toBe(409)
    const list = (await r.api('GET', '/v1/user-data')).body.blobs
    expect(list).toContainEqual({ sha256: sha(USER_DATA), size: USER_DATA.length, references: 1 })
  })

  it('keeps another network and the public side away from the metadata and password ports', async () => {
    expect((await text(r.lab.ns.vm3, `http://${ROUTER}/latest/instance-id`)).status).toBe(0)
    expect(await text(r.lab.ns.vm3, 'http://10.2.2.1/latest/instance-id')).toEqual({ status: 200, body: 'i-vm3' })
    expect((await text(r.lab.ns.vm3, 'http://10.2.2.1:8080/', '-H', 'DomU_Request: send_my_password')).body).toBe('saved_password')
    for (const url of [`http://${ROUTER}/latest/instance-id`, 'http://203.0.113.10/latest/instance-id', 'http://203.0.113.10:8080/', `http://${ROUTER}:8080/`]) {
      expect((await text(r.lab.ns.inet, url)).status).toBe(0)
    }
  })

  it('serves many VMs at once, and one VM holding many connections leaves the others their service', async () => {
    const hog = r.lab.start(r.lab.ns.vm1, process.execPath, ['-e', `
      const net = require('net'); let open = 0
      for (let i = 0; i < 64; i++) { const s = net.connect(80, '${ROUTER}'); s.on('connect', () => { open++; if (open === 16) console.log('held') }); s.on('error', () => {}) }
      setTimeout(() => {}, 30000)`])
    try {
      for (let i = 0; i < 50 && !hog.output().includes('held'); i++) await new Promise((ok) => setTimeout(ok, 100))
      // Two other VMs (two networks), 10 requests in flight each (under the share of 16 a source has).
      const burst = (ns: string, host: string) => r.lab.exec(ns, 'curl', ['-s', '--parallel', '--parallel-max', '10', '--max-time', '5', '-w', '%{http_code} %{size_download}\n',
        ...Array.from({ length: 40 }, () => ['-o', '/dev/null', `http://${host}/latest/instance-id`]).flat()])
      const [two, three] = await Promise.all([burst(r.lab.ns.vm2, ROUTER), burst(r.lab.ns.vm3, '10.2.2.1')])
      expect(two.stdout.trim().split('\n')).toEqual(Array.from({ length: 40 }, () => '200 5'))
      expect(three.stdout.trim().split('\n')).toEqual(Array.from({ length: 40 }, () => '200 5'))
      expect(await r.metric('routerd_metadata_connections_refused_total')).toBeGreaterThan(0)
    } finally {
      hog.kill('SIGKILL')
      await hog.exited
    }
  })
})

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? filesUnder(join(dir, e.name)) : [join(dir, e.name)]))
}
