import { createPrivateKey, X509Certificate } from 'node:crypto'
import { existsSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import Type, { type Static } from 'typebox'
import { ApplianceError } from '../../core/errors.ts'
import { writeFileAtomic } from '../../core/files/atomic.ts'
import type { Logger } from '../../core/log.ts'
import type { UploadListener } from '../upload/server.ts'
import { ErrorResponse } from './contract.ts'

/**
 * The control side of the public upload and extract listener: the upload key and the public
 * URLs signatures are checked against, the listener's certificate (HTTPS), and the extracts.
 * The key and the certificate's key are secrets: stored 0600 in the state directory, never
 * answered or logged.
 */

export const UploadKey = Type.Object({
  key: Type.String({ minLength: 16, maxLength: 512, description: 'The HMAC key of upload signatures (CloudStack\'s post-upload key)' }),
  publicBaseUrls: Type.Optional(Type.Array(Type.String({ pattern: '^https?://' }), { maxItems: 16, description: 'The bases of the URLs the orchestrator hands out; signatures are checked against <base>/upload/<uuid>' })),
}, { additionalProperties: false })
export const UploadCertificate = Type.Object({
  certificate: Type.String({ minLength: 1, maxLength: 65536 }),
  key: Type.String({ minLength: 1, maxLength: 65536 }),
}, { additionalProperties: false })
export const ExtractRequest = Type.Object({
  name: Type.String({ minLength: 1, maxLength: 255, description: 'The public file name: /userdata/<name>' }),
  store: Type.String({ minLength: 1, maxLength: 64 }),
  path: Type.String({ minLength: 1, maxLength: 1024, description: 'The stored object, relative to its store' }),
  expiresInSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 30 * 86400 })),
  signed: Type.Optional(Type.Boolean({ description: 'Serve only a signed URL that expires (needs expiresInSeconds and the upload key)' })),
}, { additionalProperties: false })
const ExtractAnswer = Type.Object({ name: Type.String(), url: Type.String({ description: 'Path and query on the public listener' }), expiresAt: Type.Union([Type.String(), Type.Null()]) })
const UploadState = Type.Object({ enabled: Type.Boolean(), publicBaseUrls: Type.Array(Type.String()), tls: Type.Boolean(), port: Type.Integer(), activeUploads: Type.Integer() })

interface SavedKey { key: string; publicBaseUrls: string[] }

