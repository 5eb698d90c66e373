/**
 * The paths guests ask for their data, as CloudStack's VR serves them (its Apache rewrites
 * are case-insensitive, and so is this). Pure.
 *   /latest/user-data            the user data bytes
 *   /latest/meta-data/           the key names, one per line
 *   /latest/meta-data/<key>      a value
 *   /latest/<key>                the same value (CloudStack's short form, for every key)
 *   /latest/                     what is under /latest: meta-data, and user-data when there is some
 */

export type MetadataPath =
  | { kind: 'user-data' }
  | { kind: 'listing' }
  | { kind: 'latest' }
  | { kind: 'key'; key: string }

const MAX_PATH = 512

/** Pure. What `url` (a request target) asks for, or undefined (a 404). */
export function resolvePath(url: string): MetadataPath | undefined {
  if (url.length > MAX_PATH) return undefined
  const q = url.indexOf('?')
  const path = (q < 0 ? url : url.slice(0, q)).toLowerCase()
  const parts = path.split('/').filter((p) => p !== '')
  if (parts[0] !== 'latest') return undefined
  if (parts.length === 1) return { kind: 'latest' }
  const [, first, second, ...rest] = parts
  if (rest.length > 0) return undefined
  if (first === 'user-data' || first === 'userdata') return second === undefined ? { kind: 'user-data' } : undefined
  if (first === 'meta-data' || first === 'metadata') return second === undefined ? { kind: 'listing' } : { kind: 'key', key: second }
  return second === undefined && first !== undefined ? { kind: 'key', key: first } : undefined
}
