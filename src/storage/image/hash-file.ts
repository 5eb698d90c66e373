import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { nodeHashName, type ChecksumAlgorithm } from './checksum.ts'

/**
 * Reading bytes already on disk into the streaming consumers (a checksum verifier, an image
 * sniffer). A download resumed after a restart cannot restore a hash's state (node:crypto has
 * no export), so it feeds the partial file through fresh consumers, then continues with the
 * bytes of the Range request. Memory stays bounded by the read size whatever the file's size.
 */

/** Anything fed chunk by chunk: ChecksumVerifier, ImageSniffer, a node:crypto Hash. */
export interface ChunkSink {
  update(chunk: Uint8Array): unknown
}

const READ_SIZE = 1024 * 1024

/**
 * Streams the file at `path` (its first `length` bytes when given) into every sink, in order.
 * Resolves with the number of bytes fed.
 */
export async function feedFile(path: string, sinks: readonly ChunkSink[], options: { length?: number } = {}): Promise<number> {
  if (options.length === 0) return 0
  const stream = createReadStream(path, {
    highWaterMark: READ_SIZE,
    ...(options.length === undefined ? {} : { end: options.length - 1 }),
  })
  let fed = 0
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    for (const sink of sinks) sink.update(chunk)
    fed += chunk.length
  }
  return fed
}

/** The lower-case hex digest of the whole file at `path` with `algorithm`. */
export async function hashFile(path: string, algorithm: ChecksumAlgorithm): Promise<string> {
  const hash = createHash(nodeHashName(algorithm))
  await feedFile(path, [hash])
  return hash.digest('hex')
}
