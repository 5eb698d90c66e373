import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import { errorCode, type InvalidConfigError, type RestoreRejectedError } from '../errors.ts'

/**
 * The one place errors become HTTP. Known codes get their status and a body
 * `{ error: { code, message, diagnostics?, line? } }`; anything else is a logged 500.
 */

const STATUS: Record<string, number> = {
  ERR_CONFIG_INVALID: 400,
  ERR_BAD_REQUEST: 400,
  ERR_UNAUTHORIZED: 401,
  ERR_NOT_FOUND: 404,
  ERR_CONFLICT: 412,
  ERR_IN_USE: 409,
  ERR_BLOB_NAME: 400,
  ERR_BLOB_DIGEST: 400,
  ERR_BAD_BASE64: 400,
  ERR_BAD_CERTIFICATE: 400,
  ERR_BLOB_TOO_LARGE: 413,
  ERR_KERNEL_REJECTED: 422,
  ERR_BUSY: 429,
  // storaged: a store that cannot be mounted or used now, a path that would leave a store.
  ERR_MOUNT_FAILED: 422,
  ERR_STORE_NOT_ATTACHED: 409,
  ERR_STORE_TIMEOUT: 504,
  ERR_PATH_OUTSIDE_STORE: 400,
  ERR_PATH_NOT_DIRECTORY: 400,
  ERR_NOT_A_FILE: 400,
  ERR_BAD_NAME: 400,
  ERR_BAD_ID: 400,
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 415,
  FST_ERR_CTP_BODY_TOO_LARGE: 413,
  FST_ERR_CTP_EMPTY_JSON_BODY: 400,
  FST_ERR_CTP_INVALID_JSON_BODY: 400,
  FST_ERR_VALIDATION: 400,
}

export function errorHandler(err: FastifyError, req: FastifyRequest, reply: FastifyReply): void {
  const code = errorCode(err) ?? 'ERR_INTERNAL'
  let status = STATUS[code] ?? (err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500)
  if (code.startsWith('FST_') && err.statusCode === 400) status = 400
  const body: Record<string, unknown> = { code: status === 500 ? 'ERR_INTERNAL' : code, message: status === 500 ? 'internal error' : err.message }
  if (code === 'ERR_CONFIG_INVALID') body['diagnostics'] = (err as unknown as InvalidConfigError).diagnostics
  if (code === 'ERR_KERNEL_REJECTED') {
    const r = err as unknown as RestoreRejectedError
    Object.assign(body, { tool: r.tool, line: r.line, lineText: r.lineText, context: r.context })
  }
  if (err.validation !== undefined) {
    body['code'] = 'ERR_BAD_REQUEST'
    body['diagnostics'] = err.validation.map((v) => ({ severity: 'error', path: v.instancePath, code: 'ERR_SCHEMA', message: v.message }))
  }
  if (status >= 500) req.log.error({ err }, 'request failed')
  if (status === 429) void reply.header('retry-after', '1')
  void reply.status(status).send({ error: body })
}
