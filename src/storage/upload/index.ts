/**
 * storaged's public upload and extract listener: signed browser/API uploads streamed to a
 * caller's sink (POST /upload/<uuid>), and extract downloads with ranges and optional signed,
 * expiring URLs (GET|HEAD /userdata/<name>).
 */
export { UPLOAD_ERROR_STATUS, UploadError, type UploadErrorCode } from './errors.ts'
export { ExtractRegistry, type ExtractEntry, type ExtractRegistration, type ExtractRegistryOptions } from './extract-registry.ts'
export { decodeGrant, encodeGrant, type GrantInput, type UploadGrant } from './grant.ts'
export { MultipartParser, parseBoundary, type MultipartEvent, type MultipartLimits, type PartHeaders } from './multipart.ts'
export { decideRange, fileEtag, type RangeDecision } from './range.ts'
export { UploadListener, type TlsMaterial, type UploadKeySettings, type UploadListenerOptions } from './server.ts'
export {
  parseExpires, signedExtractQuery, signedUrlCandidates, signExtract, signUpload, verifyExtractSignature, verifyUploadSignature,
  type SignedUrlSettings,
} from './signature.ts'
export type { UploadInfo, UploadResult, UploadSink, UploadWriter } from './sink.ts'
export { UsedGrantStore } from './used-grants.ts'
