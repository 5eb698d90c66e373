import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'

/**
 * A UDP server socket read and written in batches (recvmmsg/sendmmsg) through our native addon
 * native/udp-batch: Node's dgram costs a JS round trip, an allocation and a syscall per
 * datagram, which holds a DNS server to ~60 % of dnsmasq's rate on a 2-core router VM.
 * Undefined from loadUdpBatch() when the addon is not built: callers fall back to dgram.
 */

interface Native {
  open(ip: string, port: number, rcvbuf: number): number
  recv(fd: number, buf: Uint8Array, slot: number, lens: Uint16Array, addrs: Uint32Array, ports: Uint16Array): number
  send(fd: number, buf: Uint8Array, offsets: Uint32Array, lens: Uint16Array, addrs: Uint32Array, ports: Uint16Array, n: number): number
  /** Takes the fd. `callback(err)` once, when polling fails (err.code ERR_UDP_BATCH_POLL): the watch is over then. */
  watch(fd: number, callback: (err?: Error) => void): object
  unwatch(handle: object): void
}

const ADDON = 'native/udp-batch/build/Release/udp_batch.node'
/** Where the addon sits relative to this module: next to the bundle (dist/) or to the tsc output (dist/services/). */
const CANDIDATES = ['../', '../../', '../../../', '../../../../'].map((up) => fileURLToPath(new URL(up + ADDON, import.meta.url)))

let loaded: Native | null | undefined

export function loadUdpBatch(): Native | undefined {
  if (loaded === undefined) {
    loaded = null
    if (process.env['ROUTERD_UDP_BATCH'] !== 'off') {
      const path = CANDIDATES.find((p) => existsSync(p))
      if (path !== undefined) loaded = createRequire(import.meta.url)(path) as Native
    }
  }
  return loaded ?? undefined
}

/** What the handler answers for one datagram: bytes now, bytes later, or nothing. */
export type Reply = Uint8Array | Promise<Uint8Array | undefined> | undefined

/**
 * The largest datagram read; longer ones are dropped. DNS queries are a few dozen bytes (a
 * hundred with EDNS0 options); 1,536 leaves room for any a resolver sends over UDP.
 */
const SLOT = 1536
const BATCH = 64
/** Batches read per readable event before yielding to the rest of the event loop. */
const BATCHES_PER_TURN = 16
const OUT_BYTES = BATCH * 1500
/** Wait before trying again when re-opening a failed socket fails too (e.g. the address is gone for a moment). */
const REOPEN_RETRY_MS = 1000

export class BatchUdpSocket {
  private fd: number
  private watcher: object | undefined
  private retry: NodeJS.Timeout | undefined
  // Not zero-filled: a page is resident only once a datagram or reply has been written to it.
  private readonly inBuf = Buffer.allocUnsafeSlow(SLOT * BATCH)
  private readonly lens = new Uint16Array(BATCH)
  private readonly addrs = new Uint32Array(BATCH)
  private readonly ports = new Uint16Array(BATCH)
  private readonly outBuf = Buffer.allocUnsafeSlow(OUT_BYTES)
  private readonly outOffsets = new Uint32Array(BATCH)
  private readonly outLens = new Uint16Array(BATCH)
  private readonly outAddrs = new Uint32Array(BATCH)
  private readonly outPorts = new Uint16Array(BATCH)
  private closed = false
  /** Datagrams longer than a slot, dropped unread. */
  oversized = 0

  /**
   * Binds ip:port. `handle` gets each datagram as a view into a buffer that is reused after it
   * returns: it must copy what it keeps (e.g. before answering later).
   */
  constructor(private readonly native: Native, private readonly ip: string, private readonly port: number, private readonly rcvbuf: number,
    private readonly handle: (msg: Buffer, addr: number, port: number) => Reply, private readonly onError: (err: unknown) => void) {
    this.fd = native.open(ip, port, rcvbuf)
    this.watcher = native.watch(this.fd, this.onPoll)
  }

  close(): void {
    if (this.closed) return
    this.closed = true
    clearTimeout(this.retry)
    if (this.watcher !== undefined) this.native.unwatch(this.watcher)
    this.watcher = undefined
  }

  private readonly onPoll = (err?: Error): void => {
    if (err === undefined) return this.readable()
    // The poll has ended (the kernel reported an error on the socket): a socket nobody reads
    // would leave the network without DNS, silently. Report it and start again on a new one.
    this.onError(err)
    this.reopen()
  }

  private reopen(): void {
    if (this.closed) return
    if (this.watcher !== undefined) this.native.unwatch(this.watcher)
    this.watcher = undefined
    try {
      this.fd = this.native.open(this.ip, this.port, this.rcvbuf)
      this.watcher = this.native.watch(this.fd, this.onPoll)
    } catch (err) {
      this.onError(err)
      this.retry = setTimeout(() => this.reopen(), REOPEN_RETRY_MS)
      this.retry.unref()
    }
  }

  /** Sends one datagram now (answers that came later, e.g. from upstream). */
  sendOne(bytes: Uint8Array, addr: number, port: number): void {
    if (this.closed || this.watcher === undefined || bytes.length > OUT_BYTES) return
    const one = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length)
    this.native.send(this.fd, one, Uint32Array.of(0), Uint16Array.of(bytes.length), Uint32Array.of(addr), Uint16Array.of(port), 1)
  }

  private readable(): void {
    try {
      for (let turn = 0; turn < BATCHES_PER_TURN && !this.closed; turn++) {
        const n = this.native.recv(this.fd, this.inBuf, SLOT, this.lens, this.addrs, this.ports)
        if (n === 0) return
        let out = 0
        let used = 0
        for (let i = 0; i < n; i++) {
          const len = this.lens[i] as number
          if (len > SLOT) {
            this.oversized++
            continue
          }
          const addr = this.addrs[i] as number
          const port = this.ports[i] as number
          const reply = this.handle(this.inBuf.subarray(i * SLOT, i * SLOT + len), addr, port)
          if (reply === undefined) continue
          if (!(reply instanceof Uint8Array)) {
            void reply.then((r) => { if (r !== undefined) this.sendOne(r, addr, port) }, this.onError)
            continue
          }
          if (used + reply.length > OUT_BYTES) {
            this.native.send(this.fd, this.outBuf, this.outOffsets, this.outLens, this.outAddrs, this.outPorts, out)
            out = 0
            used = 0
          }
          this.outBuf.set(reply, used)
          this.outOffsets[out] = used
          this.outLens[out] = reply.length
          this.outAddrs[out] = addr
          this.outPorts[out] = port
          used += reply.length
          out++
        }
        if (out > 0) this.native.send(this.fd, this.outBuf, this.outOffsets, this.outLens, this.outAddrs, this.outPorts, out)
        if (n < BATCH) return
      }
    } catch (err) {
      this.onError(err)
    }
  }
}
