import type { FastifyInstance } from 'fastify'
import Type from 'typebox'
import { ApplianceError } from '../../core/errors.ts'
import { buildBaseApp } from '../../core/http/base-app.ts'
import { IfMatch, ifMatch } from '../../core/http/contract.ts'
import type { Logger } from '../../core/log.ts'
import type { Metrics } from '../../core/metrics.ts'
import { COLLECTION_NAMES, COLLECTIONS, RouterConfig, RouterConfigInput, type CollectionName } from '../model/config.ts'
import { roleAllows, type RoleName } from '../model/roles.ts'
import { findItem } from '../model/items.ts'
import type { Engine } from '../reconcile/engine.ts'
import type { GuestServices } from '../services/index.ts'
import { DiffResponse, EditResponse, EngineStatus, ErrorResponse, ResyncResponse } from './contract.ts'

/**
 * The control API. It validates, hands edits to the engine (which applies, persists and only
 * then answers) and reads status; it never touches the kernel itself.
 */

export interface AppDeps {
  engine: Engine
  metrics: Metrics
  token: string
  log: Logger
  bodyLimit?: number
  /** The in-process guest services (absent where the engine runs without them, e.g. in-process tests). */
  services?: GuestServices
  /** Only its collections get routes (default router: all). */
  role?: RoleName
  /** Whole-request deadline (headers and body), ms (default 30 s). */
  requestTimeoutMs?: number
  /** Serve HTTPS with this certificate and key (PEM). */
  tls?: { cert: Buffer; key: Buffer }
}

const errors = { 400: ErrorResponse, 401: ErrorResponse, 404: ErrorResponse, 412: ErrorResponse, 422: ErrorResponse, 429: ErrorResponse }
const ConfigResponse = Type.Object({ generation: Type.Integer(), config: RouterConfig })

/** Builds routerd's API: the shared base (core/http/base-app.ts) and the router's routes. */
export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const { engine } = deps
  const app = await buildBaseApp({
    daemon: 'routerd', token: deps.token, log: deps.log, metrics: deps.metrics,
    readiness: () => engine.readiness(),
    // Counters that live in the kernel (source validation drops) are read at each scrape.
    beforeScrape: () => engine.publishKernelCounters(),
    ...(deps.bodyLimit === undefined ? {} : { bodyLimit: deps.bodyLimit }),
    ...(deps.requestTimeoutMs === undefined ? {} : { requestTimeoutMs: deps.requestTimeoutMs }),
    ...(deps.tls === undefined ? {} : { tls: deps.tls }),
  })
  app.get('/v1/status', { schema: { response: { 200: EngineStatus, 401: ErrorResponse } } }, async () => engine.status())
  app.get('/v1/diff', { schema: { response: { 200: DiffResponse, 401: ErrorResponse } } }, async () => ({ differences: await engine.diff() }))
  app.post('/v1/resync', { schema: { response: { 200: ResyncResponse, 401: ErrorResponse } } }, async () => ({ problems: await engine.checkDrift() }))
  deps.services?.routes(app)

  app.get('/v1/config', { schema: { response: { 200: ConfigResponse, 401: ErrorResponse } } }, async (_req, reply) => {
    const { generation, config } = engine.getConfig()
    return reply.header('etag', `"${generation}"`).send({ generation, config })
  })
  app.put('/v1/config', { schema: { body: RouterConfigInput, headers: IfMatch, response: { 200: EditResponse, ...errors } } }, async (req) => {
    const r = await engine.replaceConfig(req.body, ifMatch(req.headers))
    return { generation: r.generation, applied: true, diagnostics: r.warnings, report: r.report }
  })

  for (const collection of COLLECTION_NAMES) if (roleAllows(deps.role ?? 'router', collection)) registerCollection(app, engine, collection)
  return app
}

function registerCollection(app: FastifyInstance, engine: Engine, collection: CollectionName): void {
  const schema = COLLECTIONS[collection]
  const params = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) })
  const base = `/v1/config/${collection}`
  app.get(base, { schema: { response: { 200: Type.Object({ generation: Type.Integer(), items: Type.Array(schema) }), 401: ErrorResponse } } }, async () => {
    const { generation, config } = engine.getConfig()
    return { generation, items: config[collection] }
  })
  app.get(`${base}/:id`, { schema: { params, response: { 200: schema, 401: ErrorResponse, 404: ErrorResponse } } }, async (req) => {
    const { id } = req.params as { id: string }
    const item = findItem(engine.getConfig().config, collection, id)
    if (item === undefined) throw new ApplianceError('ERR_NOT_FOUND', `${collection}/${id} not found`)
    return item
  })
  app.put(`${base}/:id`, { schema: { params, body: schema, headers: IfMatch, response: { 200: EditResponse, ...errors } } }, async (req) => {
    const { id } = req.params as { id: string }
    const r = await engine.editItem(collection, id, req.body, ifMatch(req.headers))
    return { generation: r.generation, applied: true, diagnostics: r.warnings.filter((w) => w.severity === 'warning'), report: r.report }
  })
  app.delete(`${base}/:id`, { schema: { params, headers: IfMatch, response: { 200: EditResponse, ...errors } } }, async (req) => {
    const { id } = req.params as { id: string }
    const r = await engine.deleteItem(collection, id, ifMatch(req.headers))
    return { generation: r.generation, applied: true, diagnostics: r.warnings.filter((w) => w.severity === 'warning'), report: r.report }
  })
}
