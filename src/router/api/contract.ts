import Type, { type Static } from 'typebox'
import { Diagnostic } from '../../core/http/contract.ts'

/**
 * What routerd's API answers, as TypeBox schemas: the one source of the response types, of the
 * OpenAPI document's response bodies and of fastify's serializers. svmctl imports only this
 * file (and core), so the CLI and the daemon cannot disagree on a shape.
 */

export { Diagnostic, ErrorResponse } from '../../core/http/contract.ts'

export const ApplyReport = Type.Object({
  kind: Type.Union([Type.Literal('full'), Type.Literal('partial'), Type.Literal('none')], { description: 'full: whole tables replaced; partial: changed chains only (--noflush); none: nothing to write' }),
  chainsWritten: Type.Integer(),
  rulesWritten: Type.Integer(),
  ipsetsChanged: Type.Integer({ description: 'ipset restore lines run (members added or removed, sets created or swapped)' }),
  netOps: Type.Integer({ description: 'ip -batch lines run (links, addresses, routes, rules)' }),
  durationsMs: Type.Object({ ipset: Type.Number(), iptables: Type.Number(), net: Type.Number() }, {
    description: 'Wall time per kernel stage; the ipset edits run alongside iptables-restore and are counted under iptables',
  }),
})
export type ApplyReport = Static<typeof ApplyReport>

export const EditResponse = Type.Object({
  generation: Type.Integer({ description: 'The generation now in force' }),
  applied: Type.Boolean(),
  diagnostics: Type.Array(Diagnostic, { description: 'Warnings (an accepted edit has no errors)' }),
  report: ApplyReport,
})

export const KernelError = Type.Object({
  code: Type.String(),
  message: Type.String(),
  line: Type.Optional(Type.Union([Type.Integer(), Type.Null()])),
  at: Type.String({ description: 'ISO 8601' }),
})
export type KernelError = Static<typeof KernelError>

export const SubsystemStatus = Type.Object({
  appliedGeneration: Type.Integer(),
  lastError: Type.Union([KernelError, Type.Null()]),
  lastDurationMs: Type.Union([Type.Number(), Type.Null()]),
})
export type SubsystemStatus = Static<typeof SubsystemStatus>

export const StoreProblem = Type.Object({
  code: Type.String(),
  message: Type.String(),
  file: Type.Optional(Type.String()),
  line: Type.Optional(Type.Integer()),
  generation: Type.Optional(Type.Integer()),
})
export type StoreProblem = Static<typeof StoreProblem>

export const EngineStatus = Type.Object({
  /** Optional in the type only: svmctl may read the status of an older daemon. */
  ready: Type.Optional(Type.Boolean({ description: 'The desired generation is in the kernel (as /readyz)' })),
  desiredGeneration: Type.Integer(),
  appliedGeneration: Type.Integer(),
  lastError: Type.Union([KernelError, Type.Null()]),
  lastApply: Type.Union([Type.Object({ ...ApplyReport.properties, at: Type.String() }), Type.Null()]),
  subsystems: Type.Record(Type.String(), SubsystemStatus, { description: 'Per kernel stage (ipset, iptables, net)' }),
  drift: Type.Object({ checks: Type.Integer(), repairs: Type.Integer(), lastProblems: Type.Array(Type.String()) }),
  /** Optional in the type only: svmctl may read the status of an older daemon. */
  store: Type.Optional(Type.Object({ problems: Type.Array(StoreProblem, { description: 'What was wrong with the stored files or state at start' }) })),
})
export type EngineStatus = Static<typeof EngineStatus>

export const Readiness = Type.Object({ ready: Type.Boolean(), desiredGeneration: Type.Integer(), appliedGeneration: Type.Integer() })
export const DiffResponse = Type.Object({ differences: Type.Array(Type.String()) })
export const ResyncResponse = Type.Object({ problems: Type.Array(Type.String(), { description: 'What differed before the repair (empty: in sync)' }) })

export const DhcpLease = Type.Object({
  network: Type.String(),
  mac: Type.String(),
  ip: Type.String(),
  expiresAt: Type.Union([Type.String({ description: 'ISO 8601' }), Type.Null()], { description: 'null: an infinite lease' }),
  bound: Type.Boolean({ description: 'false: offered, not yet requested' }),
})
export type DhcpLease = Static<typeof DhcpLease>
export const LeasesResponse = Type.Object({ leases: Type.Array(DhcpLease) })

export const UserDataStored = Type.Object({
  sha256: Type.String(),
  size: Type.Integer({ description: 'Bytes stored' }),
})

export const UserDataList = Type.Object({
  blobs: Type.Array(Type.Object({
    sha256: Type.String(),
    size: Type.Integer(),
    references: Type.Integer({ description: 'vmData items of the config in force naming it' }),
  })),
})

export const PasswordState = Type.Object({
  pending: Type.Boolean({ description: 'A password waits for the VM (it is never shown)' }),
})

export const LbCheckResult = Type.Object({
  ok: Type.Boolean(),
  detail: Type.String({ description: 'e.g. "connect refused", "timeout after 2000 ms", "status 503"' }),
  at: Type.String({ description: 'ISO 8601' }),
  durationMs: Type.Number(),
})

export const LbBackendState = Type.Object({
  ip: Type.String(),
  port: Type.Integer({ description: 'Its first private port' }),
  weight: Type.Integer({ description: 'Configured; 0: drained' }),
  steeredWeight: Type.Optional(Type.Integer({ description: 'leastconn: the weight new connections are spread by now' })),
  state: Type.Union([Type.Literal('up'), Type.Literal('down'), Type.Literal('unchecked')], { description: 'unchecked: the load balancer has no health check' }),
  since: Type.Union([Type.String({ description: 'ISO 8601' }), Type.Null()]),
  lastResult: Type.Union([LbCheckResult, Type.Null()]),
  consecutivePasses: Type.Integer(),
  consecutiveFailures: Type.Integer(),
  connections: Type.Optional(Type.Integer({ description: 'leastconn: connections counted at the last poll' })),
  haproxy: Type.Optional(Type.Object({
    status: Type.String({ description: 'HAProxy\'s own view: UP, DOWN, MAINT (held down by routerd or drained), no check, …' }),
    sessions: Type.Integer({ description: 'Connections open to the backend now' }),
    totalSessions: Type.Integer({ description: 'Connections since HAProxy (re)loaded' }),
    check: Type.String({ description: 'HAProxy\'s last check result (L4OK, L7OK, L4CON, L7STS, …; empty without checks)' }),
  }, { description: 'Modes http and tls: what HAProxy reports for this server' })),
})

export const LbState = Type.Object({
  id: Type.String(),
  mode: Type.String(),
  publicIp: Type.String(),
  protocol: Type.String(),
  ports: Type.String({ description: 'e.g. "80" or "8000-8010"' }),
  backends: Type.Array(LbBackendState),
})

export const HaproxyState = Type.Object({
  running: Type.Boolean({ description: 'Whether HAProxy runs (only while a load balancer of mode http or tls exists)' }),
  generation: Type.Union([Type.Integer(), Type.Null()], { description: 'The config generation HAProxy serves' }),
  lastError: Type.Union([Type.Object({ code: Type.String(), message: Type.String(), at: Type.String() }), Type.Null()]),
})

export const LbStatusResponse = Type.Object({ loadBalancers: Type.Array(LbState), haproxy: HaproxyState })

/** The collections addressable by id (`/v1/config/<collection>/<id>`). */
export { COLLECTION_NAMES, type CollectionName } from '../model/config.ts'
