import { createHash, randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { binary, run } from '../../../src/core/exec.ts'
import { LAB_ADDR, LAB_MACS, labRouterConfig } from '../../../src/lab/lab.ts'
import { RouterdProcess } from '../../helpers/routerd-process.ts'
import { TOKEN } from '../../helpers/router-harness.ts'

/**
 * Guests attacking the metadata service with real sockets: one asks for its 1 MiB of user data
 * on every connection it may hold and never reads the answers; another trickles its headers a
 * byte at a time; a third floods the password port with garbage and oversized heads. The daemon's memory stays bounded, every other guest is still served, and
 * the connections are cut at their deadlines.
 */

const root = process.getuid?.() === 0
const BIG = randomBytes(1024 * 1024)
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex')

const rssKb = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1])

describe.skipIf(!root)('metadata service under hostile guests', () => {
  let r: RouterdProcess
  let scratch: string

  beforeAll(async () => {
    scratch = mkdtempSync(join(tmpdir(), 'metadata-hostile-'))
    r = await RouterdProcess.create()
    const file = join(scratch, 'big')
    writeFileSync(file, BIG)
    await run(binary('curl'), ['-sf', '--unix-socket', r.socket, '-X', 'PUT', '-H', `Authorization: Bearer ${TOKEN}`,
      '-H', 'Content-Type: application/octet-stream', '--data-binary', `@${file}`, `http://routerd/v1/user-data/${sha(BIG)}`])
    const c = labRouterConfig() as Record<string, any>
    c['dhcpHosts'] = [
      { id: 'vm1', network: 'net1', mac: LAB_MACS.vm1, ip: LAB_ADDR.vm1 },
      { id: 'vm2', network: 'net1', mac: LAB_MACS.vm2, ip: LAB_ADDR.vm2 },
    ]
    c['vmData'] = [
      { id: 'vm1', network: 'net1', ip: LAB_ADDR.vm1, metadata: { 'instance-id': 'i-vm1' } },
      { id: 'vm2', network: 'net1', ip: LAB_ADDR.vm2, userData: { sha256: sha(BIG), size: BIG.length } },
    ]
    await r.put(c)
  })
  afterAll(async () => {
    await r?.close()
    rmSync(scratch, { recursive: true, force: true })
  })

  it('the password port takes garbage, oversized heads and a flood of connections without growing or stalling', async () => {
    const before = rssKb(r.daemon.pid)
    const attacker = r.lab.start(r.lab.ns.vm1, process.execPath, ['-e', `
      const net = require('net')
      const payload = (i) => i % 3 === 0 ? 'GET / HTTP/1.1\\r\\nX: ' + 'a'.repeat(64 * 1024) + '\\r\\n\\r\\n'
        : i % 3 === 1 ? Buffer.from(Array.from({ length: 512 }, (_, k) => (k * 7 + i) & 255))
        : 'GET / HTTP/1.0\\r\\nDomU_Request: send_my_password\\r\\n\\r\\n'
      let answered = 0
      const once = (i) => new Promise((done) => {
        const s = net.connect(8080, '${LAB_ADDR.router}', () => s.write(payload(i)))
        s.on('error', () => {}); s.on('data', (d) => { if (String(d).endsWith('saved_password')) answered++ })
        s.on('close', done); s.setTimeout(3000, () => s.destroy())
      })
      const worker = async (w) => { for (let i = w; i < 1200; i += 8) await once(i) }
      Promise.all(Array.from({ length: 8 }, (_, w) => worker(w))).then(() => console.log('done ' + answered))`])
    try {
      for (let i = 0; i < 900 && !attacker.output().includes('done'); i++) await new Promise((ok) => setTimeout(ok, 100))
      // The well-formed third were answered; the garbage and the oversized heads were cut.
      expect(attacker.output()).toContain('done 400')
      expect(rssKb(r.daemon.pid) - before).toBeLessThan(16 * 1024)
      const ok = await r.lab.exec(r.lab.ns.vm2, 'curl', ['-s', '--max-time', '3', '-H', 'DomU_Request: send_my_password', `http://${LAB_ADDR.router}:8080/`])
      expect(ok.stdout).toBe('saved_password')
      expect((await r.api('GET', '/healthz')).status).toBe(200)
    } finally {
      attacker.kill('SIGKILL')
      await attacker.exited
    }
  }, 120_000)

  it('a guest that never reads 16 × 1 MiB and one that trickles its headers cost bounded memory, and the others are served', async () => {
    const before = rssKb(r.daemon.pid)
    // vm2: every connection it may hold asks for the 1 MiB and never reads a byte of it.
    const hoarder = r.lab.start(r.lab.ns.vm2, process.execPath, ['-e', `
      const net = require('net'); let asked = 0
      for (let i = 0; i < 16; i++) {
        const s = net.connect(80, '${LAB_ADDR.router}', () => { s.write('GET /latest/user-data HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n'); s.pause(); if (++asked === 16) console.log('asked') })
        s.on('error', () => {})
      }
      setTimeout(() => {}, 120000)`])
    // vm1: 16 connections sending their headers one byte a second.
    const trickler = r.lab.start(r.lab.ns.vm1, process.execPath, ['-e', `
      const net = require('net'); const line = 'GET /latest/instance-id HTTP/1.1\\r\\nHost: x\\r\\n'; let open = 0
      for (let i = 0; i < 16; i++) {
        const s = net.connect(80, '${LAB_ADDR.router}', () => { if (++open === 16) console.log('open') }); let at = 0
        const t = setInterval(() => { if (at < line.length) s.write(line[at++]) }, 1000)
        s.on('error', () => {}); s.on('close', () => { clearInterval(t); console.log('closed') })
      }
      setTimeout(() => {}, 120000)`])
    try {
      for (let i = 0; i < 100 && !(hoarder.output().includes('asked') && trickler.output().includes('open')); i++) await new Promise((ok) => setTimeout(ok, 100))
      expect(hoarder.output()).toContain('asked')
      await new Promise((ok) => setTimeout(ok, 2000))
      // Each stalled answer holds its socket buffers and one file stream's chunk, not the MiB.
      expect(rssKb(r.daemon.pid) - before).toBeLessThan(16 * 1024)
      const served = await r.lab.exec(r.lab.ns.vm2, 'curl', ['-s', '--max-time', '3', `http://${LAB_ADDR.router}/latest/meta-data/`], { okCodes: [0, 7, 28, 52, 56] })
      expect(served.exitCode).not.toBe(0) // vm2 holds its share already: refused at accept
      const headersDeadline = Date.now() + 12_000
      while (Date.now() < headersDeadline && trickler.output().split('closed').length - 1 < 16) await new Promise((ok) => setTimeout(ok, 250))
      // Headers must arrive within 5 s: every trickling connection was cut.
      expect(trickler.output().split('closed').length - 1).toBe(16)
      const ok = await r.lab.exec(r.lab.ns.vm1, 'curl', ['-s', '--max-time', '3', `http://${LAB_ADDR.router}/latest/instance-id`])
      expect(ok.stdout).toBe('i-vm1')
      expect((await r.api('GET', '/healthz')).status).toBe(200)
    } finally {
      for (const p of [hoarder, trickler]) p.kill('SIGKILL')
      await Promise.all([hoarder.exited, trickler.exited])
    }
  })
})
