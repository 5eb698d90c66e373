import { createHash } from 'node:crypto'
import { ApplianceError } from '../../core/errors.ts'

/**
 * CloudStack checksums as the management server sends them (DigestHelper): `{ALGORITHM}hex`,
 * or bare hex, which CloudStack reads as MD5 for compatibility with templates registered before
 * the prefix existed. The prefix is case-insensitive; the hex length must be the algorithm's.
 */

/** The algorithms CloudStack's DigestHelper knows, by their canonical name inside the braces. */
export type ChecksumAlgorithm = 'MD5' | 'SHA-1' | 'SHA-224' | 'SHA-256' | 'SHA-384' | 'SHA-512'

export interface Checksum {
  algorithm: ChecksumAlgorithm
  /** Lower-case hex. */
  hex: string
}

/** Hex digits per algorithm, and the name node:crypto knows it by. */
const ALGORITHMS: Record<ChecksumAlgorithm, { hexLength: number; node: string }> = {
  'MD5': { hexLength: 32, node: 'md5' },
  'SHA-1': { hexLength: 40, node: 'sha1' },
  'SHA-224': { hexLength: 56, node: 'sha224' },
  'SHA-256': { hexLength: 64, node: 'sha256' },
  'SHA-384': { hexLength: 96, node: 'sha384' },
  'SHA-512': { hexLength: 128, node: 'sha512' },
}

/**
 * With no checksum given we still compute one, so the answer to the management server carries
 * it (DownloadAnswer.checkSum) and later copies can be verified. SHA-256 rather than
 * CloudStack's historical MD5: it costs little more and is not broken.
 */
export const DEFAULT_ALGORITHM: ChecksumAlgorithm = 'SHA-256'

function algorithmNamed(name: string): ChecksumAlgorithm | undefined {
  const upper = name.toUpperCase()
  return (Object.keys(ALGORITHMS) as ChecksumAlgorithm[]).find((a) => a === upper)
}

/**
 * Pure. Parses `{SHA-256}ab12…` (or bare hex = MD5). Throws ERR_CHECKSUM_ALGORITHM for an
 * unknown prefix and ERR_CHECKSUM_FORMAT for malformed text or a hex length that does not fit.
 * @example parseChecksum('{sha-1}A9993E36…') → { algorithm: 'SHA-1', hex: 'a9993e36…' }
 */
export function parseChecksum(text: string): Checksum {
  const trimmed = text.trim()
  let algorithm: ChecksumAlgorithm = 'MD5'
  let hex = trimmed
  if (trimmed.startsWith('{')) {
    const close = trimmed.indexOf('}')
    if (close < 0) throw new ApplianceError('ERR_CHECKSUM_FORMAT', `checksum "${text}": "{" without a closing "}"`)
    const name = trimmed.slice(1, close)
    const named = algorithmNamed(name)
    if (named === undefined) {
      throw new ApplianceError('ERR_CHECKSUM_ALGORITHM',
        `checksum algorithm "${name}" is not one of ${Object.keys(ALGORITHMS).join(', ')}`)
    }
    algorithm = named
    hex = trimmed.slice(close + 1)
  }
  if (hex === '') throw new ApplianceError('ERR_CHECKSUM_FORMAT', `checksum "${text}" has no digest after the algorithm`)
  if (!/^[0-9a-fA-F]+$/.test(hex)) throw new ApplianceError('ERR_CHECKSUM_FORMAT', `checksum "${text}": the digest is not hexadecimal`)
  const { hexLength } = ALGORITHMS[algorithm]
  if (hex.length !== hexLength) {
    throw new ApplianceError('ERR_CHECKSUM_FORMAT',
      `checksum "${text}": ${algorithm} has ${hexLength} hex digits, this has ${hex.length}`)
  }
  return { algorithm, hex: hex.toLowerCase() }
}

/** Pure. The CloudStack text of a checksum, always with its prefix: `{SHA-256}ab12…`. */
export function formatChecksum(checksum: Checksum): string {
  return `{${checksum.algorithm}}${checksum.hex}`
}

/** The node:crypto name of an algorithm (for hashing a file on disk with the same algorithm). */
export function nodeHashName(algorithm: ChecksumAlgorithm): string {
  return ALGORITHMS[algorithm].node
}

export interface ChecksumResult {
  algorithm: ChecksumAlgorithm
  /** The computed digest, lower-case hex. */
  hex: string
  /** The computed digest as CloudStack text, `{ALGORITHM}hex`. */
  text: string
  /** The checksum that was asked for, when there was one. */
  given?: Checksum
  /** The computed digest equals the given one; true when none was given (nothing to disagree with). */
  matches: boolean
}

export interface ChecksumVerifier {
  readonly algorithm: ChecksumAlgorithm
  update(chunk: Uint8Array): void
  /** Finishes the hash; call once. */
  digest(): ChecksumResult
}

/**
 * A streaming verifier for the checksum given with a download, or (none given, or blank, which
 * CloudStack also treats as none) one that computes DEFAULT_ALGORITHM. Throws the parse errors
 * of parseChecksum up front, before any byte is downloaded.
 *
 * node:crypto cannot export or import a hash's internal state, so a download resumed after a
 * restart must re-hash the bytes already on disk (hash-file.ts feedFile) before the new ones.
 */
export function createVerifier(checksum: string | undefined): ChecksumVerifier {
  const given = checksum === undefined || checksum.trim() === '' ? undefined : parseChecksum(checksum)
  const algorithm = given?.algorithm ?? DEFAULT_ALGORITHM
  const hash = createHash(nodeHashName(algorithm))
  return {
    algorithm,
    update: (chunk) => { hash.update(chunk) },
    digest: () => {
      const hex = hash.digest('hex')
      const text = formatChecksum({ algorithm, hex })
      return given === undefined
        ? { algorithm, hex, text, matches: true }
        : { algorithm, hex, text, given, matches: hex === given.hex }
    },
  }
}
