import { readFileSync } from 'node:fs'
import Type, { type Static, type TObject, type TProperties } from 'typebox'
import { InvalidConfigError } from './errors.ts'
import { schemaDiagnostics } from './schema.ts'

/**
 * The settings every daemon has (where its API listens, its token, where its state lives),
 * distinct from the desired state it enforces. Each daemon adds its own fields with
 * `daemonConfigSchema`.
 */
export const BASE_DAEMON_FIELDS = {
  listen: Type.Union([
    Type.Object({ host: Type.String({ minLength: 1 }), port: Type.Integer({ minimum: 1, maximum: 65535 }) }, { additionalProperties: false }),
    Type.Object({ path: Type.String({ minLength: 1 }) }, { additionalProperties: false }),
  ]),
  tokenFile: Type.String({ minLength: 1 }),
  stateDir: Type.String({ minLength: 1 }),
  logLevel: Type.Optional(Type.Union(['fatal', 'error', 'warn', 'info', 'debug', 'trace'].map((l) => Type.Literal(l)))),
  /** The API serves HTTPS with this PEM certificate and key (files readable by the daemon only). */
  tls: Type.Optional(Type.Object({ certFile: Type.String({ minLength: 1 }), keyFile: Type.String({ minLength: 1 }) }, { additionalProperties: false })),
  /** A request (headers and body) must arrive whole within this time, or the connection is closed (default 30). */
  requestTimeoutSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 600 })),
}

/** A daemon's config schema: the base fields and its own. */
export function daemonConfigSchema<P extends TProperties>(own: P): TObject<typeof BASE_DAEMON_FIELDS & P> {
  return Type.Object({ ...BASE_DAEMON_FIELDS, ...own }, { additionalProperties: false })
}

/** Reads and validates a daemon config file; every problem is listed (path + reason). */
export function loadDaemonConfig<S extends TObject>(schema: S, path: string): Static<S> {
  const value: unknown = JSON.parse(readFileSync(path, 'utf8'))
  const problems = schemaDiagnostics(schema, value)
  if (problems.length > 0) throw new InvalidConfigError(problems)
  return value as Static<S>
}
