import type { FastifyInstance } from 'fastify'
import Type from 'typebox'
import { ApplianceError } from '../../core/errors.ts'
import { buildBaseApp } from '../../core/http/base-app.ts'
import { IfMatch, ifMatch } from '../../core/http/contract.ts'
import type { Logger } from '../../core/log.ts'
import type { Metrics } from '../../core/metrics.ts'
import { listInstalls } from '../install/listing.ts'
import type { JobRunner } from '../jobs/runner.ts'
import type { StoresController } from '../stores/controller.ts'
import { registerUploadRoutes, type UploadRoutesDeps } from './uploads.ts'
import { ConfigResponse, EditResponse, ErrorResponse, InstallList, Job, JobList, JobRequest, StorageConfig, StorageStatus, Store } from './contract.ts'

/**
 * storaged's control API: the stores (declarative, as routerd's config), the jobs (imperative,
 * answered 202 and followed by id), the listings read from the stores, and the status.
 */

export interface StorageAppDeps {
  controller: StoresController
  jobs: JobRunner
  status: () => Promise<StorageStatus>
  storeRoot: (id: string) => string | undefined
  ready: () => boolean
  token: string
  log: Logger
  metrics: Metrics
  requestTimeoutMs?: number
  tls?: { cert: Buffer; key: Buffer }
  /** The public upload listener's control routes, when it is configured. */
  uploads?: UploadRoutesDeps
}

const errors = { 400: ErrorResponse, 401: ErrorResponse, 404: ErrorResponse, 409: ErrorResponse, 412: ErrorResponse, 422: ErrorResponse, 429: ErrorResponse }
const IdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) })

export async function buildStorageApp(deps: StorageAppDeps): Promise<FastifyInstance> {
  const { controller, jobs } = deps
  const app = await buildBaseApp({
    daemon: 'storaged', token: deps.token, log: deps.log, metrics: deps.metrics,
    readiness: () => ({ ready: deps.ready(), generation: controller.config().generation }),
    ...(deps.requestTimeoutMs === undefined ? {} : { requestTimeoutMs: deps.requestTimeoutMs }),
    ...(deps.tls === undefined ? {} : { tls: deps.tls }),
  })

  app.get('/v1/status', { schema: { response: { 200: StorageStatus, 401: ErrorResponse } } }, async () => deps.status())

  app.get('/v1/config', { schema: { response: { 200: ConfigResponse, 401: ErrorResponse } } }, async (_req, reply) => {
    const { generation, config } = controller.config()
    return reply.header('etag', `"${generation}"`).send({ generation, config })
  })
  app.put('/v1/config', { schema: { body: StorageConfig, headers: IfMatch, response: { 200: EditResponse, ...errors } } }, async (req) =>
    controller.replaceConfig(req.body, ifMatch(req.headers)))
  app.get('/v1/config/stores', { schema: { response: { 200: Type.Object({ generation: Type.Integer(), items: Type.Array(Store) }), 401: ErrorResponse } } }, async () => {
    const { generation, config } = controller.config()
    return { generation, items: config.stores }
  })
  app.get('/v1/config/stores/:id', { schema: { params: IdParams, response: { 200: Store, 401: ErrorResponse, 404: ErrorResponse } } }, async (req) => {
    const { id } = req.params as { id: string }
    const store = controller.findStore(id)
    if (store === undefined) throw new ApplianceError('ERR_NOT_FOUND', `stores/${id} not found`)
    return store
  })
  app.put('/v1/config/stores/:id', { schema: { params: IdParams, body: Store, headers: IfMatch, response: { 200: EditResponse, ...errors } } }, async (req) =>
    controller.putStore((req.params as { id: string }).id, req.body, ifMatch(req.headers)))
  app.delete('/v1/config/stores/:id', { schema: { params: IdParams, headers: IfMatch, response: { 200: EditResponse, ...errors } } }, async (req) =>
    controller.deleteStore((req.params as { id: string }).id, ifMatch(req.headers)))

  app.post('/v1/jobs', { schema: { body: JobRequest, response: { 202: Job, ...errors } } }, async (req, reply) => reply.code(202).send(jobs.submit(req.body)))
  app.get('/v1/jobs', { schema: { response: { 200: JobList, 401: ErrorResponse } } }, async () => ({ jobs: jobs.list() }))
  app.get('/v1/jobs/:id', { schema: { params: IdParams, response: { 200: Job, 401: ErrorResponse, 404: ErrorResponse } } }, async (req) => jobs.get((req.params as { id: string }).id))
  app.delete('/v1/jobs/:id', { schema: { params: IdParams, response: { 200: Job, 401: ErrorResponse, 404: ErrorResponse } } }, async (req) => jobs.cancel((req.params as { id: string }).id))

  for (const kind of ['template', 'volume'] as const) {
    app.get(`/v1/stores/:id/${kind}s`, { schema: { params: IdParams, response: { 200: InstallList, 401: ErrorResponse, 404: ErrorResponse, 409: ErrorResponse } } }, async (req) => {
      const { id } = req.params as { id: string }
      if (controller.findStore(id) === undefined) throw new ApplianceError('ERR_NOT_FOUND', `store ${id} not found`)
      const root = deps.storeRoot(id)
      if (root === undefined) throw new ApplianceError('ERR_STORE_NOT_ATTACHED', `store ${id} is not attached`)
      const listing = await listInstalls(root, kind)
      return {
        installs: listing.installs.map(({ accountId, installPath, record: r }) => ({
          accountId, id: r.id, installPath, uniqueName: r.uniqueName, description: r.description, format: r.format,
          size: r.size, virtualSize: r.virtualSize, hvm: r.hvm, public: r.public,
        })),
        notListed: listing.notListed,
      }
    })
  }
  if (deps.uploads !== undefined) registerUploadRoutes(app, deps.uploads)
  return app
}
