import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify'
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import swagger from '@fastify/swagger'
import type { TSchema } from 'typebox'
import { ApplianceError } from '../errors.ts'
import type { Logger } from '../log.ts'
import type { Metrics } from '../metrics.ts'
import { schemaDiagnostics } from '../schema.ts'
import { bearerAuth } from './auth.ts'
import { errorHandler } from './error-handler.ts'
import { parseStrictJson } from './strict-json.ts'

/**
 * What every daemon's control API has, whatever it controls: strict JSON bodies, TypeBox
 * validation of params, query strings and headers, one error shape, the bearer token, an
 * OpenAPI document, `/healthz` (liveness), `/readyz` (readiness), `/metrics` and
 * `/openapi.json`. The daemon adds its routes to the instance this returns.
 */

export interface BaseAppOptions {
  /** The daemon's name, as in the OpenAPI title. */
  daemon: string
  token: string
  log: Logger
  metrics: Metrics
  /** Whether the daemon's desired state is in force: 200 or 503 on /readyz, with this body. */
  readiness: () => { ready: boolean } & Record<string, unknown>
  /** Run before each /metrics scrape (e.g. reading counters that live in the kernel); failures are logged. */
  beforeScrape?: () => Promise<void>
  bodyLimit?: number
  /** Whole-request deadline (headers and body), ms (default 30 s). */
  requestTimeoutMs?: number
  /** Serve HTTPS with this certificate and key (PEM). */
  tls?: { cert: Buffer; key: Buffer }
}

const OPEN_ROUTES = new Set(['/healthz', '/readyz'])
const DEFAULT_REQUEST_TIMEOUT_MS = 30_000
const DEFAULT_BODY_LIMIT = 32 * 1024 * 1024

/**
 * The HTTP(S) server under fastify. A client (even one holding the token) that trickles its
 * headers or body is cut off once the whole request has taken `requestTimeout`; node checks
 * that every `connectionsCheckingInterval`, whose default of 30 s would double the deadline.
 */
function createServer(tls: BaseAppOptions['tls'], requestTimeout: number, handler: (req: IncomingMessage, res: ServerResponse) => void): Server {
  const options = {
    requestTimeout, headersTimeout: Math.min(requestTimeout, 10_000),
    connectionsCheckingInterval: Math.max(250, Math.min(1000, requestTimeout / 4)), keepAliveTimeout: 5000,
  }
  return tls === undefined ? createHttpServer(options, handler) : createHttpsServer({ ...options, cert: tls.cert, key: tls.key }, handler)
}

/** Builds the fastify instance with the shared routes; the caller adds its own, then listens (or tests use inject()). */
export async function buildBaseApp(opts: BaseAppOptions): Promise<FastifyInstance> {
  const requestTimeout = opts.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS
  const app = Fastify({
    loggerInstance: opts.log.child({ component: 'api' }) as FastifyBaseLogger,
    bodyLimit: opts.bodyLimit ?? DEFAULT_BODY_LIMIT,
    serverFactory: (handler) => createServer(opts.tls, requestTimeout, handler),
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
  // Bodies are validated by the daemon (schema and semantics together, every problem listed);
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
      info: { title: `systemvm ${opts.daemon} control API`, version: '1' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
  })
  app.addHook('onRequest', bearerAuth(opts.token, OPEN_ROUTES))

  app.get('/healthz', { schema: { security: [] } }, async () => ({ ok: true }))
  app.get('/readyz', { schema: { security: [] } }, async (_req, reply) => {
    const readiness = opts.readiness()
    return reply.code(readiness.ready ? 200 : 503).send(readiness)
  })
  app.get('/metrics', async (req, reply) => {
    await opts.beforeScrape?.().catch((err: unknown) => req.log.warn({ err }, 'cannot read counters before the scrape'))
    return reply.type('text/plain; version=0.0.4').send(opts.metrics.render())
  })
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger())
  return app
}
