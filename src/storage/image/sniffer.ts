import { COMPRESSION_MAGIC_BYTES, detectCompression, detectFormat, HEAD_BYTES, TAIL_BYTES, type Compression, type ImageFormat } from './detect.ts'
import { readVirtualSize } from './virtual-size.ts'

/**
 * Pure (no I/O; state is the bytes it keeps). Watches a stream go by and tells what it was:
 * it keeps the first HEAD_BYTES and a ring of the last TAIL_BYTES, so memory is ~35 KiB however
 * large the image and whatever the chunk sizes (1 byte works). Chunks are copied, never kept.
 *
 * Compression is judged on the bytes fed. Format and virtual size only make sense on
 * uncompressed bytes, so a compressed stream answers its compression alone: the caller
 * decompresses and feeds a second sniffer for the format (which then says compression 'none',
 * or the inner compression of a doubly compressed file).
 */

export type SniffResult =
  | { compression: 'none'; format: ImageFormat; virtualSize: number; physicalSize: number }
  | { compression: Exclude<Compression, 'none'>; physicalSize: number }

export interface ImageSniffer {
  update(chunk: Uint8Array): void
  /** Bytes fed so far. */
  readonly size: number
  /**
   * The compression once COMPRESSION_MAGIC_BYTES are in (undefined before), so a downloader can
   * start decompressing without waiting for the end.
   */
  compression(): Compression | undefined
  /**
   * What the stream was, once it has ended. Throws ERR_IMAGE_HEADER for a corrupt or truncated
   * header, ERR_FORMAT_UNSUPPORTED for VHDX.
   */
  result(): SniffResult
}

/** A new sniffer for one stream; feed it every byte in order, then ask result(). */
export function createSniffer(): ImageSniffer {
  const head = Buffer.alloc(HEAD_BYTES)
  const ring = Buffer.alloc(TAIL_BYTES)
  let size = 0

  const keepTail = (bytes: Uint8Array) => {
    const last = bytes.length > TAIL_BYTES ? bytes.subarray(bytes.length - TAIL_BYTES) : bytes
    // Ring position of the first byte of `last` in the stream.
    let pos = (size + bytes.length - last.length) % TAIL_BYTES
    let from = 0
    while (from < last.length) {
      const n = Math.min(TAIL_BYTES - pos, last.length - from)
      ring.set(last.subarray(from, from + n), pos)
      from += n
      pos = (pos + n) % TAIL_BYTES
    }
  }

  const tail = (): Buffer => {
    if (size <= TAIL_BYTES) return Buffer.from(ring.subarray(0, size))
    const start = size % TAIL_BYTES
    return Buffer.concat([ring.subarray(start), ring.subarray(0, start)])
  }

  const headBytes = () => head.subarray(0, Math.min(size, HEAD_BYTES))

  return {
    get size() { return size },
    update(chunk) {
      if (size < HEAD_BYTES) head.set(chunk.subarray(0, HEAD_BYTES - size), size)
      keepTail(chunk)
      size += chunk.length
    },
    compression: () => (size >= COMPRESSION_MAGIC_BYTES ? detectCompression(headBytes()) : undefined),
    result() {
      const compression = detectCompression(headBytes())
      if (compression !== 'none') return { compression, physicalSize: size }
      const last = tail()
      const format = detectFormat(headBytes(), last)
      return { compression, format, virtualSize: readVirtualSize(format, headBytes(), last, size), physicalSize: size }
    },
  }
}
