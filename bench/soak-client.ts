#!/usr/bin/env node
import { createSocket } from 'node:dgram'
import { connect, type Socket } from 'node:net'

/**
 * The two misbehaving guests of bench-soak, started inside a guest namespace by soak.ts:
 *
 *   tcp-hog <server> <name> <qps> <seconds>
 *       connects to <server>:53 over TCP, pipelines A queries for <name> at <qps> and never reads
 *       a byte (its own writes respect backpressure: nothing queues here). When the server closes
 *       the connection it connects again after a second, as a persistent client would.
 *   garbage <server> <pps> <seconds> <seed>
 *       sends <pps> DNS datagrams to <server>:53 and <pps> DHCP datagrams (from port 68, to
 *       255.255.255.255:67 and to <server>:67): random bytes, truncated and bit-flipped queries and
 *       BOOTREQUESTs, all at most 1,500 bytes.
 *
 * Both stop by themselves after <seconds> (and on SIGTERM) and print one JSON line of counts.
 */

const [mode, ...args] = process.argv.slice(2)
const started = performance.now()

function finish(summary: Record<string, unknown>): never {
  process.stdout.write(JSON.stringify({ mode, seconds: Math.round((performance.now() - started) / 100) / 10, ...summary }) + '\n')
  process.exit(0)
}

/** A DNS query for `name` (type A, RD set), without the TCP length prefix. */
function dnsQuery(id: number, name: string): Buffer {
  const labels = name.split('.').filter((l) => l !== '').map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l, 'ascii')]))
  const header = Buffer.alloc(12)
  header.writeUInt16BE(id & 0xffff, 0)
  header.writeUInt16BE(0x0100, 2)
  header.writeUInt16BE(1, 4)
  return Buffer.concat([header, ...labels, Buffer.from([0, 0, 1, 0, 1])])
}

function tcpHog(server: string, name: string, qps: number, seconds: number): void {
  const counts = { connections: 0, closes: 0, socketErrors: 0, queriesWritten: 0, bytesWritten: 0, blockedMs: 0 }
  let socket: Socket | undefined
  let writable = false
  let blockedSince: number | undefined
  let id = 0
  const open = () => {
    const s = connect({ host: server, port: 53 })
    socket = s
    s.on('connect', () => { counts.connections++; writable = true })
    s.on('drain', () => {
      writable = true
      if (blockedSince !== undefined) counts.blockedMs += performance.now() - blockedSince
      blockedSince = undefined
    })
    s.on('error', () => { counts.socketErrors++ })
    s.on('close', () => {
      if (socket === s) { socket = undefined; writable = false; counts.closes++ }
      setTimeout(() => { if (socket === undefined && performance.now() - started < seconds * 1000) open() }, 1000)
    })
    // Never read: pause the stream so nothing is consumed from the kernel's receive buffer.
    s.pause()
  }
  open()
  // 20 ticks a second, qps/20 queries each, written only while the socket takes them.
  const perTick = Math.max(1, Math.round(qps / 20))
  const tick = setInterval(() => {
    if (socket === undefined || !writable) return
    const frames: Buffer[] = []
    for (let i = 0; i < perTick; i++) {
      const q = dnsQuery(id++, name)
      const len = Buffer.alloc(2)
      len.writeUInt16BE(q.length, 0)
      frames.push(len, q)
    }
    const chunk = Buffer.concat(frames)
    counts.queriesWritten += perTick
    counts.bytesWritten += chunk.length
    if (!socket.write(chunk)) { writable = false; blockedSince = performance.now() }
  }, 50)
  const stop = () => {
    clearInterval(tick)
    socket?.destroy()
    if (blockedSince !== undefined) counts.blockedMs += performance.now() - blockedSince
    finish({ ...counts, blockedMs: Math.round(counts.blockedMs) })
  }
  setTimeout(stop, seconds * 1000)
  process.once('SIGTERM', stop)
}

