import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify'
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import swagger from '@fastify/swagger'
import type { TSchema } from 'typebox'
import Type from 'typebox'
import { ApplianceError } from '../../core/errors.ts'
import type { Logger } from '../../core/log.ts'
import type { Metrics } from '../../core/metrics.ts'
import { COLLECTION_NAMES, COLLECTIONS, RouterConfig, type CollectionName } from '../model/config.ts'
import { findItem } from '../model/items.ts'
import { schemaDiagnostics } from '../../core/schema.ts'
import type { Engine } from '../reconcile/engine.ts'
import type { GuestServices } from '../services/index.ts'
import { bearerAuth } from '../../core/http/auth.ts'
import { errorHandler } from '../../core/http/error-handler.ts'
import { parseStrictJson } from '../../core/http/strict-json.ts'

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
  /** Whole-request deadline (headers and body), ms (default 30 s). */
  requestTimeoutMs?: number
  /** Serve HTTPS with this certificate and key (PEM). */
  tls?: { cert: Buffer; key: Buffer }
}

const OPEN_ROUTES = new Set(['/healthz', '/readyz'])
const DEFAULT_REQUEST_TIMEOUT_MS = 30_000

/**
 * The HTTP(S) server under fastify. A client (even one holding the token) that trickles its
 * headers or body is cut off once the whole request has taken `requestTimeout`; node checks
 * that every `connectionsCheckingInterval`, whose default of 30 s would double the deadline.
 */
function createServer(tls: AppDeps['tls'], requestTimeout: number, handler: (req: IncomingMessage, res: ServerResponse) => void): Server {
  const options = {
    requestTimeout, headersTimeout: Math.min(requestTimeout, 10_000),
    connectionsCheckingInterval: Math.max(250, Math.min(1000, requestTimeout / 4)), keepAliveTimeout: 5000,
  }
  return tls === undefined ? createHttpServer(options, handler) : createHttpsServer({ ...options, cert: tls.cert, key: tls.key }, handler)
}

const ErrorBody = Type.Object({ error: Type.Object({ code: Type.String(), message: Type.String() }, { additionalProperties: true }) })
const EditResponse = Type.Object({
  generation: Type.Integer(),
  applied: Type.Boolean(),
  diagnostics: Type.Array(Type.Object({ severity: Type.String(), path: Type.String(), code: Type.String(), message: Type.String() })),
  report: Type.Object({}, { additionalProperties: true }),
})
const IfMatch = Type.Object({ 'if-match': Type.Optional(Type.String({ pattern: '^(W/)?"?[0-9]+"?$' })) })
const errors = { 400: ErrorBody, 401: ErrorBody, 404: ErrorBody, 412: ErrorBody, 422: ErrorBody, 429: ErrorBody }

function ifMatch(headers: Record<string, unknown>): number | undefined {
  const raw = headers['if-match']
  return typeof raw === 'string' ? Number(raw.replace(/\D/g, '')) : undefined
}

/** Builds the fastify instance; the caller listens (or tests use inject()). */
export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const requestTimeout = deps.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS
  const app = Fastify({
    loggerInstance: deps.log.child({ component: 'api' }) as FastifyBaseLogger,
    bodyLimit: deps.bodyLimit ?? 32 * 1024 * 1024,
    serverFactory: (handler) => createServer(deps.tls, requestTimeout, handler),
  })
  // Duplicate keys are refused, not resolved by "last one wins" (see strict-json.ts).
  app.removeContentTypeParser('application/json')
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => {
    try {
      done(null, parseStrictJson(body as string))
    } catch (err) {
      done(err as Error, undefined)
    }
  })
  // Bodies are validated by the engine (schema and semantics together, every problem listed);
  // params, query strings and headers by their TypeBox schema here.
  app.setValidatorCompiler(({ schema, httpPart }) => {
    if (httpPart === 'body') return () => true
    return (data: unknown) => {
      const problems = schemaDiagnostics(schema as TSchema, data)
      if (problems.length === 0) return { value: data }
      const error = Object.assign(new Error(problems.map((p) => `${p.path} ${p.message}`).join('; ')), {
        validation: problems.map((p) => ({ instancePath: p.path, message: p.message })),
      })
      return { error }
    }
  })
  app.setErrorHandler(errorHandler)
  app.setNotFoundHandler((req) => { throw new ApplianceError('ERR_NOT_FOUND', `no route ${req.method} ${req.url}`) })
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: { title: 'systemvm routerd control API', version: '1' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
  })
  app.addHook('onRequest', bearerAuth(deps.token, OPEN_ROUTES))
  const { engine } = deps

  app.get('/healthz', { schema: { security: [] } }, async () => ({ ok: true }))
  // Readiness (the desired generation is in the kernel) apart from liveness: 503 until then.
  app.get('/readyz', { schema: { security: [] } }, async (_req, reply) => {
    const readiness = engine.readiness()
    return reply.code(readiness.ready ? 200 : 503).send(readiness)
  })
  app.get('/metrics', async (req, reply) => {
    await engine.publishKernelCounters().catch((err: unknown) => req.log.warn({ err }, 'cannot read kernel counters'))
    return reply.type('text/plain; version=0.0.4').send(deps.metrics.render())
  })
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger())
  app.get('/v1/status', async () => engine.status())
  app.get('/v1/diff', async () => ({ differences: await engine.diff() }))
  app.post('/v1/resync', async () => ({ problems: await engine.checkDrift() }))
  app.get('/v1/dhcp/leases', async () => ({ leases: deps.services?.dhcp.leases() ?? [] }))

  app.get('/v1/config', async (_req, reply) => {
    const { generation, config } = engine.getConfig()
    return reply.header('etag', `"${generation}"`).send({ generation, config })
  })
  app.put('/v1/config', { schema: { body: RouterConfig, headers: IfMatch, response: { 200: EditResponse, ...errors } } }, async (req) => {
    const r = await engine.replaceConfig(req.body, ifMatch(req.headers))
    return { generation: r.generation, applied: true, diagnostics: r.warnings, report: r.report }
  })

  for (const collection of COLLECTION_NAMES) registerCollection(app, engine, collection)
  return app
}

function registerCollection(app: FastifyInstance, engine: Engine, collection: CollectionName): void {
  const schema = COLLECTIONS[collection]
  const params = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) })
  const base = `/v1/config/${collection}`
  app.get(base, async () => {
    const { generation, config } = engine.getConfig()
    return { generation, items: config[collection] }
  })
  app.get(`${base}/:id`, { schema: { params } }, async (req) => {
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
