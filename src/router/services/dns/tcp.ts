import type { Socket } from 'node:net'
import { FrameDecoder, frameMessage } from './tcp-framing.ts'

/**
 * One DNS-over-TCP connection (RFC 7766): 2-byte length-prefixed messages in, answers out, with
 * backpressure. A client may pipeline queries and never read its answers; without bounds the
 * answers would queue in our memory (120 KB of queries queued 131 MB of replies). So:
 * - reading stops while `maxQueuedBytes` of answers wait to be written, or `maxOutstanding`
 *   answers are still being looked up upstream, and resumes as answers are written or settle; the
 *   rest of a chunk already read waits, unparsed, with it;
 * - the connection is closed after `idleMs` without traffic either way (a client that never
 *   reads is idle once its window is full) and in any case `lifetimeMs` after it opened;
 * - a message is read in place when the chunk holds all of it, else into one buffer allocated
 *   once its length is known (no concatenation per chunk; tcp-framing.ts).
 * What is held per connection is thus at most `maxQueuedBytes` plus one answer, one chunk and
 * one message.
 */

export interface TcpLimits {
  maxQueuedBytes: number
  maxOutstanding: number
  idleMs: number
  lifetimeMs: number
}

export const DEFAULT_TCP_LIMITS: TcpLimits = { maxQueuedBytes: 16 * 1024, maxOutstanding: 16, idleMs: 10_000, lifetimeMs: 60_000 }

/** An answer now, later, or never (dropped). `msg` is a view: the answerer copies what it keeps. */
export type TcpAnswer = (msg: Buffer) => Uint8Array | Promise<Uint8Array | undefined> | undefined

export class DnsTcpConnection {
  private readonly frames = new FrameDecoder()
  /** What was read but not yet parsed while reading is paused. */
  private pendingInput: Buffer | undefined
  private outstanding = 0
  private closed = false
  private readonly deadline: NodeJS.Timeout

  constructor(private readonly socket: Socket, private readonly answer: TcpAnswer, private readonly limits: TcpLimits, onClose: () => void) {
    socket.setTimeout(limits.idleMs, () => socket.destroy())
    this.deadline = setTimeout(() => socket.destroy(), limits.lifetimeMs)
    socket.on('error', () => socket.destroy())
    socket.on('close', () => {
      this.closed = true
      clearTimeout(this.deadline)
      this.pendingInput = undefined
      this.frames.reset()
      onClose()
    })
    socket.on('data', (chunk: Buffer) => this.consume(chunk))
  }

  /** Bytes this connection holds in user space: answers not yet written, input read but not yet parsed. */
  get queuedBytes(): number {
    if (this.closed) return 0
    return this.socket.writableLength + this.socket.readableLength + (this.pendingInput?.length ?? 0) + this.frames.heldBytes
  }

  private full(): boolean {
    return this.outstanding >= this.limits.maxOutstanding || this.socket.writableLength >= this.limits.maxQueuedBytes
  }

  private consume(chunk: Buffer): void {
    let at = 0
    while (at < chunk.length && !this.closed) {
      if (this.full()) {
        this.pendingInput = chunk.subarray(at)
        this.socket.pause()
        return
      }
      const msg = this.frames.next(chunk, at)
      at = this.frames.offset
      // An empty message carries nothing to answer.
      if (msg !== undefined && msg.length > 0) this.handle(msg)
    }
  }

  private handle(msg: Buffer): void {
    const reply = this.answer(msg)
    if (reply === undefined) return
    if (reply instanceof Uint8Array) {
      this.write(reply)
      return
    }
    this.outstanding++
    const settle = (r: Uint8Array | undefined) => {
      this.outstanding--
      if (r !== undefined) this.write(r)
      this.resumeIfRoom()
    }
    reply.then(settle, () => settle(undefined))
  }

  private write(reply: Uint8Array): void {
    if (this.closed) return
    // Woken per answer written, not by 'drain': that comes only past the socket's own high-water mark.
    this.socket.write(frameMessage(reply), this.written)
  }

  private readonly written = (): void => this.resumeIfRoom()

  private resumeIfRoom(): void {
    if (this.closed || this.full()) return
    const pending = this.pendingInput
    if (pending !== undefined) {
      this.pendingInput = undefined
      this.consume(pending)
      if (this.pendingInput !== undefined) return
    }
    this.socket.resume()
  }
}
