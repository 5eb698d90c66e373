import { createHash, randomBytes } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { mkdtemp, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { errorCode } from '../../../../src/core/errors.ts'
import { binary, run } from '../../../../src/core/exec.ts'
import type { Compression } from '../../../../src/storage/image/detect.ts'
import { createSniffer } from '../../../../src/storage/image/sniffer.ts'
import { createByteLimit, createDecompressor, decompressFile, detectFileCompression } from '../../../../src/storage/download/decompress.ts'

/**
 * Decompression on files made by the real tools (gzip, bzip2, xz, zip; Debian packages gzip,
 * bzip2, xz-utils, zip, and unzip for funzip), bombs of zeros stopped at the maximum, and
 * corrupt or truncated input.
 */

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex')
const BOMB_SIZE = 32 * 1024 * 1024
const BOMB_MAX = 1024 * 1024

/** Compresses `path` with the real tool; resolves with the compressed file's path. */
async function compress(compression: Exclude<Compression, 'none'>, path: string): Promise<string> {
  switch (compression) {
    case 'gzip': await run(binary('gzip'), ['-k', '-f', '-6', path]); return `${path}.gz`
    case 'bzip2': await run(binary('bzip2'), ['-k', '-f', path]); return `${path}.bz2`
    case 'xz': await run(binary('xz'), ['-k', '-f', '-T1', path]); return `${path}.xz`
    case 'zip': await run(binary('zip'), ['-j', '-q', `${path}.zip`, path]); return `${path}.zip`
  }
}

async function failure(promise: Promise<unknown>): Promise<Error & Record<string, unknown>> {
  try {
    await promise
  } catch (err) {
    return err as Error & Record<string, unknown>
  }
  throw new Error('expected a failure')
}

const COMPRESSIONS = ['gzip', 'bzip2', 'xz', 'zip'] as const

describe('storage/download decompress', () => {
  let dir: string
  let plain: Buffer
  let plainPath: string
  const packed = new Map<Compression, string>()
  const bombs = new Map<Compression, string>()
  let n = 0
  const out = () => join(dir, `out-${++n}`)

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'storaged-decompress-'))
    // Half random, half a pattern: something to compress, and every byte checked.
    plain = Buffer.concat([randomBytes(1024 * 1024), Buffer.alloc(2 * 1024 * 1024 + 77, 'storaged ')])
    plainPath = join(dir, 'plain.img')
    await writeFile(plainPath, plain)
    packed.set('none', plainPath)
    const bomb = join(dir, 'zeros.img')
    await writeFile(bomb, '')
    await truncate(bomb, BOMB_SIZE)
    for (const c of COMPRESSIONS) {
      packed.set(c, await compress(c, plainPath))
      bombs.set(c, await compress(c, bomb))
    }
  }, 60_000)
  afterAll(() => rm(dir, { recursive: true, force: true }))

  for (const c of ['none', ...COMPRESSIONS] as const) {
    it(`${c}: detected from the first bytes and decompressed to the original, byte for byte`, async () => {
      const source = packed.get(c)!
      expect(await detectFileCompression(source)).toBe(c)
      const target = out()
      const result = await decompressFile(source, target, { maxBytes: plain.length })
      expect(sha256(await readFile(target))).toBe(sha256(plain))
      expect(result).toEqual({ compression: c, bytesIn: (await stat(source)).size, bytesOut: plain.length })
    })
  }

  for (const c of COMPRESSIONS) {
    it(`a ${c} bomb (${BOMB_SIZE} zeros) stops at the maximum: ERR_DOWNLOAD_TOO_LARGE, no more than the maximum written`, async () => {
      const source = bombs.get(c)!
      expect((await stat(source)).size).toBeLessThan(BOMB_MAX)
      const target = out()
      const err = await failure(decompressFile(source, target, { maxBytes: BOMB_MAX }))
      expect(errorCode(err)).toBe('ERR_DOWNLOAD_TOO_LARGE')
      expect((await stat(target)).size).toBeLessThanOrEqual(BOMB_MAX)
    })
  }

  it('the decompressed bytes go through onChunk in order: a sniffer sees the qcow2 inside a .gz', async () => {
    const qcow2 = join(dir, 'disk.qcow2')
    await run(binary('qemu-img'), ['create', '-q', '-f', 'qcow2', qcow2, '64M'])
    const gz = await compress('gzip', qcow2)
    const sniffer = createSniffer()
    const result = await decompressFile(gz, out(), { maxBytes: 64 * 1024 * 1024, onChunk: (chunk) => sniffer.update(chunk) })
    expect(sniffer.result()).toMatchObject({ compression: 'none', format: 'qcow2', virtualSize: 64 * 1024 * 1024, physicalSize: result.bytesOut })
  })

  for (const c of COMPRESSIONS) {
    it(`a truncated ${c} file is ERR_DOWNLOAD_DECOMPRESS, not a short image`, async () => {
      const whole = await readFile(packed.get(c)!)
      const cut = join(dir, `cut-${c}`)
      await writeFile(cut, whole.subarray(0, Math.floor(whole.length / 2)))
      const err = await failure(decompressFile(cut, out(), { maxBytes: plain.length }))
      expect(errorCode(err)).toBe('ERR_DOWNLOAD_DECOMPRESS')
      expect(err.message).toContain(c)
    })
  }

  it('corrupt gzip data (a damaged deflate stream) is ERR_DOWNLOAD_DECOMPRESS', async () => {
    const bytes = Buffer.from(await readFile(packed.get('gzip')!))
    for (let i = 100; i < 400; i++) bytes[i] = bytes[i]! ^ 0xff
    const bad = join(dir, 'bad.gz')
    await writeFile(bad, bytes)
    expect(errorCode(await failure(decompressFile(bad, out(), { maxBytes: plain.length })))).toBe('ERR_DOWNLOAD_DECOMPRESS')
  })

  it('an aborted signal is ERR_DOWNLOAD_CANCELLED (in-process and through a tool)', async () => {
    for (const c of ['gzip', 'xz'] as const) {
      const err = await failure(decompressFile(bombs.get(c)!, out(), { maxBytes: BOMB_SIZE, signal: AbortSignal.abort() }))
      expect(errorCode(err), c).toBe('ERR_DOWNLOAD_CANCELLED')
    }
  })

  it('the pieces compose by hand: a tool decompressor, a byte limit, a writable of our own', async () => {
    let bytes = 0
    const sink = new Writable({ write(chunk: Buffer, _e, cb) { bytes += chunk.length; cb() } })
    await pipeline(createReadStream(packed.get('bzip2')!), createDecompressor('bzip2'), createByteLimit(plain.length, 'bzip2'), sink)
    expect(bytes).toBe(plain.length)
    const over = await failure(pipeline(createReadStream(packed.get('xz')!), createDecompressor('xz'), createByteLimit(plain.length - 1, 'xz'), new Writable({ write(_c, _e, cb) { cb() } })))
    expect(over).toMatchObject({ code: 'ERR_DOWNLOAD_TOO_LARGE', maxBytes: plain.length - 1 })
  })
})