/** xorshift32: reproducible garbage from a seed. */
function prng(seed: number): () => number {
  let x = seed >>> 0 || 1
  return () => {
    x ^= x << 13; x >>>= 0
    x ^= x >>> 17
    x ^= x << 5; x >>>= 0
    return x / 0x100000000
  }
}

function garbage(server: string, pps: number, seconds: number, seed: number): void {
  const rnd = prng(seed)
  const int = (n: number) => Math.floor(rnd() * n)
  const bytes = (n: number) => Buffer.from(Array.from({ length: n }, () => int(256)))
  const flip = (b: Buffer, n: number) => { for (let i = 0; i < n && b.length > 0; i++) b[int(b.length)] = int(256); return b }
  const bootRequest = () => {
    const b = Buffer.alloc(240 + int(300))
    b[0] = 1; b[1] = 1; b[2] = 6
    bytes(4).copy(b, 4)
    bytes(6).copy(b, 28)
    b.writeUInt32BE(0x63825363, 236)
    let o = 240
    // A message type (valid or not), then random options, sometimes without an end.
    b[o++] = 53; b[o++] = 1; b[o++] = int(20)
    while (o < b.length - 2) {
      const len = int(Math.min(40, b.length - o - 2))
      b[o++] = int(256); b[o++] = len
      bytes(len).copy(b, o)
      o += len
    }
    return b
  }
  const dnsDatagram = (): Buffer => {
    switch (int(4)) {
      case 0: return bytes(int(600))
      case 1: return flip(dnsQuery(int(65536), `g${int(1000)}.cloud.internal`), 1 + int(4))
      case 2: { const q = dnsQuery(int(65536), `x${int(1000)}.example.test`); return q.subarray(0, int(q.length)) }
      default: { const q = dnsQuery(int(65536), 'router.cloud.internal'); q.writeUInt16BE(int(65536), 4); q.writeUInt16BE(int(65536), 6); return q }
    }
  }
  const dhcpDatagram = (): Buffer => {
    switch (int(3)) {
      case 0: return bytes(int(1500))
      case 1: return flip(bootRequest(), 1 + int(8))
      default: { const b = bootRequest(); return b.subarray(0, int(b.length)) }
    }
  }
  const counts = { dns: 0, dhcp: 0, sendErrors: 0 }
  const dns = createSocket('udp4')
  const dhcp = createSocket('udp4')
  dns.on('error', () => { counts.sendErrors++ })
  dhcp.on('error', () => { counts.sendErrors++ })
  // Answers are read and dropped (a guest that keeps its own buffers empty).
  dns.on('message', () => {})
  dhcp.on('message', () => {})
  dhcp.bind(68, () => dhcp.setBroadcast(true))
  const sent = (err: Error | null) => { if (err !== null) counts.sendErrors++ }
  const perTick = Math.max(1, Math.round(pps / 20))
  const tick = setInterval(() => {
    for (let i = 0; i < perTick; i++) {
      dns.send(dnsDatagram(), 53, server, sent)
      counts.dns++
      dhcp.send(dhcpDatagram(), 67, i % 2 === 0 ? '255.255.255.255' : server, sent)
      counts.dhcp++
    }
  }, 50)
  const stop = () => {
    clearInterval(tick)
    dns.close()
    dhcp.close()
    finish(counts)
  }
  setTimeout(stop, seconds * 1000)
  process.once('SIGTERM', stop)
}

const num = (s: string | undefined, what: string): number => {
  const n = Number(s)
  if (!Number.isFinite(n) || n <= 0) throw new Error(`soak-client: bad ${what}: ${s}`)
  return n
}

if (mode === 'tcp-hog') tcpHog(args[0] ?? '', args[1] ?? '', num(args[2], 'qps'), num(args[3], 'seconds'))
else if (mode === 'garbage') garbage(args[0] ?? '', num(args[1], 'pps'), num(args[2], 'seconds'), num(args[3], 'seed'))
else {
  process.stderr.write('usage: soak-client tcp-hog <server> <name> <qps> <seconds> | garbage <server> <pps> <seconds> <seed>\n')
  process.exit(2)
}
