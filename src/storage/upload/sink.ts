import type { ApplianceError } from '../../core/errors.ts'
import type { UploadGrant } from './grant.ts'

/**
 * Where an upload's bytes go: storaged's job engine, which streams them through its checksum,
 * format sniffing and install path. The listener only authorises, parses and meters.
 *
 * Life of one upload, strictly sequential (no call overlaps another of the same writer):
 *   begin(grant, info) → writer; write(chunk)* → finish() → result (answered 200 as JSON)
 *                                            ↘ abort(reason) on any failure before finish()
 * - write() is awaited before the next bytes are read from the client, so a slow sink slows the
 *   client (TCP backpressure) instead of filling memory. A chunk is valid only until write()
 *   resolves: keep a copy if needed beyond.
 * - abort() is called once, for a refusal (ERR_UPLOAD_TOO_LARGE, ERR_UPLOAD_MALFORMED, …), a
 *   client gone (ERR_UPLOAD_ABORTED), a timeout or a failed write(); the sink removes what it
 *   wrote. It is not called after finish() was called: a finish() that rejects cleans up itself.
 * - An error a sink throws that carries `status` 400–499 and a `code` is answered with them
 *   (e.g. ERR_FORMAT_MISMATCH from the install path); anything else is ERR_UPLOAD_SINK (500),
 *   logged with the sink's error.
 * - begin() runs after the grant was verified and before it is recorded as used; if begin()
 *   throws, the grant stays usable (nothing was received).
 */

export interface UploadInfo {
  /** The file part's filename, as the client sent it (not a path to use). */
  fileName: string
  /** The file part's Content-Type, if any. */
  contentType: string | undefined
  /** The whole request body's Content-Length (multipart overhead included), when sent. */
  bodyBytes: number | undefined
  /** The URL the signature matched (a configured public base or the request-derived one). */
  signedUrl: string
  remoteAddress: string
}

/** JSON-serialisable summary a sink returns (e.g. install path, size, checksum). */
export type UploadResult = Readonly<Record<string, unknown>>

export interface UploadWriter {
  write(chunk: Buffer): Promise<void>
  finish(): Promise<UploadResult>
  abort(reason: ApplianceError): Promise<void>
}

export interface UploadSink {
  begin(grant: UploadGrant, info: UploadInfo): Promise<UploadWriter>
}
