import { execFile } from 'node:child_process'
import { createHash, randomUUID } from 'node:crypto'
import { createWriteStream, type WriteStream } from 'node:fs'
import { mkdtemp, readFile, realpath, rename, rm, unlink } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ApplianceError } from '../../../../src/core/errors.ts'
import { createLogger } from '../../../../src/core/log.ts'
import { Metrics } from '../../../../src/core/metrics.ts'
import { encodeGrant, type GrantInput, type UploadGrant } from '../../../../src/storage/upload/grant.ts'
import { UploadListener, type UploadListenerOptions } from '../../../../src/storage/upload/server.ts'
import { signUpload } from '../../../../src/storage/upload/signature.ts'
import type { UploadInfo, UploadSink, UploadWriter } from '../../../../src/storage/upload/sink.ts'

/** Helpers for the upload listener tests: a file sink, grants, and curl. */

export const KEY = 'ms-post-upload-psk-0123456789'

export async function tempDir(prefix: string): Promise<{ path: string; remove: () => Promise<void> }> {
  const path = await realpath(await mkdtemp(join(tmpdir(), prefix)))
  return { path, remove: () => rm(path, { recursive: true, force: true }) }
}

/** What the file sink saw of one upload. */
export interface SinkRecord {
  grant: UploadGrant
  info: UploadInfo
  path: string
  bytes: number
  sha256?: string
  aborted?: string
  finished: boolean
}

/**
 * The sink of the tests: writes the bytes to <dir>/<uuid>.part while hashing them, renames to
 * <uuid> on finish and answers { path, bytes, sha256 }; abort removes the file. `gate` (when set)
 * holds begin() until it resolves; `failWrite` makes write() fail.
 */
export class FileSink implements UploadSink {
  readonly records: SinkRecord[] = []
  gate: Promise<void> | undefined
  onBegin: (() => void) | undefined
  failWrite: Error | undefined
  /** Most chunks a writer had accepted and not yet seen written (always 1 when calls are sequential). */
  maxConcurrentWrites = 0

  constructor(readonly dir: string) {}

  async begin(grant: UploadGrant, info: UploadInfo): Promise<UploadWriter> {
    this.onBegin?.()
    if (this.gate !== undefined) await this.gate
    const path = join(this.dir, grant.uuid)
    const record: SinkRecord = { grant, info, path, bytes: 0, finished: false }
    this.records.push(record)
    const file: WriteStream = createWriteStream(`${path}.part`)
    let fileError: Error | undefined
    file.on('error', (err) => { fileError ??= err })
    const hash = createHash('sha256')
    let writing = 0
    return {
      write: async (chunk) => {
        writing++
        this.maxConcurrentWrites = Math.max(this.maxConcurrentWrites, writing)
        try {
          if (this.failWrite !== undefined) throw this.failWrite
          if (fileError !== undefined) throw fileError
          hash.update(chunk)
          record.bytes += chunk.length
          if (!file.write(chunk)) await new Promise<void>((resolve) => file.once('drain', () => resolve()))
        } finally {
          writing--
        }
      },
      finish: async () => {
        await new Promise<void>((resolve, reject) => file.end((err?: Error | null) => (err ? reject(err) : resolve())))
        await rename(`${path}.part`, path)
        record.sha256 = hash.digest('hex')
        record.finished = true
        return { path, bytes: record.bytes, sha256: record.sha256 }
      },
      abort: async (reason: ApplianceError) => {
        record.aborted = reason.code
        file.destroy()
        await unlink(`${path}.part`).catch(() => {})
      },
    }
  }
}

/** A sink that drops the bytes (for throughput). */
export class NullSink implements UploadSink {
  bytes = 0
  async begin(): Promise<UploadWriter> {
    return {
      write: async (chunk) => { this.bytes += chunk.length },
      finish: async () => ({ bytes: this.bytes }),
      abort: async () => {},
    }
  }
}

export function quietLog() {
  return createLogger('storaged', { level: 'silent' })
}

