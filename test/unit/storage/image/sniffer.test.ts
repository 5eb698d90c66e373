import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createReadStream } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { createGunzip } from 'node:zlib'
import { errorCode } from '../../../../src/core/errors.ts'
import { createVerifier } from '../../../../src/storage/image/checksum.ts'
import { HEAD_BYTES } from '../../../../src/storage/image/detect.ts'
import { feedFile, hashFile } from '../../../../src/storage/image/hash-file.ts'
import { createSniffer, type SniffResult } from '../../../../src/storage/image/sniffer.ts'
import { makeFixtures, type Fixtures, type ImageFixture } from './fixtures.ts'

const expected = (image: ImageFixture): SniffResult => image.compression === 'none'
  ? { compression: 'none', format: image.format, virtualSize: image.virtualSize!, physicalSize: image.physicalSize }
  : { compression: image.compression, physicalSize: image.physicalSize }

function sniffInChunks(bytes: Buffer, sizeOf: (i: number) => number): SniffResult {
  const sniffer = createSniffer()
  for (let at = 0, i = 0; at < bytes.length; i++) {
    const n = Math.max(1, sizeOf(i))
    sniffer.update(bytes.subarray(at, at + n))
    at += n
  }
  return sniffer.result()
}

const resultCode = (bytes: Buffer): string | undefined => {
  try { sniffInChunks(bytes, () => bytes.length) } catch (err) { return errorCode(err) }
  return undefined
}

describe('the streaming sniffer on images made by the real tools', () => {
  let fx: Fixtures
  beforeAll(async () => { fx = await makeFixtures() }, 60_000)
  afterAll(() => fx?.cleanup())

  it('every fixture streamed from disk (1 MiB reads, up to 1 GiB files) gives its compression, format, virtual and physical size', async () => {
    for (const image of fx.images) {
      const sniffer = createSniffer()
      await feedFile(image.path, [sniffer])
      expect(sniffer.result(), image.name).toEqual(expected(image))
    }
  }, 60_000)

  const small = () => fx.images.filter((i) => i.physicalSize <= 4 * 1024 * 1024)

  it('1-byte chunks give the same answer as one chunk (every fixture up to 4 MiB)', async () => {
    expect(small().length).toBeGreaterThanOrEqual(12)
    for (const image of small()) {
      const bytes = await readFile(image.path)
      const whole = sniffInChunks(bytes, () => bytes.length)
      expect(whole, image.name).toEqual(expected(image))
      expect(sniffInChunks(bytes, () => 1), image.name).toEqual(whole)
    }
  }, 60_000)

  it('uneven chunk sizes straddling the head and the tail ring give the same answer', async () => {
    const sizes = [1, 511, 512, 513, 7, HEAD_BYTES - 1, 4096, 65_537, 3]
    for (const image of small()) {
      const bytes = await readFile(image.path)
      expect(sniffInChunks(bytes, (i) => sizes[i % sizes.length]!), image.name).toEqual(expected(image))
    }
  })

  it('a compressed download: the raw sniffer says gzip, a second one fed the gunzipped bytes says qcow2', async () => {
    const image = fx.byName('qcow2-10M.gzip')
    const raw = createSniffer()
    const inner = createSniffer()
    const verifier = createVerifier(undefined)
    const gunzip = createGunzip()
    createReadStream(image.path).on('data', (chunk) => {
      const bytes = chunk as Buffer
      raw.update(bytes)
      verifier.update(bytes)
      if (raw.compression() === 'gzip') gunzip.write(bytes)
    }).on('end', () => gunzip.end())
    for await (const chunk of gunzip as AsyncIterable<Buffer>) inner.update(chunk)
    expect(raw.result()).toEqual({ compression: 'gzip', physicalSize: image.physicalSize })
    const original = fx.byName('qcow2-10M')
    expect(inner.result()).toEqual({ compression: 'none', format: 'qcow2', virtualSize: 10 * 1024 ** 2, physicalSize: original.physicalSize })
    // The checksum is of the bytes downloaded (the compressed file), as CloudStack computes it.
    expect(verifier.digest().hex).toBe(await hashFile(image.path, 'SHA-256'))
  })

  it('compression is known after 6 bytes, whatever the chunking', async () => {
    const bytes = await readFile(fx.byName('qcow2-10M.xz').path)
    const sniffer = createSniffer()
    for (let i = 0; i < 5; i++) {
      sniffer.update(bytes.subarray(i, i + 1))
      expect(sniffer.compression()).toBeUndefined()
    }
    sniffer.update(bytes.subarray(5, 6))
    expect(sniffer.compression()).toBe('xz')
    expect(sniffer.size).toBe(6)
  })

  it('keeps copies, not the caller\'s buffers: reusing a chunk buffer does not change the answer', async () => {
    const bytes = await readFile(fx.byName('vhd-fixed-10M').path)
    const sniffer = createSniffer()
    const reused = Buffer.alloc(64 * 1024)
    for (let at = 0; at < bytes.length; at += reused.length) {
      const n = bytes.copy(reused, 0, at, at + reused.length)
      sniffer.update(reused.subarray(0, n))
    }
    reused.fill(0)
    expect(sniffer.result()).toEqual(expected(fx.byName('vhd-fixed-10M')))
  })

  it('corrupt headers surface as ERR_IMAGE_HEADER, VHDX as ERR_FORMAT_UNSUPPORTED', async () => {
    const qcow2 = Buffer.from(await readFile(fx.byName('qcow2-10M').path))
    qcow2[7] = 9
    expect(resultCode(qcow2)).toBe('ERR_IMAGE_HEADER')
    const vhd = await readFile(fx.byName('vhd-dynamic-10M').path)
    expect(resultCode(vhd.subarray(0, vhd.length - 100))).toBe('ERR_IMAGE_HEADER')
    const vhdx = Buffer.alloc(1024 * 1024)
    vhdx.write('vhdxfile', 'latin1')
    expect(resultCode(vhdx)).toBe('ERR_FORMAT_UNSUPPORTED')
  })

  it('an empty stream is an empty raw image', () => {
    expect(createSniffer().result()).toEqual({ compression: 'none', format: 'raw', virtualSize: 0, physicalSize: 0 })
  })
})
