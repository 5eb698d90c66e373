import Type, { type Static } from 'typebox'
import { daemonConfigSchema, loadDaemonConfig } from '../core/daemon-config.ts'

/** storaged's own settings: the base every daemon has, and the secondary storage's. */
export const StoragedConfig = daemonConfigSchema({
  /** Where nfs stores are mounted (default /mnt/SecStorage, as CloudStack's SSVM mounts them). */
  mountRoot: Type.Optional(Type.String({ pattern: '^/', minLength: 2 })),
  /** Jobs running at once; the rest wait in order (default 4). */
  maxConcurrentJobs: Type.Optional(Type.Integer({ minimum: 1, maximum: 64 })),
  /** Finished jobs kept for GET /v1/jobs (oldest forgotten first; default 1,000). */
  keepFinishedJobs: Type.Optional(Type.Integer({ minimum: 10, maximum: 100_000 })),
  /** Seconds between store health checks (probe file, free space, stale handles; default 30, 0 = only on demand). */
  healthCheckSeconds: Type.Optional(Type.Integer({ minimum: 0, maximum: 3600 })),
  /** The checks ssvm-check.sh makes, reported in /v1/status. */
  checks: Type.Optional(Type.Object({
    /** A name that must resolve (DNS works). */
    dnsName: Type.Optional(Type.String({ minLength: 1, maxLength: 253 })),
    /** The management server, which must accept a TCP connection. */
    managementAddress: Type.Optional(Type.Object({ host: Type.String({ minLength: 1 }), port: Type.Integer({ minimum: 1, maximum: 65535 }) }, { additionalProperties: false })),
  }, { additionalProperties: false })),
  /** Downloads: defaults a job may lower but not raise, and the HTTP proxy. */
  download: Type.Optional(Type.Object({
    proxy: Type.Optional(Type.String({ pattern: '^http://' })),
    maxBytes: Type.Optional(Type.Integer({ minimum: 1 })),
    connectTimeoutSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 600 })),
    idleTimeoutSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 3600 })),
    /** Failed attempts in a row without a byte of progress before a download fails (default 5). */
    retries: Type.Optional(Type.Integer({ minimum: 0, maximum: 100 })),
    /** First wait before a retry, doubled per failure in a row (default 1). */
    retryDelaySeconds: Type.Optional(Type.Number({ minimum: 0.01, maximum: 60 })),
  }, { additionalProperties: false })),
  /** The public upload and extract listener (POST /upload/<uuid>, GET /userdata/<name>); absent: none. */
  uploads: Type.Optional(Type.Object({
    listen: Type.Object({ host: Type.String({ minLength: 1 }), port: Type.Integer({ minimum: 1, maximum: 65535 }) }, { additionalProperties: false }),
    corsOrigins: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { maxItems: 32, description: 'Origins a browser may upload from (default any, as CloudStack)' })),
    maxConcurrentUploads: Type.Optional(Type.Integer({ minimum: 1, maximum: 64 })),
    maxUploadBytes: Type.Optional(Type.Integer({ minimum: 1 })),
    maxConnections: Type.Optional(Type.Integer({ minimum: 1, maximum: 65536, description: 'Open sockets (default 256)' })),
    maxConnectionsPerClient: Type.Optional(Type.Integer({ minimum: 1, maximum: 65536, description: 'Open sockets from one client address (default 16)' })),
  }, { additionalProperties: false })),
})
export type StoragedConfig = Static<typeof StoragedConfig>

export function loadStoragedConfig(path: string): StoragedConfig {
  return loadDaemonConfig(StoragedConfig, path)
}
