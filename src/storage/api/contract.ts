import Type, { type Static } from 'typebox'
import { StorageConfig, Store } from '../model/config.ts'
import { Job, JobRequest } from '../jobs/model.ts'

/**
 * What storaged's API answers, as TypeBox schemas: the one source of the response types, the
 * OpenAPI document and fastify's serializers. svmctl imports only this file (and core).
 */

export { Diagnostic, ErrorResponse } from '../../core/http/contract.ts'
export { Job, JobRequest, Store, StorageConfig }

const Outcome = Type.Object({ ok: Type.Boolean(), detail: Type.String(), checkedAt: Type.String() })

export const StoreHealth = Type.Object({
  id: Type.String(),
  url: Type.String(),
  driver: Type.Union([Type.Literal('nfs'), Type.Literal('path')]),
  mountPoint: Type.Union([Type.String(), Type.Null()]),
  mounted: Type.Boolean(),
  writable: Type.Boolean({ description: 'A probe file was written, fsynced and removed at the last check' }),
  totalBytes: Type.Union([Type.Integer(), Type.Null()]),
  freeBytes: Type.Union([Type.Integer(), Type.Null()]),
  usedBytes: Type.Union([Type.Integer(), Type.Null()]),
  remounts: Type.Integer({ description: 'Times a stale or hung mount was mounted again' }),
  lastError: Type.Union([Type.Object({ code: Type.String(), message: Type.String() }), Type.Null()]),
  checkedAt: Type.Union([Type.String(), Type.Null()]),
})
export type StoreHealth = Static<typeof StoreHealth>

export const StorageStatus = Type.Object({
  ready: Type.Boolean({ description: 'Every configured store is attached (as /readyz)' }),
  generation: Type.Integer(),
  stores: Type.Array(StoreHealth),
  checks: Type.Object({ dns: Type.Union([Outcome, Type.Null()]), management: Type.Union([Outcome, Type.Null()]) }, { description: 'As ssvm-check.sh: name resolution and the management server (null: not configured)' }),
  jobs: Type.Record(Type.String(), Type.Integer(), { description: 'Jobs kept, by state' }),
  problems: Type.Array(Type.String(), { description: 'What was wrong with the stored config or job files at start' }),
})
export type StorageStatus = Static<typeof StorageStatus>

export const EditResponse = Type.Object({ generation: Type.Integer() })
export const ConfigResponse = Type.Object({ generation: Type.Integer(), config: StorageConfig })
export const JobList = Type.Object({ jobs: Type.Array(Job) })

export const Install = Type.Object({
  accountId: Type.Integer(),
  id: Type.Integer(),
  installPath: Type.String(),
  uniqueName: Type.String(),
  description: Type.String(),
  format: Type.String(),
  size: Type.Integer(),
  virtualSize: Type.Integer(),
  hvm: Type.Boolean(),
  public: Type.Boolean(),
})
export const InstallList = Type.Object({
  installs: Type.Array(Install),
  notListed: Type.Array(Type.Object({ path: Type.String(), reason: Type.String() }), { description: 'Directories whose properties file does not make them installed' }),
})
export type InstallList = Static<typeof InstallList>
