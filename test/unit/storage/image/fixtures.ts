import { mkdir, mkdtemp, open, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { binary, run } from '../../../../src/core/exec.ts'
import type { Compression, ImageFormat } from '../../../../src/storage/image/detect.ts'

/**
 * Real images made by the real tools (qemu-img, xorriso, tar, gzip, bzip2, xz, zip) in a temp
 * dir, with the virtual size qemu-img itself reports, so the parsers are checked against the
 * producers and not against our reading of the specifications. Debian packages: qemu-utils,
 * xorriso, tar, gzip, bzip2, xz-utils, zip, coreutils.
 */

export interface ImageFixture {
  name: string
  path: string
  format: ImageFormat
  compression: Compression
  /** What qemu-img info says (iso, tar, ova: the file size); undefined for compressed files. */
  virtualSize: number | undefined
  physicalSize: number
}

export interface Fixtures {
  dir: string
  images: ImageFixture[]
  byName(name: string): ImageFixture
  cleanup(): Promise<void>
}

const OVF = `<?xml version="1.0" encoding="UTF-8"?>
<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1">
  <References><File ovf:href="disk.vmdk" ovf:id="file1"/></References>
  <DiskSection><Info>disks</Info><Disk ovf:capacity="10" ovf:capacityAllocationUnits="byte * 2^20" ovf:diskId="vmdisk1" ovf:fileRef="file1"/></DiskSection>
</Envelope>
`

async function qemuVirtualSize(path: string, qemuFormat: string): Promise<number> {
  const { stdout } = await run(binary('qemu-img'), ['info', '-f', qemuFormat, '--output=json', path])
  return (JSON.parse(stdout) as { 'virtual-size': number })['virtual-size']
}

/** Makes every fixture image; a tool missing fails here with its name (install the packages above). */
export async function makeFixtures(): Promise<Fixtures> {
  const dir = await mkdtemp(join(tmpdir(), 'storaged-image-'))
  const images: ImageFixture[] = []
  const size = async (path: string) => (await stat(path)).size
  const add = async (name: string, path: string, format: ImageFormat, virtualSize: number | undefined, compression: Compression = 'none') => {
    images.push({ name, path, format, compression, virtualSize, physicalSize: await size(path) })
  }
  const qemu = async (name: string, qemuFormat: string, format: ImageFormat, sz: string, options: string[] = []) => {
    const path = join(dir, `${name}.img`)
    await run(binary('qemu-img'), ['create', '-q', '-f', qemuFormat, ...options, path, sz])
    await add(name, path, format, await qemuVirtualSize(path, qemuFormat))
  }

  await qemu('qcow2-10M', 'qcow2', 'qcow2', '10M')
  await qemu('qcow2-1G', 'qcow2', 'qcow2', '1G')
  await qemu('qcow2-v2-10M', 'qcow2', 'qcow2', '10M', ['-o', 'compat=0.10'])
  await qemu('qcow2-backed', 'qcow2', 'qcow2', '10M', ['-o', `backing_file=${join(dir, 'qcow2-10M.img')},backing_fmt=qcow2`])
  await qemu('vhd-dynamic-10M', 'vpc', 'vhd', '10M')
  await qemu('vhd-dynamic-1G', 'vpc', 'vhd', '1G')
  await qemu('vhd-fixed-10M', 'vpc', 'vhd', '10M', ['-o', 'subformat=fixed'])
  await qemu('vhd-fixed-1G', 'vpc', 'vhd', '1G', ['-o', 'subformat=fixed'])
  await qemu('vmdk-sparse-10M', 'vmdk', 'vmdk', '10M')
  await qemu('vmdk-sparse-1G', 'vmdk', 'vmdk', '1G')
  await qemu('vmdk-stream-10M', 'vmdk', 'vmdk', '10M', ['-o', 'subformat=streamOptimized'])
  await qemu('vmdk-flat-descriptor-10M', 'vmdk', 'vmdk', '10M', ['-o', 'subformat=monolithicFlat'])
  await qemu('vmdk-split-descriptor-5G', 'vmdk', 'vmdk', '5G', ['-o', 'subformat=twoGbMaxExtentSparse'])
  await qemu('raw-10M', 'raw', 'raw', '10M')
  await qemu('raw-1G', 'raw', 'raw', '1G')
  // A raw image with content at both ends, so the head and the tail ring carry real bytes.
  const rawData = join(dir, 'raw-data.img')
  const data = Buffer.alloc(3 * 1024 * 1024 + 123)
  for (let i = 0; i < data.length; i++) data[i] = (i * 7 + (i >> 9)) & 0xff
  await writeFile(rawData, data)
  // Its size is not a multiple of 512 (the tail ring wraps mid-sector): qemu rounds the virtual
  // size up to a sector, CloudStack (RawImageProcessor) and we report the file's length.
  const rounded = await qemuVirtualSize(rawData, 'raw')
  if (rounded !== Math.ceil(data.length / 512) * 512) throw new Error(`qemu-img says ${rounded} for a raw file of ${data.length} bytes`)
  await add('raw-data', rawData, 'raw', data.length)

  const isoRoot = join(dir, 'iso-root')
  await mkdir(join(isoRoot, 'boot'), { recursive: true })
  await writeFile(join(isoRoot, 'README.TXT'), 'an ISO made by xorriso\n')
  await writeFile(join(isoRoot, 'boot', 'data.bin'), Buffer.alloc(200_000, 0x5a))
  const iso = join(dir, 'cd.iso')
  await run(binary('xorriso'), ['-as', 'mkisofs', '-quiet', '-V', 'STORAGED', '-o', iso, isoRoot])
  await add('iso', iso, 'iso', await size(iso))

  const ovaRoot = join(dir, 'ova-root')
  await mkdir(ovaRoot)
  await writeFile(join(ovaRoot, 'vm.ovf'), OVF)
  await run(binary('qemu-img'), ['convert', '-O', 'vmdk', '-o', 'subformat=streamOptimized', join(dir, 'qcow2-10M.img'), join(ovaRoot, 'disk.vmdk')])
  const ova = join(dir, 'vm.ova')
  await run(binary('tar'), ['--format=ustar', '-cf', ova, '-C', ovaRoot, 'vm.ovf', 'disk.vmdk'])
  await add('ova', ova, 'ova', await size(ova))
  const tar = join(dir, 'plain.tar')
  // GNU tar's default format ("ustar  \0" magic), the disk first: a tar, not an OVA.
  await run(binary('tar'), ['-cf', tar, '-C', ovaRoot, 'disk.vmdk', 'vm.ovf'])
  await add('tar', tar, 'tar', await size(tar))

  const source = join(dir, 'qcow2-10M.img')
  const compressed: [Compression, string, string, string[]][] = [
    ['gzip', 'gzip', 'qcow2-10M.img.gz', ['-k', '-9', source]],
    ['bzip2', 'bzip2', 'qcow2-10M.img.bz2', ['-k', source]],
    ['xz', 'xz', 'qcow2-10M.img.xz', ['-k', source]],
    ['zip', 'zip', 'qcow2-10M.zip', ['-j', '-q', join(dir, 'qcow2-10M.zip'), source]],
  ]
  for (const [compression, tool, file, args] of compressed) {
    await run(binary(tool), args)
    await add(`qcow2-10M.${compression}`, join(dir, file), 'qcow2', undefined, compression)
  }

  return {
    dir,
    images,
    byName(name) {
      const found = images.find((i) => i.name === name)
      if (found === undefined) throw new Error(`no fixture ${name}`)
      return found
    },
    cleanup: () => rm(dir, { recursive: true, force: true }),
  }
}

/** `bytes` bytes of a file from `position` (fewer at its end), without reading the rest. */
async function readAt(path: string, position: number, bytes: number): Promise<Buffer> {
  const file = await open(path, 'r')
  try {
    const buf = Buffer.alloc(bytes)
    const { bytesRead } = await file.read(buf, 0, bytes, position)
    return buf.subarray(0, bytesRead)
  } finally {
    await file.close()
  }
}

/** The first `bytes` of a file (fewer if it is shorter). */
export function readHead(path: string, bytes: number): Promise<Buffer> {
  return readAt(path, 0, bytes)
}

/** The last `bytes` of a file (all of it if it is shorter). */
export async function readTail(path: string, bytes: number): Promise<Buffer> {
  const length = (await stat(path)).size
  return readAt(path, Math.max(0, length - bytes), Math.min(bytes, length))
}
