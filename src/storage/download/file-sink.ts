import { open } from 'node:fs/promises'
import type { DownloadSink } from './fetch.ts'

/**
 * A DownloadSink on a file: opened for appending (created if missing), its current length is
 * the offset, so a job reopening its temp file after a restart resumes where the disk is.
 * `onChunk` and `onTruncate` let the job keep a hash (or a sniffer) in step with the file.
 */

export interface FileSink extends DownloadSink {
  readonly path: string
  /** Bytes in the file now. */
  readonly size: number
  /** fsync: the bytes are on disk (call before trusting the length after a crash). */
  sync(): Promise<void>
  close(): Promise<void>
}

export interface FileSinkOptions {
  /** Every chunk, after it is written. */
  onChunk?: (chunk: Buffer) => void
  /** After the file was truncated to 0. */
  onTruncate?: () => void
}

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
  return {
    path,
    offset,
    get size() { return size },
    async truncate() {
      await file.truncate(0)
      size = 0
      options.onTruncate?.()
    },
    async write(chunk) {
      for (let done = 0; done < chunk.length;) {
        const { bytesWritten } = await file.write(chunk, done, chunk.length - done)
        done += bytesWritten
      }
      size += chunk.length
      options.onChunk?.(chunk)
    },
    sync: () => file.sync(),
    close: () => file.close(),
  }
}
