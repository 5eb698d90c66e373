import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { readFile } from 'node:fs/promises'
import { errorCode } from '../../../../src/core/errors.ts'
import { detectFormat, HEAD_BYTES, TAIL_BYTES } from '../../../../src/storage/image/detect.ts'
import { parseQcow2Header, parseVhdFooter, readVirtualSize, vhdFooterChecksum } from '../../../../src/storage/image/virtual-size.ts'
import { makeFixtures, readHead, readTail, type Fixtures } from './fixtures.ts'

describe('virtual size of images made by the real tools', () => {
  let fx: Fixtures
  beforeAll(async () => { fx = await makeFixtures() }, 60_000)
  afterAll(() => fx?.cleanup())

  it('equals what qemu-img info says (iso, tar, ova: the file size) for every uncompressed fixture', async () => {
    const checked = []
    for (const image of fx.images.filter((i) => i.compression === 'none')) {
      const head = await readHead(image.path, HEAD_BYTES)
      const tail = await readTail(image.path, TAIL_BYTES)
      expect(readVirtualSize(detectFormat(head, tail), head, tail, image.physicalSize), image.name).toBe(image.virtualSize)
      checked.push(image.name)
    }
    expect(checked.length).toBeGreaterThanOrEqual(18)
  })

  it('a 1G qcow2, vhd and vmdk say 1 GiB (vhd: rounded to its CHS geometry, as qemu-img made it)', async () => {
    for (const name of ['qcow2-1G', 'vmdk-sparse-1G']) expect(fx.byName(name).virtualSize).toBe(1024 ** 3)
    expect(fx.byName('vhd-dynamic-1G').virtualSize).toBe(fx.byName('vhd-fixed-1G').virtualSize)
    expect(fx.byName('vmdk-split-descriptor-5G').virtualSize).toBe(5 * 1024 ** 3)
  })

  it('qcow2: version 2 and 3, and a backing file is reported', async () => {
    const header = async (name: string) => parseQcow2Header(await readHead(fx.byName(name).path, HEAD_BYTES))
    expect(await header('qcow2-10M')).toEqual({ version: 3, virtualSize: 10 * 1024 ** 2, hasBackingFile: false })
    expect(await header('qcow2-v2-10M')).toEqual({ version: 2, virtualSize: 10 * 1024 ** 2, hasBackingFile: false })
    expect((await header('qcow2-backed')).hasBackingFile).toBe(true)
  })

  it('vhd: fixed and dynamic footers parse, their checksums are the stored ones', async () => {
    for (const [name, diskType] of [['vhd-fixed-10M', 2], ['vhd-dynamic-10M', 3]] as const) {
      const footer = await readTail(fx.byName(name).path, TAIL_BYTES)
      expect(parseVhdFooter(footer)).toEqual({ diskType, virtualSize: fx.byName(name).virtualSize })
      expect(vhdFooterChecksum(footer)).toBe(footer.readUInt32BE(64))
    }
  })

  describe('corrupt or truncated headers are ERR_IMAGE_HEADER', () => {
    type Damage = { name: string; fixture: string; damage: (file: Buffer) => Buffer; says: RegExp }
    const flip = (offset: number, value: number) => (file: Buffer) => { const copy = Buffer.from(file); copy[offset] = value; return copy }
    const cases: Damage[] = [
      { name: 'qcow2 cut inside its header', fixture: 'qcow2-10M', damage: (f) => f.subarray(0, 40), says: /truncated \(40 of 72 bytes\)/ },
      { name: 'qcow2 version 4', fixture: 'qcow2-10M', damage: flip(7, 4), says: /version 4/ },
      { name: 'qcow2 version 1', fixture: 'qcow2-10M', damage: flip(7, 1), says: /version 1/ },
      { name: 'qcow2 absurd cluster_bits', fixture: 'qcow2-10M', damage: flip(23, 40), says: /cluster_bits 40/ },
      { name: 'qcow2 v3 with a short header_length', fixture: 'qcow2-10M', damage: flip(103, 72), says: /header_length 72/ },
      { name: 'fixed vhd whose size changed without its checksum', fixture: 'vhd-fixed-10M', damage: (f) => flip(f.length - 512 + 50, 0x7f)(f), says: /footer checksum/ },
      { name: 'dynamic vhd cut before its end footer', fixture: 'vhd-dynamic-10M', damage: (f) => f.subarray(0, f.length - 1), says: /truncated file/ },
      { name: 'vmdk sparse header version 9', fixture: 'vmdk-sparse-10M', damage: flip(4, 9), says: /version 9/ },
      { name: 'vmdk sparse header cut at 10 bytes', fixture: 'vmdk-sparse-10M', damage: (f) => f.subarray(0, 10), says: /truncated/ },
      { name: 'vmdk descriptor without extents', fixture: 'vmdk-flat-descriptor-10M', damage: (f) => Buffer.from(f.toString('latin1').replace(/^RW .*$/m, ''), 'latin1'), says: /without extent lines/ },
      { name: 'vmdk descriptor longer than the head', fixture: 'vmdk-flat-descriptor-10M', damage: (f) => Buffer.concat([f, Buffer.alloc(HEAD_BYTES, 0x23)]), says: /longer than the bytes read/ },
      { name: 'iso whose two copies of the volume size differ', fixture: 'iso', damage: flip(0x8054 + 3, 0x99), says: /LE and BE copies/ },
      { name: 'iso whose first descriptor is not the primary', fixture: 'iso', damage: flip(0x8000, 2), says: /type 2/ },
      { name: 'iso cut inside its primary volume descriptor', fixture: 'iso', damage: (f) => f.subarray(0, 0x8010), says: /truncated/ },
    ]
    for (const c of cases) {
      it(c.name, async () => {
        const file = c.damage(await readFile(fx.byName(c.fixture).path))
        const head = file.subarray(0, HEAD_BYTES)
        const tail = file.subarray(Math.max(0, file.length - TAIL_BYTES))
        let thrown: unknown
        try { readVirtualSize(detectFormat(head, tail), head, tail, file.length) } catch (err) { thrown = err }
        expect(errorCode(thrown)).toBe('ERR_IMAGE_HEADER')
        expect(String(thrown)).toMatch(c.says)
      })
    }
  })
})
