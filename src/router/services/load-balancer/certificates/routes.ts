import type { FastifyInstance } from 'fastify'
import Type from 'typebox'
import { ApplianceError, NotFoundError } from '../../../../core/errors.ts'
import { ErrorResponse } from '../../../api/contract.ts'
import type { RouterConfig } from '../../../model/config.ts'
import { Id } from '../../../model/primitives.ts'
import type { CertificateStore } from './certificate-store.ts'

/**
 * The certificates' control API (their keys never come back):
 *   PUT    /v1/certificates/<id>   {certificate, key, chain?} (PEM)
 *   GET    /v1/certificates        [{id, subject, notAfter, fingerprint256}]
 *   GET    /v1/certificates/<id>
 *   DELETE /v1/certificates/<id>   refused while a load balancer of the config in force names it
 */

const Params = Type.Object({ id: Id })
const PemText = Type.String({ minLength: 1, maxLength: 65536 })
const Body = Type.Object({ certificate: PemText, key: PemText, chain: Type.Optional(Type.String({ minLength: 1, maxLength: 262144 })) }, { additionalProperties: false })
export const CertificateInfo = Type.Object({ id: Type.String(), subject: Type.String(), notAfter: Type.String(), fingerprint256: Type.String() })

export function certificateRoutes(app: FastifyInstance, deps: { store: CertificateStore; config: () => RouterConfig | undefined; changed: () => void }): void {
  const errors = { 400: ErrorResponse, 401: ErrorResponse, 404: ErrorResponse }
  app.put('/v1/certificates/:id', { schema: { params: Params, body: Body, response: { 200: CertificateInfo, ...errors } } }, async (req) => {
    const { id } = req.params as { id: string }
    const stored = deps.store.put(id, req.body as { certificate: string; key: string; chain?: string })
    deps.changed()
    return stored
  })
  app.get('/v1/certificates', { schema: { response: { 200: Type.Object({ certificates: Type.Array(CertificateInfo) }), 401: ErrorResponse } } }, async () => ({ certificates: deps.store.list() }))
  app.get('/v1/certificates/:id', { schema: { params: Params, response: { 200: CertificateInfo, ...errors } } }, async (req) => {
    const { id } = req.params as { id: string }
    const found = deps.store.get(id)
    if (found === undefined) throw new NotFoundError(`certificates/${id}`)
    return found
  })
  app.delete('/v1/certificates/:id', { schema: { params: Params, response: { 204: Type.Null(), 409: ErrorResponse, ...errors } } }, async (req, reply) => {
    const { id } = req.params as { id: string }
    const user = deps.config()?.loadBalancers.find((r) => r.tls?.certificate === id)
    if (user !== undefined) throw new ApplianceError('ERR_IN_USE', `load balancer "${user.id}" of the config in force uses this certificate`)
    if (!deps.store.remove(id)) throw new NotFoundError(`certificates/${id}`)
    return reply.code(204).send()
  })
}
