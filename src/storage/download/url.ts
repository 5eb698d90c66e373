import { DownloadRedirectError, DownloadUrlError } from './errors.ts'

/**
 * Pure. The URLs of a download: what the fetcher accepts (http and https only; CloudStack's
 * metalink, file, scp and S3 paths are other downloaders), the credentials a URL carries (Basic
 * auth from its userinfo, decoded, never logged), the proxy, and which redirects are followed.
 */

/** At most this many redirects per request, like curl's and Java's defaults are in this range. */
export const MAX_REDIRECTS = 5

/** Query parameters whose values are secrets (pre-signed S3 URLs, tokens): redacted in logs. */
const SECRET_QUERY = /sig|token|secret|pass|auth|credential|key/i

/** A URL the fetcher may request, with the credentials taken out of it. */
export interface DownloadTarget {
  /** The URL without userinfo: what goes on the wire (in the request line or Host). */
  url: URL
  /** `Basic …` from the URL's userinfo, when it had any. */
  authorization: string | undefined
}

/** An HTTP proxy, with `Proxy-Authorization` from its userinfo. */
export interface ProxyTarget {
  host: string
  port: number
  authorization: string | undefined
  /** For messages: the proxy without its credentials. */
  name: string
}

/**
 * Pure. The URL for logs and messages: the password (and user) become `***`, and the values of
 * query parameters that look like secrets (signature, token, key…) too. Never throws: text that
 * is not a URL has anything shaped like `//user:pass@` masked.
 * @example redactUrl('https://u:p@h/x?X-Amz-Signature=ab&a=1') → 'https://***:***@h/x?X-Amz-Signature=***&a=1'
 */
export function redactUrl(url: string | URL): string {
  let parsed: URL
  try {
    parsed = new URL(String(url))
  } catch {
    return String(url).replace(/\/\/[^/@]*@/, '//***@')
  }
  const copy = new URL(parsed.href)
  if (copy.username !== '') copy.username = '***'
  if (copy.password !== '') copy.password = '***'
  if (copy.search !== '') {
    // Rebuilt by hand: URLSearchParams would re-encode the other values and change the text.
    copy.search = copy.search.slice(1).split('&').map((pair) => {
      const eq = pair.indexOf('=')
      if (eq < 0) return pair
      return SECRET_QUERY.test(pair.slice(0, eq)) ? `${pair.slice(0, eq)}=***` : pair
    }).join('&')
  }
  return copy.href
}

function basic(user: string, password: string): string {
  return `Basic ${Buffer.from(`${decodeURIComponent(user)}:${decodeURIComponent(password)}`, 'utf8').toString('base64')}`
}

/** Pure. Checks a download URL and takes its credentials out. Throws ERR_DOWNLOAD_URL. */
export function parseDownloadUrl(text: string): DownloadTarget {
  let url: URL
  try {
    url = new URL(text)
  } catch {
    throw new DownloadUrlError(`not a URL: ${redactUrl(text)}`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new DownloadUrlError(`${redactUrl(url)}: only http and https URLs are downloaded here, not ${url.protocol.slice(0, -1)}`)
  }
  if (url.hostname === '') throw new DownloadUrlError(`${redactUrl(url)}: no host`)
  return splitCredentials(url)
}

function splitCredentials(url: URL): DownloadTarget {
  const authorization = url.username === '' && url.password === '' ? undefined : basic(url.username, url.password)
  const bare = new URL(url.href)
  bare.username = ''
  bare.password = ''
  bare.hash = ''
  return { url: bare, authorization }
}

/**
 * Pure. Checks a proxy URL (`http://[user:pass@]host:port`; an https proxy is not supported).
 * Throws ERR_DOWNLOAD_URL with the proxy's credentials masked.
 */
export function parseProxyUrl(text: string): ProxyTarget {
  let url: URL
  try {
    url = new URL(text)
  } catch {
    throw new DownloadUrlError(`proxy is not a URL: ${redactUrl(text)}`)
  }
  if (url.protocol !== 'http:') throw new DownloadUrlError(`proxy ${redactUrl(url)}: only http:// proxies are supported`)
  if (url.hostname === '') throw new DownloadUrlError(`proxy ${redactUrl(url)}: no host`)
  const { authorization } = splitCredentials(url)
  const port = url.port === '' ? 80 : Number(url.port)
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname
  return { host, port, authorization, name: `http://${url.host}` }
}

/** Pure. The port a URL connects to (its own, or the scheme's). */
export function urlPort(url: URL): number {
  return url.port === '' ? (url.protocol === 'https:' ? 443 : 80) : Number(url.port)
}

/** Pure. `host:port` for a CONNECT request line and its Host header (IPv6 in brackets). */
export function authority(url: URL): string {
  return `${url.hostname}:${urlPort(url)}`
}

/**
 * Pure. Where a redirect leads, or why it is not followed (ERR_DOWNLOAD_REDIRECT): the caller did
 * not allow redirects, `hops` already reached MAX_REDIRECTS, the Location is missing or not
 * http/https, or it would go from https to http (a downgrade exposes the credentials and the
 * bytes). Credentials follow a redirect only to the same origin (curl without
 * --location-trusted): a mirror elsewhere must not receive them.
 */
export function planRedirect(from: DownloadTarget, status: number, location: string | undefined,
  options: { follow: boolean; hops: number }): DownloadTarget {
  const where = redactUrl(from.url)
  if (!options.follow) {
    throw new DownloadRedirectError(status, `${where}: redirected (${status}) to ${location === undefined ? 'nowhere' : redactUrl(resolveOrText(location, from.url))}, and redirects are not allowed for this download`)
  }
  if (options.hops >= MAX_REDIRECTS) throw new DownloadRedirectError(status, `${where}: more than ${MAX_REDIRECTS} redirects`)
  if (location === undefined || location === '') throw new DownloadRedirectError(status, `${where}: redirect (${status}) without a Location`)
  let next: URL
  try {
    next = new URL(location, from.url)
  } catch {
    throw new DownloadRedirectError(status, `${where}: redirect to an invalid Location ${redactUrl(location)}`)
  }
  if (next.protocol !== 'http:' && next.protocol !== 'https:') {
    throw new DownloadRedirectError(status, `${where}: redirect to ${redactUrl(next)}: only http and https are followed`)
  }
  if (from.url.protocol === 'https:' && next.protocol === 'http:') {
    throw new DownloadRedirectError(status, `${where}: redirect from https to http (${redactUrl(next)}) refused`)
  }
  const target = splitCredentials(next)
  if (target.authorization !== undefined) return target
  return { url: target.url, authorization: next.origin === from.url.origin ? from.authorization : undefined }
}

function resolveOrText(location: string, base: URL): string {
  try {
    return new URL(location, base).href
  } catch {
    return location
  }
}
