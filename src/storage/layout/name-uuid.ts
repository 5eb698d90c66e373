import { createHash } from 'node:crypto'

/**
 * Java's `UUID.nameUUIDFromBytes`: the MD5 of the bytes (no namespace, unlike RFC 4122's
 * name-based UUIDs) with the version set to 3 and the variant to RFC 4122. CloudStack names
 * store mount points and install files with it, hashing the string's UTF-8 bytes (its
 * `getPreferredCharset()`), so a string argument is encoded as UTF-8 here. Pure.
 * @example javaNameUuid('10.1.1.5:/export/secondary') // '665d3814-9fdc-3bca-8727-7c2d56b42bd1'
 */
export function javaNameUuid(name: string | Uint8Array): string {
  const md5 = createHash('md5').update(typeof name === 'string' ? Buffer.from(name, 'utf8') : name).digest()
  md5[6] = ((md5[6] as number) & 0x0f) | 0x30
  md5[8] = ((md5[8] as number) & 0x3f) | 0x80
  const hex = md5.toString('hex')
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
}
