import { ApplianceError, assertNever } from '../../core/errors.ts'
import { hasVhdCookie, hasVhdFooter, TAIL_BYTES, type ImageFormat } from './detect.ts'

/**
 * Pure. The size of the disk a guest sees (CloudStack's "virtual size"), read from the headers
 * detect.ts found, without any tool. All multi-byte fields per the formats' specifications:
 *
 *   qcow2  header at 0, big-endian: magic, version (u32 @4, 2 or 3), size in bytes (u64 @24)
 *   vhd    footer (last 512 bytes, or its copy at 0 of a dynamic disk), big-endian: current
 *          size in bytes (u64 @48), disk type (u32 @60), one's-complement checksum (u32 @64)
 *   vmdk   sparse header at 0, little-endian: version (u32 @4), capacity in sectors (u64 @12);
 *          or a text descriptor whose extent lines `RW <sectors> SPARSE "file"` add up
 *   iso    primary volume descriptor at 0x8000: volume space size (u32 @0x50) × logical block
 *          size (u16 @0x80), both stored both-endian, which we cross-check
 *   raw, tar, ova  the file's size (an OVA's disks are described by its OVF, not read here)
 *
 * Errors are ERR_IMAGE_HEADER: the header is truncated, inconsistent or of an unknown version.
 */

const SECTOR = 512

function headerError(format: string, why: string): ApplianceError {
  return new ApplianceError('ERR_IMAGE_HEADER', `${format} header: ${why}`)
}

function need(buf: Buffer, bytes: number, format: string): void {
  if (buf.length < bytes) throw headerError(format, `truncated (${buf.length} of ${bytes} bytes)`)
}

function safe(value: bigint, format: string, what: string): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw headerError(format, `${what} ${value} is beyond 2^53 bytes`)
  return Number(value)
}

export interface Qcow2Header {
  version: 2 | 3
  virtualSize: number
  /**
   * The image names a backing file. A template must be self-contained: a backing file name in
   * an uploaded image is how a guest is pointed at a host file (the classic qcow2 attack).
   */
  hasBackingFile: boolean
}

/** Pure. The qcow2 header fields that matter to a secondary store. */
export function parseQcow2Header(head: Buffer): Qcow2Header {
  need(head, 72, 'qcow2')
  if (head.readUInt32BE(0) !== 0x514649fb) throw headerError('qcow2', 'no QFI\\xfb magic')
  const version = head.readUInt32BE(4)
  if (version !== 2 && version !== 3) throw headerError('qcow2', `version ${version}; only 2 and 3 exist in use`)
  const clusterBits = head.readUInt32BE(20)
  // qemu's limits (block/qcow2.h MIN_CLUSTER_BITS/MAX_CLUSTER_BITS): anything else is damage.
  if (clusterBits < 9 || clusterBits > 21) throw headerError('qcow2', `cluster_bits ${clusterBits} outside 9..21`)
  if (version === 3) {
    need(head, 104, 'qcow2')
    const headerLength = head.readUInt32BE(100)
    if (headerLength < 104) throw headerError('qcow2', `v3 header_length ${headerLength} below 104`)
  }
  return {
    version,
    virtualSize: safe(head.readBigUInt64BE(24), 'qcow2', 'size'),
    hasBackingFile: head.readBigUInt64BE(8) !== 0n,
  }
}

export interface VhdFooter {
  /** 2 fixed, 3 dynamic, 4 differencing. */
  diskType: 2 | 3 | 4
  virtualSize: number
}

/** Pure. One's complement of the byte sum of the footer with its checksum field taken as zero. */
export function vhdFooterChecksum(footer: Buffer): number {
  let sum = 0
  for (let i = 0; i < TAIL_BYTES; i++) if (i < 64 || i > 67) sum += footer[i]!
  return ~sum >>> 0
}

/** Pure. Parses and checks one 512-byte VHD footer (or its copy at the head of a dynamic disk). */
export function parseVhdFooter(footer: Buffer): VhdFooter {
  need(footer, TAIL_BYTES, 'vhd')
  if (!hasVhdCookie(footer)) throw headerError('vhd', 'no "conectix" cookie in the footer')
  const stored = footer.readUInt32BE(64)
  const computed = vhdFooterChecksum(footer)
  if (stored !== computed) {
    throw headerError('vhd', `footer checksum ${stored.toString(16)} is not ${computed.toString(16)} (corrupt footer)`)
  }
  const diskType = footer.readUInt32BE(60)
  if (diskType !== 2 && diskType !== 3 && diskType !== 4) throw headerError('vhd', `disk type ${diskType} is not fixed, dynamic or differencing`)
  return { diskType, virtualSize: safe(footer.readBigUInt64BE(48), 'vhd', 'current size') }
}

