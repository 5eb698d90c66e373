import { execFileSync } from 'node:child_process'
import { createHash, randomBytes, randomUUID } from 'node:crypto'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { binary, run, type StartedProcess } from '../../../src/core/exec.ts'
import type { Daemon } from '../../../src/lab/daemon.ts'
import { STORAGE_LAB_ADDR, StorageLab } from '../../../src/lab/storage-lab.ts'
import { encodeGrant, signUpload } from '../../../src/storage/upload/index.ts'
import { api, putStore } from '../../helpers/storaged.ts'

/**
 * storaged's public listener (uploads and extracts, open to the internet) attacked with real
 * sockets from the web namespace: one client holding hundreds of idle sockets, a flood of garbage
 * and oversized heads, unsigned uploads pushing large bodies, and readers that never read a
 * 16 MiB extract. The daemon's memory stays bounded, another client (a second address) is served
 * throughout, and the attackers' sockets are cut at their deadlines.
 */

const root = process.getuid?.() === 0
const MiB = 1024 * 1024
const KEY = 'hostile-upload-key-0123456789'
const PUBLIC = `http://${STORAGE_LAB_ADDR.ssvm}:8081`
/** The well-behaved client's own address, beside the attacker's (10.201.0.2) in the web namespace. */
const GOOD = '10.201.0.3'

const rssKb = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1])

