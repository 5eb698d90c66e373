import type { JobKindHandler } from '../kind.ts'
import type { JobRequest } from '../model.ts'
import { checksumKind } from './checksum.ts'
import { copyKind } from './copy.ts'
import { deleteKind } from './delete.ts'
import { snapshotToTemplateKind } from './snapshot-to-template.ts'

/** Every kind of job storaged runs; a new kind is a new file and a line here. */
export function jobKinds(extra: readonly JobKindHandler[] = []): JobKindHandler[] {
  return [copyKind, snapshotToTemplateKind, deleteKind, checksumKind, ...extra] as unknown as JobKindHandler<JobRequest>[]
}