/**
 * Pure. The footer to trust: the one at the end of the file (the authoritative one, what
 * CloudStack's VhdProcessor reads); the head copy only when the tail is unknown. A dynamic disk
 * whose end lacks the footer is a truncated download.
 */
function vhdFooter(head: Buffer, tail: Buffer | undefined): Buffer {
  if (hasVhdFooter(tail)) return tail!
  if (tail !== undefined) throw headerError('vhd', 'no footer in the last 512 bytes (truncated file?)')
  return head.subarray(0, TAIL_BYTES)
}

/** Pure. Capacity in bytes of a VMDK sparse extent header (monolithicSparse, streamOptimized). */
export function vmdkSparseVirtualSize(head: Buffer): number {
  need(head, 20, 'vmdk')
  if (head.readUInt32LE(0) !== 0x564d444b) throw headerError('vmdk', 'no KDMV magic')
  const version = head.readUInt32LE(4)
  if (version < 1 || version > 3) throw headerError('vmdk', `sparse header version ${version} is not 1..3`)
  return safe(head.readBigUInt64LE(12) * BigInt(SECTOR), 'vmdk', 'capacity')
}

const EXTENT = /^\s*(?:RW|RDONLY|NOACCESS)\s+(\d+)\s+(?:SPARSE|FLAT|ZERO|VMFS|VMFSSPARSE|VMFSRDM|VMFSRAW|SESPARSE|VSANSPARSE)\b/i

/**
 * Pure. Capacity in bytes of a VMDK text descriptor: the sum of its extents' sectors × 512.
 * `complete` says the whole descriptor is in `text`; a partial one would under-count.
 */
export function vmdkDescriptorVirtualSize(text: string, complete: boolean): number {
  if (!complete) throw headerError('vmdk', 'text descriptor longer than the bytes read; refusing to guess its extents')
  let sectors = 0n
  for (const line of text.split(/\r?\n/)) {
    const m = EXTENT.exec(line)
    if (m !== null) sectors += BigInt(m[1]!)
  }
  if (sectors === 0n) throw headerError('vmdk', 'text descriptor without extent lines')
  return safe(sectors * BigInt(SECTOR), 'vmdk', 'capacity')
}

const PVD = 0x8000

/** Pure. Volume space size × logical block size from the ISO 9660 primary volume descriptor. */
export function isoVirtualSize(head: Buffer): number {
  need(head, PVD + 0x84, 'iso')
  if (head.subarray(PVD + 1, PVD + 6).toString('latin1') !== 'CD001') throw headerError('iso', 'no CD001 at 0x8001')
  if (head[PVD] !== 1) throw headerError('iso', `first volume descriptor has type ${head[PVD]}, not 1 (primary)`)
  const blocks = head.readUInt32LE(PVD + 0x50)
  const blockSize = head.readUInt16LE(PVD + 0x80)
  // Both-endian fields: the two copies disagreeing is corruption, not a choice to make.
  if (head.readUInt32BE(PVD + 0x54) !== blocks) throw headerError('iso', 'volume space size differs between its LE and BE copies')
  if (head.readUInt16BE(PVD + 0x82) !== blockSize) throw headerError('iso', 'logical block size differs between its LE and BE copies')
  if (blockSize < 512 || (blockSize & (blockSize - 1)) !== 0) throw headerError('iso', `logical block size ${blockSize} is not a power of two ≥ 512`)
  return blocks * blockSize
}

/**
 * Pure. The virtual size of an image of `format` (from detectFormat on the same bytes): `head`
 * is its first HEAD_BYTES (or the whole file), `tail` its last TAIL_BYTES when known,
 * `physicalSize` its length in bytes.
 */
export function readVirtualSize(format: ImageFormat, head: Buffer, tail: Buffer | undefined, physicalSize: number): number {
  switch (format) {
    case 'qcow2': return parseQcow2Header(head).virtualSize
    case 'vhd': return parseVhdFooter(vhdFooter(head, tail)).virtualSize
    case 'vmdk':
      return head.length < 4 || head.readUInt32LE(0) === 0x564d444b
        ? vmdkSparseVirtualSize(head)
        : vmdkDescriptorVirtualSize(head.toString('utf8').replace(/\0[\s\S]*$/, ''), physicalSize <= head.length)
    case 'iso': return isoVirtualSize(head)
    case 'raw':
    case 'tar':
    case 'ova': return physicalSize
    default: return assertNever(format)
  }
}
