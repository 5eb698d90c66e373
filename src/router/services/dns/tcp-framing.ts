import { readU16, writeU16 } from '../../../core/bytes.ts'

/**
 * DNS over TCP: each message is preceded by its length in two bytes (RFC 1035 §4.2.2, RFC 7766
 * §8), in both directions. Pure: the server's connections (tcp.ts) and the forwarder's upstream
 * queries (forwarder.ts) frame and unframe through here.
 */

/** Pure. `msg` behind its length prefix, in one buffer from Node's pool. */
export function frameMessage(msg: Uint8Array): Buffer {
  const framed = Buffer.allocUnsafe(2 + msg.length)
  writeU16(framed, 0, msg.length)
  framed.set(msg, 2)
  return framed
}

/**
 * Takes the messages out of a stream read chunk by chunk. A message that lies whole in a chunk
 * is returned as a view into it (no copy); one that spans chunks is gathered into one buffer
 * allocated once its length is known (no concatenation per chunk); a length prefix may itself
 * be split. So it holds at most one message, however the stream is cut.
 */
export class FrameDecoder {
  /** The message being gathered across chunks, and how much of it has arrived. */
  private message: Buffer | undefined
  private have = 0
  /** The first byte of a length prefix split across chunks, or -1. */
  private lengthHigh = -1
  /** Where the last next() stopped in its chunk. */
  offset = 0

  /** Bytes held for a message not yet complete. */
  get heldBytes(): number {
    return this.message?.length ?? 0
  }

  /**
   * Reads `chunk` from `at` until a message is complete, and returns it (possibly empty), or
   * until the chunk ends (undefined: the rest comes with later chunks). `offset` then tells
   * where reading stopped. A message returned may be a view into `chunk`.
   */
  next(chunk: Buffer, at: number): Buffer | undefined {
    let i = at
    if (this.message === undefined) {
      let length: number
      if (this.lengthHigh >= 0 && i < chunk.length) {
        length = (this.lengthHigh << 8) | (chunk[i] as number)
        this.lengthHigh = -1
        i += 1
      } else if (this.lengthHigh < 0 && i + 1 < chunk.length) {
        length = readU16(chunk, i)
        i += 2
      } else {
        if (i < chunk.length) this.lengthHigh = chunk[i++] as number
        this.offset = i
        return undefined
      }
      if (chunk.length - i >= length) {
        this.offset = i + length
        return chunk.subarray(i, i + length)
      }
      this.message = Buffer.allocUnsafe(length)
      this.have = 0
    }
    const n = Math.min(this.message.length - this.have, chunk.length - i)
    chunk.copy(this.message, this.have, i, i + n)
    this.have += n
    this.offset = i + n
    if (this.have < this.message.length) return undefined
    const msg = this.message
    this.message = undefined
    return msg
  }

  /** Drops a message partly read (the stream is gone). */
  reset(): void {
    this.message = undefined
    this.lengthHigh = -1
  }
}
