import { createHmac, timingSafeEqual } from 'node:crypto'

/**
 * Upload and extract signatures. Pure (node:crypto only).
 *
 * Uploads are signed as CloudStack signs them (EncryptionUtil.generateSignature, called by
 * the management server in getUploadParamsFor{Template,Volume,Iso}, checked by the SSVM in
 * NfsPostUploadRequestValidationService):
 *
 *   signature = Base64( HMAC-SHA1( UTF-8(key), UTF-8(metadata + url + expires) ) )
 *
 * with standard base64 (padded), `metadata` and `expires` exactly as sent, and `url` the upload
 * URL the management server handed out: `https://<host>/upload/<uuid>` (ImageStoreUtil.
 * generatePostUploadUrl; `<host>` is the SSVM's public IP or `a-b-c-d.<domain>`).
 *
 * Which URL is verified (the "signatures break behind proxies" problem). CloudStack's SSVM
 * rebuilds the URL from the request: `<proto>://<X-Forwarded-Host>/upload/<uuid>`, with proto
 * from its `useHttpsToUpload` setting. Any proxy or load balancer that rewrites the Host, a
 * missing X-Forwarded-Host, or an http/https mismatch (apache/cloudstack#8264) changes the
 * string and fails a correct upload. storaged instead verifies against the URL it was told it
 * is published under: each configured public base URL (e.g. `https://10-1-1-5.example.com`,
 * `https://203.0.113.5`) + `/upload/<uuid>`, whatever Host the request carries. Only when no
 * base is configured (or when the caller asks for it) does it also try the CloudStack way,
 * `http(s)://<X-Forwarded-Host or Host>/upload/<uuid>`, both schemes. Trying several URLs costs
 * nothing in security: every candidate still needs the key, covers the same metadata, uuid and
 * expiry, and at most a dozen are tried.
 */

/** Pure. CloudStack's upload signature. */
export function signUpload(key: string, metadata: string, url: string, expires: string): string {
  return createHmac('sha1', Buffer.from(key, 'utf8')).update(`${metadata}${url}${expires}`, 'utf8').digest('base64')
}

/** Where the upload URL may have pointed, for verification. */
export interface SignedUrlSettings {
  /** Public base URLs (scheme://host[:port][/prefix]) the management server hands out. */
  publicBaseUrls: readonly string[]
  /** Also accept CloudStack's request-derived URL (Host / X-Forwarded-Host, http and https). */
  acceptHostDerivedUrl: boolean
}

const MAX_BASES = 8

/** Pure. A base URL as compared: trailing slashes removed. Throws on a value that is not http(s)://host…. */
export function normalizeBaseUrl(base: string): string {
  const trimmed = base.replace(/\/+$/, '')
  if (!/^https?:\/\/[^/\s?#]+(\/[^\s?#]*)?$/i.test(trimmed)) throw new Error(`public base URL must be http(s)://host[:port][/path]: ${JSON.stringify(base)}`)
  return trimmed
}

/** Pure. The URLs an upload for `uuid` may have been signed with, configured bases first. */
export function signedUrlCandidates(uuid: string, settings: SignedUrlSettings, request: { host?: string | undefined; forwardedHost?: string | undefined }): string[] {
  const out = settings.publicBaseUrls.slice(0, MAX_BASES).map((b) => `${b}/upload/${uuid}`)
  if (settings.acceptHostDerivedUrl || settings.publicBaseUrls.length === 0) {
    // X-Forwarded-Host may list several proxies' values; the first is the client's.
    const hosts = [request.forwardedHost?.split(',')[0]?.trim(), request.host?.trim()]
    for (const host of hosts) {
      if (host === undefined || host === '' || !/^[A-Za-z0-9.:[\]-]+$/.test(host)) continue
      for (const scheme of ['https', 'http']) {
        const url = `${scheme}://${host}/upload/${uuid}`
        if (!out.includes(url)) out.push(url)
      }
    }
  }
  return out
}

/**
 * Pure. The candidate URL whose signature equals `given`, or undefined. Every candidate is
 * computed and compared in constant time (timingSafeEqual on equal lengths), whatever matched.
 */
export function verifyUploadSignature(key: string, given: string, metadata: string, expires: string, candidates: readonly string[]): string | undefined {
  const givenBytes = Buffer.from(given, 'utf8')
  let matched: string | undefined
  for (const url of candidates) {
    const expected = Buffer.from(signUpload(key, metadata, url, expires), 'utf8')
    const equal = expected.length === givenBytes.length && timingSafeEqual(expected, givenBytes)
    if (equal && matched === undefined) matched = url
  }
  return matched
}

const ISO = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?(Z|[+-]\d{2}:?\d{2})$/

/**
 * Pure. An expiry in ms since the epoch, or undefined when the text is none of:
 * - ISO 8601 with a zone, as CloudStack sends it (Joda `DateTime.toString()` in UTC:
 *   `2025-05-01T12:34:56.789Z`), also without seconds or fraction, with `+hh:mm`/`+hhmm`;
 * - Unix time in seconds (1–12 digits), as some non-CloudStack clients write it.
 * A time without a zone is refused: it would be read in the appliance's zone.
 */
export function parseExpires(text: string): number | undefined {
  if (/^\d{1,12}$/.test(text)) return Number(text) * 1000
  const m = ISO.exec(text)
  if (m === null) return undefined
  const [, y, mo, d, h, mi, s = '00', frac = '0', zone = 'Z'] = m
  if (+mo! < 1 || +mo! > 12 || +d! < 1 || +d! > 31 || +h! > 23 || +mi! > 59 || +s > 59) return undefined
  const offset = zone === 'Z' ? 'Z' : `${zone.slice(0, 3)}:${zone.slice(-2)}`
  const ms = Date.parse(`${y}-${mo}-${d}T${h}:${mi}:${s}.${frac.padEnd(3, '0').slice(0, 3)}${offset}`)
  if (Number.isNaN(ms)) return undefined
  // Date.parse rolls 2025-02-30 over to March; refuse a day the month does not have.
  const day = new Date(ms + (offset === 'Z' ? 0 : offsetMs(offset)))
  return day.getUTCDate() === +d! ? ms : undefined
}

function offsetMs(offset: string): number {
  const sign = offset.startsWith('-') ? -1 : 1
  return sign * (Number(offset.slice(1, 3)) * 60 + Number(offset.slice(4, 6))) * 60_000
}

/**
 * Pure. The signature of an extract URL valid until `expires` (Unix seconds):
 * base64url(HMAC-SHA256(UTF-8(key), "storaged-extract-v1\n/userdata/<name>\n<expires>")).
 * The prefix keeps it apart from every upload signature made with the same key.
 */
export function signExtract(key: string, name: string, expires: number): string {
  return createHmac('sha256', Buffer.from(key, 'utf8')).update(`storaged-extract-v1\n/userdata/${name}\n${expires}`, 'utf8').digest('base64url')
}

/** Pure. The query string (no `?`) that makes `/userdata/<name>` a signed URL valid until `expiresAtMs`. */
export function signedExtractQuery(key: string, name: string, expiresAtMs: number): string {
  const expires = Math.floor(expiresAtMs / 1000)
  return `expires=${expires}&signature=${signExtract(key, name, expires)}`
}

/** Pure. Whether `given` is the signature of name/expires, compared in constant time. */
export function verifyExtractSignature(key: string, name: string, expires: number, given: string): boolean {
  const expected = Buffer.from(signExtract(key, name, expires), 'utf8')
  const givenBytes = Buffer.from(given, 'utf8')
  return expected.length === givenBytes.length && timingSafeEqual(expected, givenBytes)
}
