import { readFileSync } from 'node:fs'
import Type, { type Static } from 'typebox'
import { InvalidConfigError } from '../core/errors.ts'
import { schemaDiagnostics } from './model/parse.ts'

/** routerd's own settings (where to listen, where state lives), distinct from the router config it enforces. */
export const DaemonConfig = Type.Object(
  {
    listen: Type.Union([
      Type.Object({ host: Type.String({ minLength: 1 }), port: Type.Integer({ minimum: 1, maximum: 65535 }) }, { additionalProperties: false }),
      Type.Object({ path: Type.String({ minLength: 1 }) }, { additionalProperties: false }),
    ]),
    tokenFile: Type.String({ minLength: 1 }),
    stateDir: Type.String({ minLength: 1 }),
    driftCheckSeconds: Type.Optional(Type.Integer({ minimum: 0, maximum: 86400 })),
    logLevel: Type.Optional(Type.Union(['fatal', 'error', 'warn', 'info', 'debug', 'trace'].map((l) => Type.Literal(l)))),
    /** Manage this network namespace instead of our own (the lab runs the daemon beside the router). */
    netns: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_.-]{1,64}$' })),
    /** The API serves HTTPS with this PEM certificate and key (files readable by routerd only). */
    tls: Type.Optional(Type.Object({ certFile: Type.String({ minLength: 1 }), keyFile: Type.String({ minLength: 1 }) }, { additionalProperties: false })),
    /** A request (headers and body) must arrive whole within this time, or the connection is closed (default 30). */
    requestTimeoutSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 600 })),
    /** Extra TCP ports opened on the control interface besides the API's own (e.g. 3922 for SSH). */
    controlPorts: Type.Optional(Type.Array(Type.Integer({ minimum: 1, maximum: 65535 }))),
  },
  { additionalProperties: false },
)
export type DaemonConfig = Static<typeof DaemonConfig>

export function loadDaemonConfig(path: string): DaemonConfig {
  const value: unknown = JSON.parse(readFileSync(path, 'utf8'))
  const problems = schemaDiagnostics(DaemonConfig, value)
  if (problems.length > 0) throw new InvalidConfigError(problems)
  return value as DaemonConfig
}
