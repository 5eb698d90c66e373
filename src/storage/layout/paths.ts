import { isIPv4, isIPv6 } from 'node:net'
import { ApplianceError } from '../../core/errors.ts'
import { checkEntityId, checkFileName } from './identifiers.ts'
import type { ImageFormatExtension } from './image-formats.ts'
import { javaNameUuid } from './name-uuid.ts'

/**
 * Where things live, as CloudStack's SSVM lays them out, so a store mounted by either stays
 * readable by the other:
 *
 *   /mnt/SecStorage/<nameUUID("<ip>:<export path>")>/        the store's mount point
 *     template/tmpl/<accountId>/<templateId>/<file> + template.properties
 *     volumes/<accountId>/<volumeId>/<file>         + volume.properties
 *     snapshots/<accountId>/<volumeId>/…
 *     …/dnld<unsigned 64-bit decimal>tmp_           a download in progress
 *
 * Directories are returned relative to the store root with no trailing slash, like the
 * management server's install paths. Pure: the clock and randomness are arguments.
 */

/** CloudStack's `_parent`: where the SSVM mounts every image store. */
export const SEC_STORAGE_PARENT = '/mnt/SecStorage'

/**
 * The text Java's InetAddress.getHostAddress() gives for an address: IPv4 as is, IPv6 as
 * eight lower-case hex groups without leading zeros and without `::` compression
 * (`fd00:0:0:0:0:0:0:5`), an IPv4-mapped IPv6 address as its IPv4 form. Pure.
 * Throws `ERR_BAD_STORE_URL` for anything but a literal address (resolve names first).
 */
export function javaHostAddress(ip: string): string {
  if (isIPv4(ip)) return ip
  if (!isIPv6(ip) || ip.includes('%')) {
    throw new ApplianceError('ERR_BAD_STORE_URL', `not an IP address (resolve the host first; no zone ids): ${JSON.stringify(ip)}`)
  }
  const groups = ipv6Groups(ip)
  const mapped = groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff
  if (mapped) {
    const [hi, lo] = [groups[6] as number, groups[7] as number]
    return [hi >> 8, hi & 0xff, lo >> 8, lo & 0xff].join('.')
  }
  return groups.map((g) => g.toString(16)).join(':')
}

/** Eight 16-bit groups of a valid IPv6 literal (an embedded IPv4 tail included). */
function ipv6Groups(ip: string): number[] {
  const parse = (part: string): number[] => {
    if (part === '') return []
    const out: number[] = []
    for (const piece of part.split(':')) {
      if (piece.includes('.')) {
        const [a, b, c, d] = piece.split('.').map(Number) as [number, number, number, number]
        out.push((a << 8) | b, (c << 8) | d)
      } else out.push(parseInt(piece, 16))
    }
    return out
  }
  const [head = '', tail] = ip.split('::')
  const front = parse(head)
  if (tail === undefined) return front
  const back = parse(tail)
  return [...front, ...new Array<number>(8 - front.length - back.length).fill(0), ...back]
}

/**
 * The string CloudStack hashes to name a store's mount directory: `<ip>:<export path>`, the
 * IP as Java prints it and the path as java.net.URI decodes it, leading slash kept
 * (`10.1.1.5:/export/secondary`). It is the NFS remote device too. Pure.
 */
export function mountIdentity(resolvedIp: string, exportPath: string): string {
  return `${javaHostAddress(resolvedIp)}:${exportPath}`
}

/** The mount directory's name: Java's nameUUIDFromBytes of mountIdentity's UTF-8 bytes. Pure. */
export function mountDirectoryName(resolvedIp: string, exportPath: string): string {
  return javaNameUuid(mountIdentity(resolvedIp, exportPath))
}

/** `/mnt/SecStorage/<uuid>` for a store; the same store always maps to the same directory. Pure. */
export function mountPointFor(resolvedIp: string, exportPath: string, parent: string = SEC_STORAGE_PARENT): string {
  return `${parent}/${mountDirectoryName(resolvedIp, exportPath)}`
}

