import Type, { type Static } from 'typebox'

/**
 * Jobs: what the orchestrator asks storaged to do with images (POST /v1/jobs), and what a job
 * looks like while it runs and after. Jobs are imperative, not desired state: each runs once,
 * is persisted (jobs/store.ts) and survives a restart.
 */

const StoreId = Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$', description: 'A store of the config (/v1/config/stores)' })
const EntityId = Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER, description: 'A database id, as CloudStack numbers accounts, templates and volumes' })
const RelativePath = Type.String({ minLength: 1, maxLength: 1024, description: 'A path inside the store, relative to its root (as CloudStack\'s installPath)' })

/** What a job installs: the fields of CloudStack's properties files. */
const InstallTarget = {
  accountId: EntityId,
  id: EntityId,
  name: Type.String({ minLength: 1, maxLength: 255, description: 'The unique name (DownloadCommand name): `uniquename` in the properties file; the install file is named from it' }),
  description: Type.Optional(Type.String({ maxLength: 1024 })),
  hvm: Type.Optional(Type.Boolean({ default: true })),
  public: Type.Optional(Type.Boolean({ default: false })),
}

export const DeclaredFormat = Type.Union(['qcow2', 'vhd', 'ova', 'iso', 'raw', 'img', 'vmdk', 'tar'].map((f) => Type.Literal(f)), {
  description: 'The format the orchestrator says the image has: the content must agree',
})

export const DownloadRequest = Type.Object({
  kind: Type.Literal('download'),
  store: StoreId,
  resource: Type.Union([Type.Literal('template'), Type.Literal('iso'), Type.Literal('volume')]),
  url: Type.String({ minLength: 8, maxLength: 4096, pattern: '^https?://', description: 'http(s); user:password@ for Basic auth' }),
  checksum: Type.Optional(Type.String({ maxLength: 200, description: '{MD5}, {SHA-1}, {SHA-256}, {SHA-512} prefix; none means MD5. Absent: SHA-256 computed and reported' })),
  format: Type.Optional(DeclaredFormat),
  followRedirects: Type.Optional(Type.Boolean({ default: false })),
  maxBytes: Type.Optional(Type.Integer({ minimum: 1, description: 'Largest download accepted (default 50 GiB, and never above the daemon\'s limit)' })),
  ...InstallTarget,
}, { additionalProperties: false })
export type DownloadRequest = Static<typeof DownloadRequest>

export const CopyRequest = Type.Object({
  kind: Type.Literal('copy'),
  from: Type.Object({ store: StoreId, path: RelativePath }, { additionalProperties: false, description: 'An install directory (template/tmpl/<account>/<id>, volumes/<account>/<id>) or a snapshot file' }),
  to: Type.Object({ store: StoreId }, { additionalProperties: false, description: 'Copied to the same relative path' }),
}, { additionalProperties: false })
export type CopyRequest = Static<typeof CopyRequest>

export const SnapshotToTemplateRequest = Type.Object({
  kind: Type.Literal('snapshotToTemplate'),
  store: StoreId,
  snapshot: RelativePath,
  ...InstallTarget,
}, { additionalProperties: false })
export type SnapshotToTemplateRequest = Static<typeof SnapshotToTemplateRequest>

export const DeleteRequest = Type.Object({
  kind: Type.Literal('delete'),
  store: StoreId,
  path: RelativePath,
}, { additionalProperties: false })
export type DeleteRequest = Static<typeof DeleteRequest>

export const ChecksumRequest = Type.Object({
  kind: Type.Literal('checksum'),
  store: StoreId,
  path: RelativePath,
  algorithm: Type.Optional(Type.Union(['MD5', 'SHA-1', 'SHA-256', 'SHA-512'].map((a) => Type.Literal(a)), { default: 'SHA-256' })),
}, { additionalProperties: false })
export type ChecksumRequest = Static<typeof ChecksumRequest>

export const JobRequest = Type.Union([DownloadRequest, CopyRequest, SnapshotToTemplateRequest, DeleteRequest, ChecksumRequest])
export type JobRequest = Static<typeof JobRequest>
export type JobKind = JobRequest['kind']

/** CloudStack's download states (VMTemplateStorageResourceAssoc.Status), one to one. */
export const JOB_STATES = ['NOT_DOWNLOADED', 'DOWNLOAD_IN_PROGRESS', 'DOWNLOADED', 'DOWNLOAD_ERROR', 'ABANDONED', 'UNKNOWN'] as const
export type JobState = (typeof JOB_STATES)[number]
export const FINISHED_STATES: ReadonlySet<JobState> = new Set(['DOWNLOADED', 'DOWNLOAD_ERROR', 'ABANDONED'])

export const JobResult = Type.Object({
  installPath: Type.Optional(Type.String({ description: 'The install file or directory, relative to the store' })),
  checksum: Type.Optional(Type.String({ description: 'The content\'s checksum as CloudStack writes it, {ALGORITHM}hex' })),
  format: Type.Optional(Type.String()),
  size: Type.Optional(Type.Integer({ description: 'Physical bytes installed' })),
  virtualSize: Type.Optional(Type.Integer()),
  resumes: Type.Optional(Type.Integer({ description: 'Times the transfer continued from where it stopped (dropped connections, restarts)' })),
  refetchedBytes: Type.Optional(Type.Integer({ description: 'Bytes fetched again because a server could not continue a transfer' })),
  removed: Type.Optional(Type.Array(Type.String())),
}, { additionalProperties: false })
export type JobResult = Static<typeof JobResult>

export const Job = Type.Object({
  id: Type.String(),
  kind: Type.String(),
  state: Type.Union([Type.Literal('NOT_DOWNLOADED'), Type.Literal('DOWNLOAD_IN_PROGRESS'), Type.Literal('DOWNLOADED'), Type.Literal('DOWNLOAD_ERROR'), Type.Literal('ABANDONED'), Type.Literal('UNKNOWN')]),
  request: Type.Unknown({ description: 'The request, with any password in a URL masked' }),
  createdAt: Type.String(),
  startedAt: Type.Union([Type.String(), Type.Null()]),
  finishedAt: Type.Union([Type.String(), Type.Null()]),
  bytes: Type.Integer({ description: 'Bytes done (downloaded, copied, read)' }),
  total: Type.Union([Type.Integer(), Type.Null()], { description: 'Bytes to do, when known' }),
  ratePerSecond: Type.Number({ description: 'Bytes per second over the last seconds' }),
  percent: Type.Union([Type.Number(), Type.Null()]),
  error: Type.Union([Type.Object({ code: Type.String(), message: Type.String() }), Type.Null()]),
  result: Type.Union([JobResult, Type.Null()]),
})
export type Job = Static<typeof Job>
