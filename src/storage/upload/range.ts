/**
 * HTTP range and validator logic for extract downloads (RFC 9110 §13–14). Pure.
 * One range only: a multi-range request is answered whole (200), which RFC 9110 allows and
 * every download client handles; a Range that does not parse is ignored the same way.
 */

export type RangeDecision =
  | { kind: 'full' }
  | { kind: 'partial'; start: number; end: number }
  | { kind: 'unsatisfiable' }

/**
 * Pure. What to send for `Range` over a file of `size` bytes. `ifRange` (an ETag or an HTTP
 * date) that does not match the current `etag`/`lastModified` turns the answer into the
 * whole file, as the client's copy is stale.
 */
export function decideRange(range: string | undefined, size: number, validators: { ifRange?: string | undefined; etag: string; lastModified: string }): RangeDecision {
  if (range === undefined) return { kind: 'full' }
  const ifRange = validators.ifRange?.trim()
  if (ifRange !== undefined && ifRange !== '') {
    const fresh = ifRange.startsWith('"') || ifRange.startsWith('W/') ? ifRange === validators.etag : ifRange === validators.lastModified
    if (!fresh) return { kind: 'full' }
  }
  const m = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(range)
  if (m === null) return { kind: 'full' }
  const [, first = '', last = ''] = m
  if (first === '' && last === '') return { kind: 'full' }
  if (first === '') {
    const suffix = Number(last)
    if (suffix === 0 || size === 0) return { kind: 'unsatisfiable' }
    return { kind: 'partial', start: Math.max(0, size - suffix), end: size - 1 }
  }
  const start = Number(first)
  if (!Number.isSafeInteger(start)) return { kind: 'unsatisfiable' }
  if (start >= size) return { kind: 'unsatisfiable' }
  const end = last === '' ? size - 1 : Math.min(Number(last), size - 1)
  if (end < start) return { kind: 'full' } // "bytes=5-2" is not a valid range: ignored
  return { kind: 'partial', start, end }
}

/** Pure. A strong ETag from what changes when a file is replaced or rewritten: size, mtime, inode. */
export function fileEtag(size: number, mtimeMs: number, ino: number): string {
  return `"${size.toString(16)}-${Math.floor(mtimeMs).toString(16)}-${ino.toString(16)}"`
}

/** Pure. Whether If-None-Match names `etag` (weak comparison, as RFC 9110 wants for it) or is `*`. */
export function noneMatch(ifNoneMatch: string | undefined, etag: string): boolean {
  if (ifNoneMatch === undefined) return false
  const bare = (t: string) => t.trim().replace(/^W\//, '')
  return ifNoneMatch.split(',').some((t) => t.trim() === '*' || bare(t) === bare(etag))
}
