import type { FastifyInstance } from 'fastify'
import type { IncomingMessage } from 'node:http'
import Type from 'typebox'
import { decodeBase64Chunks } from '../../../core/base64-stream.ts'
import { ApplianceError, NotFoundError } from '../../../core/errors.ts'
import type { BlobStore } from '../../../core/files/blob-store.ts'
import { cidrContains, parseCidr, parseIpv4 } from '../../../core/ipv4.ts'
import { ErrorResponse, PasswordState, UserDataList, UserDataStored } from '../../api/contract.ts'
import type { RouterConfig } from '../../model/config.ts'
import { Id } from '../../model/primitives.ts'
import { userDataReferences } from './catalog.ts'
import type { PasswordStore } from './password-store.ts'

/**
 * The metadata service's control API: user data bytes (kept out of the config document: up to
 * 4,096 VMs × 1 MiB must pass through neither the heap nor the config's body limit) and
 * passwords (write-only: only whether one is pending can be read back).
 *   PUT    /v1/user-data/<sha256>   raw bytes, or base64 text with ?encoding=base64
 *   GET    /v1/user-data            what is stored, and how many vmData items name each
 *   DELETE /v1/user-data/<sha256>   refused while the config in force names it
 *   PUT    /v1/passwords/<network>/<ip>   {password}
 *   GET    /v1/passwords/<network>/<ip>   {pending}
 *   DELETE /v1/passwords/<network>/<ip>
 */

const BlobParams = Type.Object({ sha256: Type.String({ pattern: '^[0-9a-f]{64}$' }) })
const BlobQuery = Type.Object({ encoding: Type.Optional(Type.Literal('base64')) }, { additionalProperties: false })
const PasswordParams = Type.Object({ network: Id, ip: Type.String({ format: 'ipv4' }) })
const MAX_PASSWORD = 512

export interface MetadataRoutesDeps {
  blobs: BlobStore
  passwords: PasswordStore
  /** The config in force (the last the service was given). */
  config: () => RouterConfig | undefined
}

export function metadataRoutes(app: FastifyInstance, deps: MetadataRoutesDeps): void {
  const errors = { 400: ErrorResponse, 401: ErrorResponse, 404: ErrorResponse }
  void app.register(async (scope) => {
    // The body reaches the handler as the request stream: it goes to the blob file as it arrives.
    scope.addContentTypeParser(['application/octet-stream', 'text/plain'], (_req, payload, done) => done(null, payload))
    scope.put('/v1/user-data/:sha256', {
      schema: { params: BlobParams, querystring: BlobQuery, response: { 200: UserDataStored, 201: UserDataStored, 413: ErrorResponse, ...errors } },
    }, async (req, reply) => {
      const { sha256 } = req.params as { sha256: string }
      const body = req.body as IncomingMessage | undefined
      if (body === undefined || typeof (body as Partial<IncomingMessage>).on !== 'function') {
        throw new ApplianceError('ERR_BAD_REQUEST', 'send the bytes as application/octet-stream, or base64 as text/plain with ?encoding=base64')
      }
      const base64 = (req.query as { encoding?: string }).encoding === 'base64'
      const stored = await deps.blobs.put(sha256, base64 ? decodeBase64Chunks(body) : (body as AsyncIterable<Buffer>))
      return reply.code(stored.created ? 201 : 200).send({ sha256, size: stored.size })
    })
  })

  app.get('/v1/user-data', { schema: { response: { 200: UserDataList, 401: ErrorResponse } } }, async () => {
    const refs = userDataReferences(deps.config())
    return { blobs: [...deps.blobs.index()].map(([sha256, size]) => ({ sha256, size, references: refs.get(sha256) ?? 0 })) }
  })

  app.delete('/v1/user-data/:sha256', { schema: { params: BlobParams, response: { 204: Type.Null(), 409: ErrorResponse, ...errors } } }, async (req, reply) => {
    const { sha256 } = req.params as { sha256: string }
    const n = userDataReferences(deps.config()).get(sha256) ?? 0
    if (n > 0) throw new ApplianceError('ERR_IN_USE', `${n} vmData item(s) of the config in force name this user data`)
    if (!deps.blobs.remove(sha256)) throw new NotFoundError(`user-data/${sha256}`)
    return reply.code(204).send()
  })

  const passwordRoute = { schema: { params: PasswordParams, response: { 200: PasswordState, 204: Type.Null(), ...errors } } }
  app.put('/v1/passwords/:network/:ip', passwordRoute, async (req, reply) => {
    const { network, ip } = knownAddress(deps.config(), req.params as { network: string; ip: string })
    const password = (req.body as { password?: unknown } | undefined)?.password
    // Never echoed: the error says what is wrong with it, not what it was.
    if (typeof password !== 'string' || password.length === 0 || password.length > MAX_PASSWORD || /[\r\n\0]/.test(password)) {
      throw new ApplianceError('ERR_BAD_REQUEST', `the body is {"password": a string of 1-${MAX_PASSWORD} characters without line breaks or NUL}`)
    }
    deps.passwords.set(network, ip, password)
    return reply.code(204).send()
  })
  app.get('/v1/passwords/:network/:ip', passwordRoute, async (req) => {
    const { network, ip } = req.params as { network: string; ip: string }
    return { pending: deps.passwords.get(network, ip) !== undefined }
  })
  app.delete('/v1/passwords/:network/:ip', passwordRoute, async (req, reply) => {
    const { network, ip } = req.params as { network: string; ip: string }
    deps.passwords.delete(network, ip)
    return reply.code(204).send()
  })
}

/** The network and address of a password route, when the network serves metadata and holds the address. */
function knownAddress(config: RouterConfig | undefined, params: { network: string; ip: string }): { network: string; ip: string } {
  const net = config?.guestNetworks.find((n) => n.id === params.network)
  if (net === undefined || net.metadata?.enabled === false) throw new NotFoundError(`no guest network "${params.network}" serving passwords`)
  const cidr = parseCidr(net.cidr)
  const ip = parseIpv4(params.ip)
  if (cidr === undefined || ip === undefined || !cidrContains(cidr, ip)) {
    throw new ApplianceError('ERR_BAD_REQUEST', `${params.ip} is not an address of network "${params.network}"`)
  }
  return params
}
