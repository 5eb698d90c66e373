import { Type, type Static } from 'typebox'
import { errorCode } from '../../core/errors.ts'
import { parseStrictJson } from '../../core/http/strict-json.ts'
import { schemaDiagnostics } from '../../core/schema.ts'
import { formatChecksum, parseChecksum } from '../image/checksum.ts'
import { parseDeclaredFormat, type DeclaredFormat } from '../image/declared-format.ts'
import { checkEntityId, checkUuid } from '../layout/identifiers.ts'
import { UploadError } from './errors.ts'

/**
 * The upload grant: what the `X-metadata` value of an upload says, and what the signature
 * vouches for. CloudStack's own metadata is `TemplateOrVolumePostUploadCommand` as JSON,
 * encrypted with the management server's PSK (jasypt PBEWITHSHA1ANDDESEDE); until a CloudStack
 * adapter decrypts and maps it, storaged's grant is ours:
 *
 *   metadata = base64url( UTF-8 JSON )   (no padding; padding and standard base64 are accepted)
 *
 *   {
 *     "v": 1,                         grant format version
 *     "uuid": "<upload uuid>",        must equal the uuid in POST /upload/<uuid>
 *     "storeId": "<image store id>",  the target store, [A-Za-z0-9._:-]{1,128}
 *     "kind": "template" | "volume",
 *     "accountId": 2,                 CloudStack account id (number or decimal text)
 *     "entityId": 201,                template or volume id (number or decimal text)
 *     "name": "debian-12",            display name, 1–255 characters, no control characters
 *     "format": "qcow2",              declared format: qcow2 vhd ova iso raw img vmdk tar (any case)
 *     "maxBytes": 10737418240,        largest file accepted, in bytes
 *     "checksum": "{SHA-256}ab…"      optional, CloudStack's {ALGO}hex (bare hex = MD5)
 *   }
 *
 * Unknown fields and repeated keys are refused (ERR_UPLOAD_GRANT), so a typo is not silently a
 * grant without its limit. The expiry is not in the grant: it is the separately signed
 * `X-expires`, as in CloudStack.
 */

const MAX_METADATA_CHARS = 8192

const GrantJson = Type.Object({
  v: Type.Literal(1),
  uuid: Type.String(),
  storeId: Type.String({ pattern: '^[A-Za-z0-9._:-]{1,128}$' }),
  kind: Type.Union([Type.Literal('template'), Type.Literal('volume')]),
  accountId: Type.Union([Type.Integer(), Type.String()]),
  entityId: Type.Union([Type.Integer(), Type.String()]),
  name: Type.String({ minLength: 1, maxLength: 255 }),
  format: Type.String(),
  maxBytes: Type.Integer({ minimum: 1 }),
  checksum: Type.Optional(Type.String()),
}, { additionalProperties: false })

type GrantJson = Static<typeof GrantJson>

/** A decoded, checked grant (ids as CloudStack's decimal text, format and checksum canonical). */
export interface UploadGrant {
  uuid: string
  storeId: string
  kind: 'template' | 'volume'
  accountId: string
  entityId: string
  name: string
  format: DeclaredFormat
  maxBytes: number
  /** `{ALGO}hex`, canonical (formatChecksum), when the grant carries one. */
  checksum?: string
}

/** What a caller puts in a grant (ids as numbers or text). */
export interface GrantInput {
  uuid: string
  storeId: string
  kind: 'template' | 'volume'
  accountId: number | string
  entityId: number | string
  name: string
  format: string
  maxBytes: number
  checksum?: string
}

/** Pure. The metadata text for a grant: base64url of its JSON. Does not check it (decodeGrant does). */
export function encodeGrant(grant: GrantInput): string {
  const json: GrantJson = {
    v: 1, uuid: grant.uuid, storeId: grant.storeId, kind: grant.kind, accountId: grant.accountId, entityId: grant.entityId,
    name: grant.name, format: grant.format, maxBytes: grant.maxBytes,
    ...(grant.checksum === undefined ? {} : { checksum: grant.checksum }),
  }
  return Buffer.from(JSON.stringify(json), 'utf8').toString('base64url')
}

/**
 * Pure. Decodes and checks metadata text. Throws ERR_UPLOAD_GRANT naming the first problem
 * (the cause keeps the underlying code, e.g. ERR_CHECKSUM_FORMAT).
 */
export function decodeGrant(metadata: string): UploadGrant {
  if (metadata.length > MAX_METADATA_CHARS) throw grantError(`metadata is longer than ${MAX_METADATA_CHARS} characters`)
  if (!/^[A-Za-z0-9_\-+/]*={0,2}$/.test(metadata) || metadata === '') throw grantError('metadata is not base64url text')
  let value: unknown
  try {
    value = parseStrictJson(Buffer.from(metadata, 'base64url').toString('utf8'))
  } catch (err) {
    throw grantError(`metadata is not a JSON grant: ${(err as Error).message}`, err)
  }
  const problems = schemaDiagnostics(GrantJson, value)
  if (problems.length > 0) throw grantError(problems.map((p) => `${p.path || '/'} ${p.message}`).join('; '))
  const json = value as GrantJson
  try {
    const uuid = checkUuid(json.uuid, 'grant uuid')
    const accountId = checkEntityId(json.accountId, 'grant accountId')
    const entityId = checkEntityId(json.entityId, 'grant entityId')
    if (/[\u0000-\u001f\u007f]/.test(json.name)) throw grantError('grant name must not contain control characters')
    if (!Number.isSafeInteger(json.maxBytes)) throw grantError('grant maxBytes must be a safe integer')
    const format = parseDeclaredFormat(json.format)
    const grant: UploadGrant = { uuid, storeId: json.storeId, kind: json.kind, accountId, entityId, name: json.name, format, maxBytes: json.maxBytes }
    if (json.checksum !== undefined) grant.checksum = formatChecksum(parseChecksum(json.checksum))
    return grant
  } catch (err) {
    if (errorCode(err) === 'ERR_UPLOAD_GRANT') throw err
    throw grantError((err as Error).message, err)
  }
}

function grantError(message: string, cause?: unknown): UploadError {
  return new UploadError('ERR_UPLOAD_GRANT', message, cause === undefined ? undefined : { cause })
}