/** `template/tmpl/<accountId>/<templateId>`, relative to the store root. Pure; throws `ERR_BAD_ID`. */
export function templateInstallDir(accountId: unknown, templateId: unknown): string {
  return `template/tmpl/${checkEntityId(accountId, 'account id')}/${checkEntityId(templateId, 'template id')}`
}

/** `volumes/<accountId>/<volumeId>`, relative to the store root. Pure; throws `ERR_BAD_ID`. */
export function volumeInstallDir(accountId: unknown, volumeId: unknown): string {
  return `volumes/${checkEntityId(accountId, 'account id')}/${checkEntityId(volumeId, 'volume id')}`
}

/** `snapshots/<accountId>/<volumeId>`, relative to the store root. Pure; throws `ERR_BAD_ID`. */
export function snapshotDir(accountId: unknown, volumeId: unknown): string {
  return `snapshots/${checkEntityId(accountId, 'account id')}/${checkEntityId(volumeId, 'volume id')}`
}

export interface InstallNameInput {
  /** The DownloadCommand/upload `name` (the template's or volume's unique name). */
  name: string
  format: ImageFormatExtension
  /**
   * When the install was started, ms since the epoch. CloudStack hashes the clock at install
   * time; taking it as an argument makes the name a function of recorded inputs, so a retried
   * or resumed job that kept its start time installs under the same name.
   */
  startedAtMs: number
}

/**
 * The install file name, as DownloadManagerImpl.makeTemplatename builds it: an ISO keeps its
 * name (Java-trimmed, spaces to `_`) + `.iso`; anything else is
 * `nameUUIDFromBytes(name + startedAtMs)` + `.<ext>`. Pure. Throws `ERR_BAD_NAME`.
 * @example installFileName({ name: 'Debian 12', format: 'iso', startedAtMs: 0 }) // 'Debian_12.iso'
 */
export function installFileName(input: InstallNameInput): string {
  if (typeof input.name !== 'string' || input.name === '') {
    throw new ApplianceError('ERR_BAD_NAME', 'install name must be a non-empty string')
  }
  if (!Number.isSafeInteger(input.startedAtMs) || input.startedAtMs < 0) {
    throw new ApplianceError('ERR_BAD_NAME', `install start time must be a non-negative integer of ms, got ${input.startedAtMs}`)
  }
  const base = input.format === 'iso'
    ? javaTrim(input.name).replaceAll(' ', '_')
    : javaNameUuid(`${input.name}${input.startedAtMs}`)
  if (base === '') throw new ApplianceError('ERR_BAD_NAME', `ISO name ${JSON.stringify(input.name)} is empty once trimmed`)
  return checkFileName(`${base}.${input.format}`, 'install file name')
}

/** String.trim(): strips every char <= U+0020 from both ends (not Unicode whitespace). */
function javaTrim(s: string): string {
  let start = 0
  let end = s.length
  while (start < end && s.charCodeAt(start) <= 0x20) start++
  while (end > start && s.charCodeAt(end - 1) <= 0x20) end--
  return s.slice(start, end)
}

/**
 * The temporary file a download is written to inside its target directory, named as Java's
 * File.createTempFile("dnld", "tmp_", dir) names it: `dnld` + an unsigned 64-bit decimal +
 * `tmp_`. `random` is 8 bytes from the caller (crypto.randomBytes(8)). Pure.
 */
export function downloadTempName(random: Uint8Array): string {
  if (random.length !== 8) throw new ApplianceError('ERR_INTERNAL', `downloadTempName needs 8 random bytes, got ${random.length}`)
  const n = new DataView(random.buffer, random.byteOffset, 8).getBigUint64(0)
  return `dnld${n}tmp_`
}

/** True for names downloadTempName (or CloudStack's SSVM) gives to unfinished downloads. Pure. */
export function isDownloadTempName(name: string): boolean {
  return /^dnld[0-9]{1,20}tmp_$/.test(name)
}
