import { ApplianceError } from '../../core/errors.ts'

/**
 * Checks for the ids and names that become path segments on an image store. They arrive from
 * the management server and from upload metadata, so each is refused here, before it can name
 * a directory (`ERR_BAD_ID`, `ERR_BAD_NAME`). Pure.
 */

/** CloudStack ids are SQL BIGINT UNSIGNED read into a Java long: 1 … 2^63-1. */
const MAX_JAVA_LONG = 9223372036854775807n

/**
 * Returns a database id (account, template, volume) as the decimal text CloudStack puts in
 * paths; accepts a positive safe integer, a bigint or canonical decimal text (no sign, no
 * leading zero). Throws `ERR_BAD_ID`. Pure.
 */
export function checkEntityId(value: unknown, what: string): string {
  let id: bigint | null = null
  if (typeof value === 'number' && Number.isSafeInteger(value)) id = BigInt(value)
  else if (typeof value === 'bigint') id = value
  else if (typeof value === 'string' && /^[1-9][0-9]{0,18}$/.test(value)) id = BigInt(value)
  if (id === null || id < 1n || id > MAX_JAVA_LONG) {
    throw new ApplianceError('ERR_BAD_ID', `${what} must be a positive integer id, got ${describe(value)}`)
  }
  return id.toString()
}

const UUID_PATTERN = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/

/**
 * Returns `value` when it is a UUID in Java's `UUID.toString()` shape (8-4-4-4-12 hex), as
 * CloudStack uses for entity uuids and install names; case is kept, paths are case-sensitive.
 * Throws `ERR_BAD_ID`. Pure.
 */
export function checkUuid(value: unknown, what: string): string {
  if (typeof value !== 'string' || !UUID_PATTERN.test(value)) {
    throw new ApplianceError('ERR_BAD_ID', `${what} must be a UUID, got ${describe(value)}`)
  }
  return value
}

/** Longest file name Linux (and NFS servers) take, in bytes. */
const NAME_MAX_BYTES = 255

/**
 * Returns `value` when it can be one file name on the store: not empty, not `.` or `..`, at
 * most 255 UTF-8 bytes, no `/`, no backslash (never in CloudStack's names; a sign of a Windows
 * path or an escape attempt) and no control character (NUL included). Throws `ERR_BAD_NAME`. Pure.
 */
export function checkFileName(value: unknown, what: string): string {
  const problem = fileNameProblem(value)
  if (problem !== null) throw new ApplianceError('ERR_BAD_NAME', `${what} ${problem}: ${describe(value)}`)
  return value as string
}

function fileNameProblem(value: unknown): string | null {
  if (typeof value !== 'string') return 'must be a string'
  if (value === '' || value === '.' || value === '..') return 'must name a file'
  if (Buffer.byteLength(value, 'utf8') > NAME_MAX_BYTES) return `must be at most ${NAME_MAX_BYTES} bytes`
  if (/[/\\]/.test(value)) return 'must not contain a slash or backslash'
  if (/[\u0000-\u001f\u007f]/.test(value)) return 'must not contain control characters'
  return null
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value)
  if (typeof value === 'bigint') return `${value}n`
  return String(value)
}
