import { ApplianceError } from '../../core/errors.ts'

/**
 * The refusals of the public upload and extract listener. Each has a stable code (README
 * catalogue) and the HTTP status it is answered with; the listener answers every one as
 * `{ error: { code, message } }`, the shape of the control API's error handler, and counts it in
 * `storaged_upload_refused_total{code}` or `storaged_upload_extract_refused_total{code}`.
 */

export const UPLOAD_ERROR_STATUS = {
  /** No key is set (setKey(null) or never called): every upload is refused. */
  ERR_UPLOAD_DISABLED: 503,
  /** The signature, metadata or expiry is missing, or the signature does not match. */
  ERR_UPLOAD_SIGNATURE: 403,
  /** The signed expiry has passed. */
  ERR_UPLOAD_EXPIRED: 403,
  /** The grant (metadata) is not a valid grant: not base64url JSON, a field missing or wrong, an expiry too far ahead. */
  ERR_UPLOAD_GRANT: 400,
  /** The grant names another upload uuid than the request path. */
  ERR_UPLOAD_UUID: 403,
  /** The grant (its uuid or its signature) was already used. */
  ERR_UPLOAD_REPLAYED: 409,
  /** Content-Length or the file's bytes exceed the grant's maximum (or the listener's). */
  ERR_UPLOAD_TOO_LARGE: 413,
  /** Not a well-formed multipart/form-data body (boundary, headers, limits, a second file part, truncation). */
  ERR_UPLOAD_MALFORMED: 400,
  /** The multipart body holds no file part (CloudStack answers 422 too). */
  ERR_UPLOAD_NO_FILE: 422,
  /** As many uploads as configured are running, or the used-grant set is full: retry later. */
  ERR_UPLOAD_BUSY: 503,
  /** The client sent its body too slowly (below the minimum rate). */
  ERR_UPLOAD_TIMEOUT: 408,
  /** The sink (storaged's install path) failed; its own error is logged. */
  ERR_UPLOAD_SINK: 500,
  /** The client went away before the body was complete (counted; there is no one to answer). */
  ERR_UPLOAD_ABORTED: 400,
  /** No route for this method and path on the upload listener. */
  ERR_UPLOAD_NOT_FOUND: 404,
  /** A method the route does not take. */
  ERR_UPLOAD_METHOD: 405,
  /** No extract is registered under this name, or it expired. */
  ERR_EXTRACT_NOT_FOUND: 404,
  /** The extract name is not one safe file name (slash, `..`, NUL, control characters, bad escape). */
  ERR_EXTRACT_NAME: 400,
  /** A signed extract URL whose signature does not match, or an extract that requires one without it. */
  ERR_EXTRACT_SIGNATURE: 403,
  /** A signed extract URL whose expiry has passed. */
  ERR_EXTRACT_EXPIRED: 403,
  /** The registered file now resolves outside its store (a symlink planted) or is not a regular file. */
  ERR_EXTRACT_OUTSIDE_STORE: 403,
  /** The Range asks for bytes past the end of the file (answered with `Content-Range: bytes * /size`). */
  ERR_EXTRACT_RANGE: 416,
} as const

export type UploadErrorCode = keyof typeof UPLOAD_ERROR_STATUS

/** A refusal with its HTTP status; `headers` are added to the answer (e.g. Retry-After). */
export class UploadError extends ApplianceError {
  readonly status: number
  readonly headers: Readonly<Record<string, string>>
  constructor(code: UploadErrorCode, message: string, options?: { cause?: unknown; headers?: Record<string, string> }) {
    super(code, message, options)
    this.status = UPLOAD_ERROR_STATUS[code]
    this.headers = options?.headers ?? {}
  }
}
