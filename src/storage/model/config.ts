import Type, { type Static } from 'typebox'

/**
 * storaged's desired state: the image stores it keeps mounted. Jobs are not desired state:
 * they are imperative (POST /v1/jobs) and persisted by the job queue.
 */

const Id = Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$', description: 'The store\'s id, as the orchestrator names it' })

export const Store = Type.Object({
  id: Id,
  url: Type.String({
    minLength: 1, maxLength: 1024,
    description: 'nfs://host/export[/path] (storaged mounts it), or file:///absolute/dir (a directory someone else mounted: the path driver)',
  }),
  nfsVersion: Type.Optional(Type.Union([Type.Literal('3'), Type.Literal('4'), Type.Literal('4.1'), Type.Literal('4.2')], { description: 'nfs only: vers= (else the client negotiates)' })),
  mountOptions: Type.Optional(Type.Array(Type.String({ pattern: '^[A-Za-z0-9_.=:/-]{1,128}$' }), {
    maxItems: 32, description: 'nfs only: extra mount options, after CloudStack\'s own (soft,timeo=133,retrans=2147483647,tcp,acdirmax=0,acdirmin=0)',
  })),
}, { additionalProperties: false })
export type Store = Static<typeof Store>

export const StorageConfig = Type.Object({ stores: Type.Array(Store, { maxItems: 256 }) }, { additionalProperties: false })
export type StorageConfig = Static<typeof StorageConfig>

export const STORAGE_COLLECTIONS = { stores: Store } as const
export type StorageCollection = keyof typeof STORAGE_COLLECTIONS
export const STORAGE_COLLECTION_NAMES = Object.keys(STORAGE_COLLECTIONS) as StorageCollection[]

export function emptyStorageConfig(): StorageConfig {
  return { stores: [] }
}
