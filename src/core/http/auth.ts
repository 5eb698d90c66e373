import { timingSafeEqual } from 'node:crypto'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { ApplianceError } from '../errors.ts'

/** Bearer-token check for every route except the ones listed as open. */
export function bearerAuth(token: string, open: ReadonlySet<string>) {
  const expected = Buffer.from(token)
  return async (req: FastifyRequest, _reply: FastifyReply): Promise<void> => {
    if (open.has(req.routeOptions.url ?? '')) return
    const header = req.headers.authorization ?? ''
    const given = Buffer.from(header.startsWith('Bearer ') ? header.slice(7).trim() : '')
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      throw new ApplianceError('ERR_UNAUTHORIZED', 'a valid bearer token is required')
    }
  }
}
