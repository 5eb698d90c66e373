/**
 * Downloads for storaged: the HTTP(S) fetcher (resume, proxy, redirects, timeouts, size limit,
 * cancel) into a caller's sink, a file sink for temp files, and streaming decompression.
 */
export {
  DEFAULT_MAX_BYTES, fetchToSink,
  type DownloadProgress, type DownloadSink, type FetchOptions, type FetchResult, type RetryInfo, type Validator,
} from './fetch.ts'
export { openFileSink, type FileSink, type FileSinkOptions } from './file-sink.ts'
export {
  createByteLimit, createDecompressor, decompressFile, detectFileCompression,
  type DecompressFileOptions, type DecompressOptions, type DecompressResult,
} from './decompress.ts'
export {
  DecompressError, DownloadCancelledError, DownloadHttpError, DownloadNetworkError, DownloadRedirectError,
  DownloadResumeError, DownloadTimeoutError, DownloadTlsError, DownloadTooLargeError, DownloadUrlError, isRetryable,
  type TimeoutPhase,
} from './errors.ts'
export { MAX_REDIRECTS, parseDownloadUrl, parseProxyUrl, planRedirect, redactUrl, type DownloadTarget, type ProxyTarget } from './url.ts'
export { parseContentLength, parseContentRange, planResponse, type ContentRange, type ResponseFacts, type ResponsePlan } from './response.ts'