describe.skipIf(!root)('the upload listener under hostile clients', () => {
  let lab: StorageLab
  let d: Daemon
  let files: string
  let entity = 900

  /** A signed upload of a small qcow2 from the good address: its HTTP status. */
  async function goodUpload(): Promise<number> {
    const uuid = randomUUID()
    const id = ++entity
    const metadata = encodeGrant({ uuid, storeId: 's', kind: 'template', accountId: 2, entityId: id, name: `good-${id}`, format: 'qcow2', maxBytes: 64 * MiB })
    const expires = new Date(Date.now() + 600_000).toISOString()
    const signature = signUpload(KEY, metadata, `${PUBLIC}/upload/${uuid}`, expires)
    const r = await run('/usr/bin/curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '20', '--interface', GOOD,
      '-H', `X-signature: ${signature}`, '-H', `X-metadata: ${metadata}`, '-H', `X-expires: ${expires}`,
      '-F', `file=@${join(files, 'disk.qcow2')}`, `${PUBLIC}/upload/${uuid}`], { netns: lab.ns.web, okCodes: [0, 7, 22, 28, 52, 56] })
    return Number(r.stdout)
  }

  /** Starts a node script in the web namespace (killed in `finally` by the caller, and with the lab). */
  function attacker(script: string): StartedProcess {
    return lab.start(lab.ns.web, process.execPath, ['-e', script])
  }

  async function until(p: StartedProcess, text: string, ms: number): Promise<void> {
    for (const deadline = Date.now() + ms; Date.now() < deadline && !p.output().includes(text);) await new Promise((ok) => setTimeout(ok, 100))
  }

  beforeAll(async () => {
    lab = await StorageLab.create('sth')
    await run(binary('ip'), ['-n', lab.ns.web, 'address', 'add', `${GOOD}/24`, 'dev', 'eth0'])
    const store = lab.mkdir('store')
    files = lab.mkdir('files')
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', join(files, 'disk.qcow2'), '128M'])
    const raw = join(files, 'big.raw')
    writeFileSync(raw, randomBytes(16 * MiB))
    d = await lab.startStoraged({ config: { uploads: { listen: { host: STORAGE_LAB_ADDR.ssvm, port: 8081 } } } })
    await putStore(d, 's', store)
    expect((await api(d, 'PUT', '/v1/uploads/key', { key: KEY, publicBaseUrls: [PUBLIC] })).status).toBe(204)
    // A 16 MiB stored object to extract: a raw template uploaded the signed way.
    expect(await goodUpload()).toBe(200)
    const installPath = (await api(d, 'GET', '/v1/stores/s/templates')).body.installs[0].installPath as string
    execFileSync('cp', [raw, join(store, installPath)])
    const made = await api(d, 'POST', '/v1/extracts', { name: 'big.img', store: 's', path: installPath })
    expect(made.status, JSON.stringify(made.body)).toBe(201)
    expect(createHash('sha256').update(readFileSync(join(store, installPath))).digest('hex')).toBe(createHash('sha256').update(readFileSync(raw)).digest('hex'))
  }, 60_000)

  afterAll(async () => {
    await lab?.destroy()
  })

  it('one client holding 400 idle sockets gets its share (16), the rest are closed at accept; another client uploads meanwhile; the held ones are closed when their headers are late, though the client never reads', async () => {
    const before = rssKb(d.pid)
    const hog = attacker(`
      const net = require('net'); let closed = 0, early = 0
      for (let i = 0; i < 400; i++) {
        const s = net.connect(8081, '${STORAGE_LAB_ADDR.ssvm}'); const at = Date.now()
        s.on('connect', () => s.write('POST /upload/x HTTP/1.1\\r\\n'))
        s.on('error', () => {})
        s.on('close', () => { closed++; if (Date.now() - at < 1000) early++ })
      }
      setTimeout(() => console.log('early ' + early), 3000)
      setTimeout(() => {}, 60000)`)
    const open = async () => Number(/^storaged_upload_connections_open (\d+)/m.exec(String((await api(d, 'GET', '/metrics')).body))?.[1])
    try {
      await until(hog, 'early', 10_000)
      expect(hog.output()).toContain('early 384')
      expect(await open()).toBe(16)
      expect(await goodUpload()).toBe(200)
      expect(rssKb(d.pid) - before).toBeLessThan(16 * 1024)
      // Headers must be whole within 10 s: the 16 held sockets are answered 408 and closed on
      // storaged's side, though this client reads nothing and never closes its own.
      for (const deadline = Date.now() + 20_000; Date.now() < deadline && await open() > 0;) await new Promise((ok) => setTimeout(ok, 500))
      expect(await open()).toBe(0)
      const metrics = String((await api(d, 'GET', '/metrics')).body)
      expect(Number(/^storaged_upload_connections_refused_total (\d+)/m.exec(metrics)?.[1])).toBeGreaterThanOrEqual(384)
    } finally {
      hog.kill('SIGKILL')
      await hog.exited
    }
  }, 60_000)

  it('a flood of garbage, oversized heads and unsigned uploads pushing 64 MiB bodies costs bounded memory, and the daemon goes on', async () => {
    const before = rssKb(d.pid)
    const flood = attacker(`
      const net = require('net'); const junk = Buffer.alloc(1024 * 1024, 0x41)
      const payload = (i) => i % 3 === 0 ? 'GET /userdata/big.img HTTP/1.1\\r\\nX: ' + 'a'.repeat(64 * 1024) + '\\r\\n\\r\\n'
        : i % 3 === 1 ? Buffer.from(Array.from({ length: 4096 }, (_, k) => (k * 13 + i) & 255))
        : 'POST /upload/${randomUUID()} HTTP/1.1\\r\\nHost: x\\r\\nContent-Type: multipart/form-data; boundary=b\\r\\nContent-Length: 67108864\\r\\nX-signature: AAAA\\r\\nX-metadata: AAAA\\r\\nX-expires: 2030-01-01T00:00:00Z\\r\\n\\r\\n'
      let answered = 0
      const once = (i) => new Promise((done) => {
        const s = net.connect(8081, '${STORAGE_LAB_ADDR.ssvm}', () => {
          s.write(payload(i))
          if (i % 3 === 2) { let sent = 0; const push = () => { while (sent < 64 && s.write(junk)) sent++; if (sent < 64) s.once('drain', push) }; push() }
        })
        let refused = false
        s.on('error', () => {}); s.on('data', (b) => { if (!refused && /^HTTP\\/1\\.1 4\\d\\d/.test(String(b))) { refused = true; answered++ } })
        s.on('close', done); s.setTimeout(8000, () => s.destroy())
      })
      const worker = async (w) => { for (let i = w; i < 240; i += 12) await once(i) }
      Promise.all(Array.from({ length: 12 }, (_, w) => worker(w))).then(() => console.log('done ' + answered))`)
    try {
      await until(flood, 'done', 120_000)
      // Every request was answered with a 4xx (400, 431, 401 …) before its connection closed.
      expect(flood.output(), 'every connection answered 4xx before it closed').toContain('done 240')
      // Right after the flood the heap still holds garbage the collector has not given back yet
      // (more of it on a loaded machine: seen 36 MiB during a full make test): the bound must
      // hold once the daemon has had a few seconds, which memory that is kept would not.
      let grown = rssKb(d.pid) - before
      for (const deadline = Date.now() + 10_000; grown >= 32 * 1024 && Date.now() < deadline; grown = rssKb(d.pid) - before) await new Promise((ok) => setTimeout(ok, 250))
      expect(grown, `RSS grew ${grown} KiB`).toBeLessThan(32 * 1024)
      expect(await goodUpload()).toBe(200)
      expect((await api(d, 'GET', '/healthz')).status).toBe(200)
    } finally {
      flood.kill('SIGKILL')
      await flood.exited
    }
  }, 150_000)

  it('readers that never read a 16 MiB extract hold socket buffers, not the file', async () => {
    const before = rssKb(d.pid)
    const hoarder = attacker(`
      const net = require('net'); let asked = 0
      for (let i = 0; i < 16; i++) {
        const s = net.connect(8081, '${STORAGE_LAB_ADDR.ssvm}', () => { s.write('GET /userdata/big.img HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n'); s.pause(); if (++asked === 16) console.log('asked') })
        s.on('error', () => {})
      }
      setTimeout(() => {}, 60000)`)
    try {
      await until(hoarder, 'asked', 10_000)
      expect(hoarder.output()).toContain('asked')
      await new Promise((ok) => setTimeout(ok, 2000))
      // 16 × 16 MiB would be 256 MiB; each stalled answer holds a socket's buffers and one read chunk.
      expect(rssKb(d.pid) - before).toBeLessThan(24 * 1024)
      const whole = await run('/usr/bin/curl', ['-sS', '-o', '/dev/null', '-w', '%{size_download}', '--max-time', '20', '--interface', GOOD, `${PUBLIC}/userdata/big.img`], { netns: lab.ns.web })
      expect(Number(whole.stdout)).toBe(16 * MiB)
    } finally {
      hoarder.kill('SIGKILL')
      await hoarder.exited
    }
  }, 60_000)
})
