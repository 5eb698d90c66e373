import { ApplianceError } from '../../core/errors.ts'

/**
 * Pure. What an image is, from its first HEAD_BYTES and its last TAIL_BYTES, by magic numbers
 * (the same ones qemu's block drivers probe and file(1) knows), never by the file's name.
 *
 *   offset 0       gzip 1f 8b 08 · bzip2 "BZh1".."BZh9" · xz fd "7zXZ" 00 · zip "PK\3\4" ("PK\5\6" empty)
 *                  qcow2 "QFI\xfb" · vmdk sparse "KDMV" or text "# Disk DescriptorFile"
 *                  vhd "conectix" (dynamic/differencing: a copy of the footer) · vhdx "vhdxfile"
 *   offset 257     tar "ustar" (POSIX "ustar\0" and GNU "ustar  \0")
 *   offset 0x8001  iso "CD001" (ISO 9660 volume descriptors start at sector 16 of 2048 bytes)
 *   last 512       vhd footer "conectix" (every VHD; a fixed VHD has only this one)
 */

export type Compression = 'gzip' | 'bzip2' | 'xz' | 'zip' | 'none'
export type ImageFormat = 'qcow2' | 'vhd' | 'vmdk' | 'iso' | 'ova' | 'tar' | 'raw'

/**
 * Bytes of the head every check (and virtual-size.ts) needs: the ISO 9660 primary volume
 * descriptor is the 2048-byte sector 16, so 0x8000 + 0x800 = 34816 bytes (34 KiB). Every other
 * header lies inside the first 512 bytes (a tar header, a qcow2/VMDK header); a VMDK text
 * descriptor longer than this is refused by virtual-size.ts rather than half read.
 */
export const HEAD_BYTES = 0x8800

/** The VHD footer is the last 512 bytes of the file. */
export const TAIL_BYTES = 512

/** The longest compression magic (xz); compression can be judged once this many bytes are seen. */
export const COMPRESSION_MAGIC_BYTES = 6

const ISO_DESCRIPTOR = 0x8000
const TAR_MAGIC = 257

function at(buf: Buffer, offset: number, magic: string | readonly number[]): boolean {
  const bytes = typeof magic === 'string' ? Buffer.from(magic, 'latin1') : Buffer.from(magic)
  return buf.length >= offset + bytes.length && buf.subarray(offset, offset + bytes.length).equals(bytes)
}

/** Pure. The compression of a stream from its first bytes (COMPRESSION_MAGIC_BYTES suffice). */
export function detectCompression(head: Buffer): Compression {
  if (at(head, 0, [0x1f, 0x8b, 0x08])) return 'gzip'
  if (at(head, 0, 'BZh') && head.length > 3 && head[3]! >= 0x31 && head[3]! <= 0x39) return 'bzip2'
  if (at(head, 0, [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00])) return 'xz'
  if (at(head, 0, 'PK\x03\x04') || at(head, 0, 'PK\x05\x06')) return 'zip'
  return 'none'
}

/** Pure. The VHD footer's cookie is at the start of `block` (a footer, or its copy at offset 0). */
export function hasVhdCookie(block: Buffer): boolean {
  return at(block, 0, 'conectix')
}

/** Pure. True when `tail` (the last TAIL_BYTES) ends the file with a VHD footer. */
export function hasVhdFooter(tail: Buffer | undefined): boolean {
  return tail !== undefined && tail.length === TAIL_BYTES && hasVhdCookie(tail)
}

/** Pure. The name of a tar's first member, from its header (prefix/name for long ustar names). */
export function firstTarMemberName(head: Buffer): string {
  const field = (start: number, length: number) => {
    const raw = head.subarray(start, Math.min(start + length, head.length))
    const nul = raw.indexOf(0)
    return raw.subarray(0, nul < 0 ? raw.length : nul).toString('utf8')
  }
  const name = field(0, 100)
  // POSIX ustar splits long names into prefix (offset 345) + "/" + name; GNU tar leaves it empty.
  const prefix = at(head, TAR_MAGIC, 'ustar\x00') ? field(345, 155) : ''
  return prefix === '' ? name : `${prefix}/${name}`
}

/**
 * Pure. The image format of the (decompressed) bytes: `head` is the first HEAD_BYTES (or the
 * whole file if shorter), `tail` the last TAIL_BYTES when known. Without the tail a fixed VHD
 * (footer only at the end) reads as raw. Throws ERR_FORMAT_UNSUPPORTED for VHDX: its virtual
 * size lies in a metadata region megabytes in, KVM zones cannot use it, and letting it pass as
 * raw would install a disk the guest sees as garbage.
 */
export function detectFormat(head: Buffer, tail?: Buffer): ImageFormat {
  if (at(head, 0, 'vhdxfile')) throw new ApplianceError('ERR_FORMAT_UNSUPPORTED', 'VHDX images are not supported; convert to VHD or QCOW2')
  if (at(head, 0, 'QFI\xfb')) return 'qcow2'
  if (at(head, 0, 'KDMV') || at(head, 0, '# Disk DescriptorFile')) return 'vmdk'
  if (hasVhdCookie(head) || hasVhdFooter(tail)) return 'vhd'
  if (at(head, ISO_DESCRIPTOR + 1, 'CD001')) return 'iso'
  if (at(head, TAR_MAGIC, 'ustar')) return firstTarMemberName(head).toLowerCase().endsWith('.ovf') ? 'ova' : 'tar'
  return 'raw'
}
