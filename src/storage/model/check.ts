import type { Diagnostic } from '../../core/errors.ts'
import { schemaDiagnostics } from '../../core/schema.ts'
import { StorageConfig } from './config.ts'
import { storeLocation } from './store-url.ts'

/**
 * Pure. Every problem of a storage document, each with its path: the schema, then what the
 * schema cannot say (URLs, two stores on one place, nfs-only fields on a path store).
 */
export function checkStorageConfig(value: unknown): Diagnostic[] {
  const schema = schemaDiagnostics(StorageConfig, value)
  if (schema.length > 0) return schema
  const config = value as StorageConfig
  const out: Diagnostic[] = []
  const error = (path: string, code: string, message: string) => out.push({ severity: 'error', path, code, message })
  const ids = new Map<string, number>()
  const places = new Map<string, string>()
  config.stores.forEach((s, i) => {
    const at = `/stores/${i}`
    const seen = ids.get(s.id)
    if (seen !== undefined) error(`${at}/id`, 'ERR_DUPLICATE_ID', `id "${s.id}" is also /stores/${seen}`)
    ids.set(s.id, i)
    const location = storeLocation(s.url)
    if (typeof location === 'string') {
      error(`${at}/url`, 'ERR_BAD_STORE_URL', `the URL ${location}`)
      return
    }
    const place = location.driver === 'nfs' ? `nfs ${location.host}:${location.exportPath}` : `path ${location.path}`
    const other = places.get(place)
    if (other !== undefined) error(`${at}/url`, 'ERR_DUPLICATE_STORE', `store "${other}" already names ${place}`)
    places.set(place, s.id)
    if (location.driver === 'path') {
      if (s.nfsVersion !== undefined) error(`${at}/nfsVersion`, 'ERR_STORE_OPTION', 'nfsVersion is for nfs:// stores')
      if (s.mountOptions !== undefined) error(`${at}/mountOptions`, 'ERR_STORE_OPTION', 'mountOptions are for nfs:// stores')
    }
  })
  return out
}