export function newListener(stateDir: string, sink: UploadSink, extra: Partial<UploadListenerOptions> = {}): { listener: UploadListener; metrics: Metrics } {
  const metrics = new Metrics('storaged')
  const listener = new UploadListener({ log: quietLog(), metrics, sink, stateDir, host: '127.0.0.1', port: 0, ...extra })
  return { listener, metrics }
}

export function grantFor(uuid: string, over: Partial<GrantInput> = {}): GrantInput {
  return { uuid, storeId: 'store-1', kind: 'template', accountId: 2, entityId: 201, name: 'debian-12', format: 'qcow2', maxBytes: 64 * 1024 * 1024, ...over }
}

/** Signed upload parameters as the management server hands them out: URL, metadata, expires, signature. */
export function uploadParams(base: string, opts: { uuid?: string; grant?: Partial<GrantInput>; expiresAt?: number; key?: string; signedBase?: string } = {}) {
  const uuid = opts.uuid ?? randomUUID()
  const metadata = encodeGrant(grantFor(uuid, opts.grant))
  // CloudStack's X-expires: Joda DateTime.toString() in UTC, e.g. 2025-05-01T12:34:56.789Z.
  const expires = new Date(opts.expiresAt ?? Date.now() + 3_600_000).toISOString()
  const url = `${base}/upload/${uuid}`
  const signature = signUpload(opts.key ?? KEY, metadata, `${opts.signedBase ?? base}/upload/${uuid}`, expires)
  return { uuid, url, metadata, expires, signature }
}

export interface CurlResult { status: number; body: string; headers: Record<string, string>; exitCode: number; stderr: string }

/**
 * Runs curl and returns the status (0 when none was read), the body (from a temp file unless
 * `-o` is given by the caller) and the last response's headers (lower-cased names).
 */
export async function curl(args: readonly string[], opts: { bodyFile?: string } = {}): Promise<CurlResult> {
  const dir = await tempDir('upload-curl-')
  const headerFile = join(dir.path, 'headers')
  const bodyFile = opts.bodyFile ?? join(dir.path, 'body')
  try {
    const { stdout, stderr, code } = await new Promise<{ stdout: string; stderr: string; code: number }>((resolve) => {
      execFile('curl', ['-sS', '-D', headerFile, '-o', bodyFile, '-w', '%{http_code}', '--max-time', '60', ...args],
        { maxBuffer: 1024 * 1024 }, (err, stdout, stderr) => {
          resolve({ stdout, stderr, code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1 })
        })
    })
    const headers: Record<string, string> = {}
    const headerText = await readFile(headerFile, 'utf8').catch(() => '')
    // Several blocks with 100-continue: keep the last.
    const blocks = headerText.split(/\r\n\r\n/).filter((b) => b.trim() !== '')
    for (const line of (blocks[blocks.length - 1] ?? '').split('\r\n').slice(1)) {
      const i = line.indexOf(':')
      if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim()
    }
    const body = opts.bodyFile === undefined ? await readFile(bodyFile, 'utf8').catch(() => '') : ''
    return { status: Number(stdout.trim()) || 0, body, headers, exitCode: code, stderr }
  } finally {
    await dir.remove()
  }
}

/** curl arguments of an upload with the authorisation in headers, as CloudStack's UI sends it. */
export function uploadArgs(p: { url: string; metadata: string; expires: string; signature: string }, file: string, extra: readonly string[] = []): string[] {
  return [
    '-H', `X-signature: ${p.signature}`, '-H', `X-metadata: ${p.metadata}`, '-H', `X-expires: ${p.expires}`,
    '-F', `files[]=@${file};type=application/octet-stream`, ...extra, p.url,
  ]
}

export function errorCodeOf(r: CurlResult): string | undefined {
  try {
    return (JSON.parse(r.body) as { error?: { code?: string } }).error?.code
  } catch {
    return undefined
  }
}

export async function sha256File(path: string): Promise<string> {
  return createHash('sha256').update(await readFile(path)).digest('hex')
}

/** A counter's value in the metrics text (0 when absent). */
export function metricValue(metrics: Metrics, series: string): number {
  const line = metrics.render().split('\n').find((l) => l.startsWith(`${series} `))
  return line === undefined ? 0 : Number(line.slice(series.length + 1))
}
