/**
 * Pure. What a store URL names. `nfs://host/export[/sub/path]`: CloudStack's form (the whole
 * path is the export; CloudStack mounts `host:/path`). `file:///dir`: a directory already
 * mounted by someone else.
 */

export type StoreLocation =
  /** uriPath: the path as the URL spells it, which CloudStack hashes for the mount point's name (a trailing slash counts). */
  | { driver: 'nfs'; host: string; exportPath: string; uriPath: string }
  | { driver: 'path'; path: string }

/** The location, or why the URL names none. */
export function storeLocation(url: string): StoreLocation | string {
  let u: URL
  try {
    u = new URL(url)
  } catch {
    return 'is not a URL'
  }
  let path: string
  try {
    path = decodeURIComponent(u.pathname)
  } catch {
    return 'has a bad percent-encoding in its path'
  }
  if (path.includes('\0')) return 'has a NUL byte in its path'
  const segments = path.split('/')
  // The URL parser folds `..` (also written %2e%2e) away; the text as written must not hold one.
  const written = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#]*([^?#]*)/.exec(url)?.[1] ?? ''
  const writtenSegments = written.split('/').map((s) => s.replace(/%2e/gi, '.'))
  if ([...segments, ...writtenSegments].some((s) => s === '..' || s === '.')) return 'has a "." or ".." segment in its path'
  if (u.search !== '' || u.hash !== '') return 'has a query or fragment'
  if (u.username !== '' || u.password !== '') return 'has credentials'
  const clean = `/${segments.filter((s) => s !== '').join('/')}`
  if (u.protocol === 'nfs:') {
    if (u.hostname === '') return 'names no NFS server'
    if (u.port !== '') return 'names a port (NFS ports are found by the client)'
    if (clean === '/') return 'names no export path'
    return { driver: 'nfs', host: u.hostname.replace(/^\[|\]$/g, ''), exportPath: clean, uriPath: path }
  }
  if (u.protocol === 'file:') {
    if (u.hostname !== '') return 'file URLs name a local directory: file:///dir'
    if (clean === '/') return 'names the root directory'
    return { driver: 'path', path: clean }
  }
  return `has scheme "${u.protocol.replace(/:$/, '')}": nfs:// and file:// are supported`
}