export interface UploadRoutesDeps {
  listener: UploadListener
  stateDir: string
  storeRoot: (id: string) => string | undefined
  log: Logger
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$/

function checkCertificate(body: Static<typeof UploadCertificate>): void {
  try {
    const cert = new X509Certificate(body.certificate)
    if (!cert.checkPrivateKey(createPrivateKey(body.key))) throw new Error('the key is not the certificate\'s')
  } catch (err) {
    throw new ApplianceError('ERR_BAD_CERTIFICATE', `the upload certificate and key are not usable: ${(err as Error).message}`)
  }
}

export function registerUploadRoutes(app: FastifyInstance, deps: UploadRoutesDeps): void {
  const { listener } = deps
  // What was set before a restart is in force again before the listener serves.
  const keyFile = join(deps.stateDir, 'upload-key.json')
  const certFile = join(deps.stateDir, 'upload-tls.json')
  let saved = existsSync(keyFile) ? JSON.parse(readFileSync(keyFile, 'utf8')) as SavedKey : null
  if (saved !== null) listener.setKey(saved.key, { publicBaseUrls: saved.publicBaseUrls })
  if (existsSync(certFile)) {
    const cert = JSON.parse(readFileSync(certFile, 'utf8')) as Static<typeof UploadCertificate>
    listener.setTls({ cert: cert.certificate, key: cert.key })
  }
  const errors = { 400: ErrorResponse, 401: ErrorResponse, 404: ErrorResponse, 409: ErrorResponse }

  app.get('/v1/uploads', { schema: { response: { 200: UploadState, 401: ErrorResponse } } }, async () => {
    const a = listener.address()
    return { enabled: saved !== null, publicBaseUrls: saved?.publicBaseUrls ?? [], tls: a.tls, port: a.port, activeUploads: listener.activeUploads }
  })
  app.put('/v1/uploads/key', { schema: { body: UploadKey, response: { 204: Type.Null(), ...errors } } }, async (req, reply) => {
    const body = req.body as Static<typeof UploadKey>
    const next = { key: body.key, publicBaseUrls: body.publicBaseUrls ?? [] }
    listener.setKey(next.key, { publicBaseUrls: next.publicBaseUrls })
    writeFileAtomic(keyFile, JSON.stringify(next))
    saved = next
    return reply.code(204).send()
  })
  app.delete('/v1/uploads/key', { schema: { response: { 204: Type.Null(), 401: ErrorResponse } } }, async (_req, reply) => {
    listener.setKey(null)
    rmSync(keyFile, { force: true })
    saved = null
    return reply.code(204).send()
  })
  app.put('/v1/uploads/certificate', { schema: { body: UploadCertificate, response: { 204: Type.Null(), ...errors } } }, async (req, reply) => {
    const body = req.body as Static<typeof UploadCertificate>
    checkCertificate(body)
    writeFileAtomic(certFile, JSON.stringify(body))
    const { restartRequired } = listener.setTls({ cert: body.certificate, key: body.key })
    if (restartRequired) {
      // From HTTP to HTTPS: the listener is started again; uploads in progress are cut (the uploader retries).
      deps.log.info({ activeUploads: listener.activeUploads }, 'upload listener restarting for HTTPS')
      await listener.stop()
      await listener.start()
    }
    return reply.code(204).send()
  })

  app.post('/v1/extracts', { schema: { body: ExtractRequest, response: { 201: ExtractAnswer, ...errors } } }, async (req, reply) => {
    const body = req.body as Static<typeof ExtractRequest>
    if (!NAME.test(body.name)) throw new ApplianceError('ERR_BAD_NAME', `extract name ${JSON.stringify(body.name)} must be one file name of letters, digits, "_", "." and "-"`)
    if (body.signed === true && body.expiresInSeconds === undefined) throw new ApplianceError('ERR_BAD_REQUEST', 'a signed extract needs expiresInSeconds')
    const root = deps.storeRoot(body.store)
    if (root === undefined) throw new ApplianceError('ERR_STORE_NOT_ATTACHED', `store ${body.store} is not attached`)
    const expiresAtMs = body.expiresInSeconds === undefined ? undefined : Date.now() + body.expiresInSeconds * 1000
    const entry = await listener.extracts.register({
      name: body.name, storeRoot: root, path: body.path, requireSignature: body.signed === true,
      ...(expiresAtMs === undefined ? {} : { expiresAt: expiresAtMs }),
    })
    const url = body.signed === true && expiresAtMs !== undefined ? listener.signExtractUrl(entry.name, expiresAtMs) : `/userdata/${encodeURIComponent(entry.name)}`
    return reply.code(201).send({ name: entry.name, url, expiresAt: expiresAtMs === undefined ? null : new Date(expiresAtMs).toISOString() })
  })
  app.get('/v1/extracts', { schema: { response: { 200: Type.Object({ extracts: Type.Array(Type.Object({ name: Type.String(), path: Type.String(), signed: Type.Boolean(), expiresAt: Type.Union([Type.String(), Type.Null()]) })) }), 401: ErrorResponse } } }, async () => ({
    extracts: listener.extracts.list().map((e) => ({ name: e.name, path: e.path, signed: e.requireSignature, expiresAt: e.expiresAt === undefined ? null : new Date(e.expiresAt).toISOString() })),
  }))
  app.delete('/v1/extracts/:name', { schema: { params: Type.Object({ name: Type.String({ minLength: 1, maxLength: 255 }) }), response: { 204: Type.Null(), 401: ErrorResponse, 404: ErrorResponse } } }, async (req, reply) => {
    const { name } = req.params as { name: string }
    if (!listener.extracts.remove(name)) throw new ApplianceError('ERR_NOT_FOUND', `extract ${name} not found`)
    return reply.code(204).send()
  })
}
