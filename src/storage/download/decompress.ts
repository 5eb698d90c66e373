import { createReadStream, createWriteStream } from 'node:fs'
import { open } from 'node:fs/promises'
import { PassThrough, Transform, type Duplex, type Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { createGunzip } from 'node:zlib'
import { assertNever, errorCode } from '../../core/errors.ts'
import { binary, runFilter } from '../../core/exec.ts'
import { COMPRESSION_MAGIC_BYTES, detectCompression, type Compression } from '../image/detect.ts'
import { DecompressError, DownloadCancelledError, DownloadTooLargeError } from './errors.ts'

/**
 * Decompression as a stream, what createtmplt.sh does with gunzip/bunzip2/unzip/xz before it
 * installs a template: gzip in-process (node:zlib), bzip2, xz and zip through the Debian tools
 * as stream filters (core/exec.ts runFilter: `bzip2 -dc`, `xz -dc`, `funzip`, which writes the
 * first member of a zip read from stdin; package unzip). The compression is judged from the
 * first bytes (image/detect.ts), never from the name.
 *
 * A byte limit after the decompressor fails the stream once the output passes `maxBytes`, and
 * backpressure holds end to end, so a bomb (a few KiB that inflate to terabytes) costs at most
 * `maxBytes` of disk and a few buffers of memory before it stops; the tool is killed then.
 */

export interface DecompressOptions {
  signal?: AbortSignal | undefined
}

/** A stream that decompresses `compression` ('none' passes the bytes through). */
export function createDecompressor(compression: Compression, options: DecompressOptions = {}): Duplex {
  switch (compression) {
    case 'none': return new PassThrough()
    case 'gzip': return createGunzip()
    case 'bzip2': return runFilter(binary('bzip2'), ['-dc'], options)
    case 'xz': return runFilter(binary('xz'), ['-dc'], options)
    case 'zip': return runFilter(binary('funzip'), [], options)
    default: return assertNever(compression)
  }
}

/**
 * A pass-through that fails with ERR_DOWNLOAD_TOO_LARGE as soon as more than `maxBytes` went
 * through (the chunk that passes the limit is not forwarded). `onChunk` sees every byte that is.
 */
export function createByteLimit(maxBytes: number, what: string, onChunk?: (chunk: Buffer) => void): Transform {
  let seen = 0
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      seen += chunk.length
      if (seen > maxBytes) return callback(new DownloadTooLargeError(maxBytes, `${what}: more than the maximum of ${maxBytes} bytes`))
      onChunk?.(chunk)
      callback(null, chunk)
    },
  })
}

export interface DecompressFileOptions {
  /** Largest decompressed output accepted. */
  maxBytes: number
  signal?: AbortSignal | undefined
  /** Every decompressed chunk, in order (a sniffer for the format and virtual size). */
  onChunk?: (chunk: Buffer) => void
}

export interface DecompressResult {
  compression: Compression
  bytesIn: number
  bytesOut: number
}

/** The compression of the file at `path`, from its first bytes. */
export async function detectFileCompression(path: string): Promise<Compression> {
  const file = await open(path, 'r')
  try {
    const head = Buffer.alloc(COMPRESSION_MAGIC_BYTES)
    const { bytesRead } = await file.read(head, 0, head.length, 0)
    return detectCompression(head.subarray(0, bytesRead))
  } finally {
    await file.close()
  }
}

/**
 * Decompresses the file at `source` into `target` (a path, created or replaced, or a Writable)
 * by its detected compression; an uncompressed file is copied. Throws ERR_DOWNLOAD_TOO_LARGE past
 * `maxBytes` (what was written stays: the caller removes its temp file), ERR_DOWNLOAD_DECOMPRESS
 * for corrupt or truncated input, ERR_DOWNLOAD_CANCELLED on abort.
 */
export async function decompressFile(source: string, target: string | Writable, options: DecompressFileOptions): Promise<DecompressResult> {
  const compression = await detectFileCompression(source)
  const input = createReadStream(source, { highWaterMark: 1024 * 1024 })
  let bytesOut = 0
  const limit = createByteLimit(options.maxBytes, `decompressing ${compression}`, (chunk) => {
    bytesOut += chunk.length
    options.onChunk?.(chunk)
  })
  const output = typeof target === 'string' ? createWriteStream(target) : target
  const signal = options.signal
  try {
    const decompressor = createDecompressor(compression, { signal })
    if (signal === undefined) await pipeline(input, decompressor, limit, output)
    else await pipeline(input, decompressor, limit, output, { signal })
  } catch (err) {
    throw translate(err, compression, signal)
  }
  return { compression, bytesIn: input.bytesRead, bytesOut }
}

function translate(err: unknown, compression: Compression, signal: AbortSignal | undefined): unknown {
  if (signal?.aborted === true) return new DownloadCancelledError(`decompressing ${compression}`)
  const code = errorCode(err)
  if (code === 'ERR_DOWNLOAD_TOO_LARGE') return err
  // zlib's errors carry Z_* codes; a tool's failure is ERR_COMMAND_FAILED with its stderr.
  if (code === 'ERR_COMMAND_FAILED' || (code ?? '').startsWith('Z_')) {
    return new DecompressError(`${compression} data does not decompress: ${(err as Error).message}`, { cause: err })
  }
  return err
}
