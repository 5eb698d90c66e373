import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { errorCode } from '../../../../src/core/errors.ts'
import { COMPRESSION_MAGIC_BYTES, detectCompression, detectFormat, firstTarMemberName, HEAD_BYTES, TAIL_BYTES } from '../../../../src/storage/image/detect.ts'
import { makeFixtures, readHead, readTail, type Fixtures } from './fixtures.ts'

describe('detect on images made by the real tools', () => {
  let fx: Fixtures
  beforeAll(async () => { fx = await makeFixtures() }, 60_000)
  afterAll(() => fx?.cleanup())

  it('HEAD_BYTES reaches the end of the ISO primary volume descriptor (sector 16 of 2048 bytes)', () => {
    expect(HEAD_BYTES).toBe(16 * 2048 + 2048)
    expect(TAIL_BYTES).toBe(512)
  })

  it('every fixture: its compression from the first bytes, its format from head and tail', async () => {
    const seen = []
    for (const image of fx.images) {
      const head = await readHead(image.path, HEAD_BYTES)
      expect(detectCompression(head.subarray(0, COMPRESSION_MAGIC_BYTES)), image.name).toBe(image.compression)
      if (image.compression === 'none') expect(detectFormat(head, await readTail(image.path, TAIL_BYTES)), image.name).toBe(image.format)
      seen.push(`${image.compression}/${image.format}`)
    }
    expect(new Set(seen)).toEqual(new Set(['none/qcow2', 'none/vhd', 'none/vmdk', 'none/iso', 'none/ova', 'none/tar', 'none/raw',
      'gzip/qcow2', 'bzip2/qcow2', 'xz/qcow2', 'zip/qcow2']))
  })

  it('a dynamic VHD is known by its head copy alone; a fixed one needs the tail, else it reads as raw', async () => {
    const dynamic = fx.byName('vhd-dynamic-10M').path
    const fixed = fx.byName('vhd-fixed-10M').path
    expect(detectFormat(await readHead(dynamic, HEAD_BYTES))).toBe('vhd')
    expect(detectFormat(await readHead(fixed, HEAD_BYTES))).toBe('raw')
    expect(detectFormat(await readHead(fixed, HEAD_BYTES), await readTail(fixed, TAIL_BYTES))).toBe('vhd')
  })

  it('an OVA is a tar whose first member is the .ovf; the same files the other way round are a tar', async () => {
    expect(firstTarMemberName(await readHead(fx.byName('ova').path, HEAD_BYTES))).toBe('vm.ovf')
    expect(firstTarMemberName(await readHead(fx.byName('tar').path, HEAD_BYTES))).toBe('disk.vmdk')
  })
})

describe('detect on synthetic heads', () => {
  it('VHDX is refused as unsupported rather than passed off as raw', () => {
    const head = Buffer.alloc(HEAD_BYTES)
    head.write('vhdxfile', 0, 'latin1')
    let code: string | undefined
    try { detectFormat(head) } catch (err) { code = errorCode(err) }
    expect(code).toBe('ERR_FORMAT_UNSUPPORTED')
  })

  it('short and empty inputs are raw and uncompressed, not an out-of-range read', () => {
    expect(detectFormat(Buffer.alloc(0))).toBe('raw')
    expect(detectFormat(Buffer.from('QFI'))).toBe('raw')
    expect(detectCompression(Buffer.from([0x1f]))).toBe('none')
    expect(detectCompression(Buffer.from('BZh0'))).toBe('none')
    expect(detectCompression(Buffer.from('BZh9'))).toBe('bzip2')
  })

  it('a POSIX ustar long name is prefix/name', () => {
    const head = Buffer.alloc(512)
    head.write('appliance.ovf', 0)
    head.write('ustar\x0000', 257, 'latin1')
    head.write('some/long/dir', 345)
    expect(firstTarMemberName(head)).toBe('some/long/dir/appliance.ovf')
    expect(detectFormat(head)).toBe('ova')
  })
})
