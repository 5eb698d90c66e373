import { open } from 'node:fs/promises'
import type { DownloadSink } from './fetch.ts'

/**
 * A DownloadSink on a file: opened for appending (created if missing), its current length is
 * the offset, so a job reopening its temp file after a restart resumes where the disk is.
 * `onChunk` and `onTruncate` let the job keep a hash (or a sniffer) in step with the file.
 */

export interface FileSink extends DownloadSink {
  readonly path: string
  /** Bytes received: in the file, or in its write buffers until the next sync() or close(). */
  readonly size: number
  /** fsync: the bytes are on disk (call before trusting the length after a crash). */
  sync(): Promise<void>
  close(): Promise<void>
}

export interface FileSinkOptions {
  /** Every chunk, as it is taken (it reaches the file with the next buffer written). */
  onChunk?: (chunk: Buffer) => void
  /** After the file was truncated to 0. */
  onTruncate?: () => void
}

/** Bytes gathered before one write(2); two such buffers per download. */
const WRITE_BUFFER = 1024 * 1024

/** Opens `path` as a sink (creating it); resolves once its length is known. */
export async function openFileSink(path: string, options: FileSinkOptions = {}): Promise<FileSink> {
  // O_APPEND: every write lands at the end, whatever truncate did before it.
  const file = await open(path, 'a', 0o644)
  let size: number
  try {
    size = (await file.stat()).size
  } catch (err) {
    await file.close()
    throw err
  }
  const offset = size
  // Two buffers: one fills from the network while the other is written, so receiving and
  // writing overlap instead of taking turns chunk by chunk; memory stays at 2 × WRITE_BUFFER.
  let current: Buffer = Buffer.allocUnsafe(WRITE_BUFFER)
  let spare: Buffer | null = Buffer.allocUnsafe(WRITE_BUFFER)
  let fill = 0
  let inflight: Promise<void> | null = null
  let failed: unknown = null
  const writeAll = async (buf: Buffer, length: number) => {
    for (let done = 0; done < length;) {
      const { bytesWritten } = await file.write(buf, done, length - done)
      done += bytesWritten
    }
  }
  const settle = async () => {
    if (inflight !== null) await inflight
    if (failed !== null) throw failed
  }
  const flush = async () => {
    await settle()
    if (fill === 0) return
    const buf = current
    const length = fill
    current = spare ?? Buffer.allocUnsafe(WRITE_BUFFER)
    spare = null
    fill = 0
    inflight = writeAll(buf, length).then(() => { spare = buf }, (err: unknown) => { failed = err }).finally(() => { inflight = null })
  }
  const writeFilling = async (chunk: Buffer) => {
    for (let at = 0; at < chunk.length;) {
      const n = Math.min(WRITE_BUFFER - fill, chunk.length - at)
      chunk.copy(current, fill, at, at + n)
      fill += n
      at += n
      if (fill === WRITE_BUFFER) await flush()
    }
    size += chunk.length
    options.onChunk?.(chunk)
  }
  return {
    path,
    offset,
    get size() { return size },
    async truncate() {
      await settle()
      fill = 0
      await file.truncate(0)
      size = 0
      options.onTruncate?.()
    },
    write(chunk) {
      if (failed !== null) throw failed
      // The common case, synchronous: the chunk fits in the buffer being filled.
      if (chunk.length < WRITE_BUFFER - fill) {
        chunk.copy(current, fill)
        fill += chunk.length
        size += chunk.length
        options.onChunk?.(chunk)
        return undefined
      }
      return writeFilling(chunk)
    },
    async sync() {
      await flush()
      await settle()
      await file.sync()
    },
    async close() {
      try {
        await flush()
        await settle()
      } finally {
        await file.close()
      }
    },
  }
}
