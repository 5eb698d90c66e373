import { spawnSync } from 'node:child_process'
import { createSocket, type Socket } from 'node:dgram'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import { afterEach, describe, expect, it } from 'vitest'
import { BatchUdpSocket, loadUdpBatch } from '../../../src/core/net/udp-batch.ts'

/** The native addon itself (native/udp-batch), over loopback. Built by `make build`. */
const native = loadUdpBatch()
const ADDON = fileURLToPath(new URL('../../../native/udp-batch/build/Release/udp_batch.node', import.meta.url))

/**
 * Runs `script` in a fresh Node with the addon as `addon`: what may crash the process (or needs
 * --expose-gc) runs apart. MALLOC_PERTURB_ fills freed memory (with the tcache off, which would skip that), so a use after free reads garbage.
 */
function inChild(script: string): { status: number | null; signal: string | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--expose-gc', '-e', `const addon = require(${JSON.stringify(ADDON)}); ${script}`], {
    encoding: 'utf8', timeout: 20_000, env: { ...process.env, MALLOC_PERTURB_: '165', GLIBC_TUNABLES: 'glibc.malloc.tcache_count=0' },
  })
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr }
}

/** setsockopt on a bare fd, through the sockopt addon routerd already uses. */
const { setsockopt } = createRequire(import.meta.url)('sockopt') as { setsockopt: (s: unknown, level: number, name: number, value: number) => void }
const SOL_IP = 0
const IP_RECVERR = 11

async function freePort(): Promise<number> {
  const s = createSocket('udp4')
  await new Promise<void>((resolve) => s.bind(0, '127.0.0.1', resolve))
  const port = s.address().port
  await new Promise<void>((resolve) => s.close(() => resolve()))
  return port
}

describe.skipIf(native === undefined)('native udp-batch addon', () => {
  const sockets: Socket[] = []
  afterEach(() => { for (const s of sockets.splice(0)) s.close() })

  async function receiver(): Promise<{ port: number; got: string[] }> {
    const s = createSocket('udp4')
    sockets.push(s)
    const got: string[] = []
    s.on('message', (m) => got.push(m.toString()))
    await new Promise<void>((resolve) => s.bind(0, '127.0.0.1', resolve))
    return { port: s.address().port, got }
  }

  it('a datagram sendmmsg refuses (destination port 0) is skipped: the rest of the batch is still sent', async () => {
    const a = await receiver()
    const b = await receiver()
    const fd = native!.open('127.0.0.1', 0, 0)
    const handle = native!.watch(fd, () => undefined)
    try {
      const payload = Buffer.from('zero' + 'to-a' + 'to-b')
      const sent = native!.send(fd, payload, Uint32Array.of(0, 4, 8), Uint16Array.of(4, 4, 4), Uint32Array.of(0x7f000001, 0x7f000001, 0x7f000001),
        Uint16Array.of(0, a.port, b.port), 3)
      expect(sent).toBe(2)
      for (let i = 0; i < 100 && (a.got.length === 0 || b.got.length === 0); i++) await new Promise((resolve) => setTimeout(resolve, 20))
      expect(a.got).toEqual(['to-a'])
      expect(b.got).toEqual(['to-b'])
    } finally {
      native!.unwatch(handle)
    }
  })

  it('a second unwatch, even after the handle has closed, is harmless', () => {
    const r = inChild(`
      const fd = addon.open('127.0.0.1', 0, 0);
      const h = addon.watch(fd, () => {});
      addon.unwatch(h);
      setTimeout(() => { addon.unwatch(h); addon.unwatch(h); setTimeout(() => { process.stdout.write('alive'); }, 20) }, 20);`)
    expect(r, r.stderr).toMatchObject({ status: 0, signal: null, stdout: 'alive' })
  })

  it('a watch handle collected without unwatch stops watching and closes its socket (the external has a finalizer)', () => {
    // The socket is known by its inode: a closed fd's number may be reused at once.
    const r = inChild(`
      const fs = require('node:fs');
      let fd;
      (() => { fd = addon.open('127.0.0.1', 0, 0); addon.watch(fd, () => {}); })();
      const socket = () => { try { return fs.readlinkSync('/proc/self/fd/' + fd) } catch { return null } };
      const ours = socket();
      let rounds = 0;
      const step = () => { globalThis.gc(); if (socket() !== ours || ++rounds > 50) { process.stdout.write(JSON.stringify({ before: ours !== null, after: socket() === ours })); process.exit(0) } else setTimeout(step, 20) };
      step();`)
    expect(r.stderr).toBe('')
    expect(JSON.parse(r.stdout)).toEqual({ before: true, after: false })
  })

  it('a poll error reaches JS, which reports it and re-opens the socket: it answers again', async () => {
    const port = await freePort()
    const errors: unknown[] = []
    const server = new BatchUdpSocket(native!, '127.0.0.1', port, 0, (msg) => Buffer.concat([Buffer.from('re:'), msg]), (err) => errors.push(err))
    const client = createSocket('udp4')
    sockets.push(client)
    const replies: string[] = []
    client.on('message', (m) => replies.push(m.toString()))
    await new Promise<void>((resolve) => client.bind(0, '127.0.0.1', resolve))
    const ask = async (what: string) => {
      for (let i = 0; i < 100 && !replies.includes(`re:${what}`); i++) {
        if (i % 10 === 0) client.send(what, port, '127.0.0.1')
        await new Promise((resolve) => setTimeout(resolve, 20))
      }
      return replies.includes(`re:${what}`)
    }
    try {
      expect(await ask('one')).toBe(true)
      // An ICMP error queued on the socket (IP_RECVERR, then a datagram to a closed port) makes epoll report EPOLLERR.
      setsockopt({ _handle: { fd: (server as unknown as { fd: number }).fd } }, SOL_IP, IP_RECVERR, 1)
      server.sendOne(Buffer.from('x'), 0x7f000001, await freePort())
      for (let i = 0; i < 100 && errors.length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 20))
      expect(errors.map((e) => (e as { code?: string }).code)).toContain('ERR_UDP_BATCH_POLL')
      expect(await ask('two')).toBe(true)
    } finally {
      server.close()
    }
  })
})
