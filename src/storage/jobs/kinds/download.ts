import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { ApplianceError, errorCode, type Diagnostic } from '../../../core/errors.ts'
import { DEFAULT_MAX_BYTES, fetchToSink, type Validator } from '../../download/fetch.ts'
import { openFileSink } from '../../download/file-sink.ts'
import { parseChecksum, createVerifier } from '../../image/checksum.ts'
import { feedFile } from '../../image/hash-file.ts'
import { createSniffer } from '../../image/sniffer.ts'
import { downloadTempName, templateInstallDir, volumeInstallDir } from '../../layout/paths.ts'
import { resolveInStore } from '../../layout/safe-path.ts'
import { ensureDirInStore, removeTemps } from '../../install/files.ts'
import { installImage } from '../../install/image.ts'
import type { JobKindHandler } from '../kind.ts'
import type { DownloadRequest } from '../model.ts'
import { idProblems, storeProblem } from './checks.ts'

/**
 * Downloads a template, ISO or volume from http(s) into its install directory, as CloudStack's
 * SSVM does, without its failure modes:
 * - the bytes go to a temporary file (`dnld…tmp_`) named in the job before the first byte, so
 *   a dropped connection continues with Range and a restarted daemon continues from the file's
 *   length (the hash is rebuilt by reading the part already on disk, not by fetching it again);
 * - the checksum is computed as the bytes arrive and checked before anything is installed;
 * - a compressed download (gzip, bzip2, xz, zip: judged from its first bytes) is verified as
 *   fetched, then unpacked in one streaming pass into a second temporary file, bounded by the
 *   maximum size (a bomb stops there);
 * - the format is read from the content and must agree with the declared one; the virtual size
 *   comes from the image's own header or footer;
 * - fsync, rename to the install name, then the properties file: an install is listed only
 *   once it is whole. A failure or cancel removes the temporary files.
 */

export interface DownloadSettings {
  proxy?: string | undefined
  /** The daemon's ceiling: a job may ask for less, never more (default 50 GiB). */
  maxBytes?: number | undefined
  connectTimeoutMs?: number | undefined
  idleTimeoutMs?: number | undefined
  /** Failed attempts in a row without progress before a download gives up (default 5). */
  retries?: number | undefined
  retryDelayMs?: number | undefined
}

interface DownloadScratch { destDir?: string; temp?: string; unpacked?: string; startedAtMs?: number; validator?: Validator }

function checksumProblem(checksum: string | undefined): Diagnostic[] {
  if (checksum === undefined || checksum.trim() === '') return []
  try {
    parseChecksum(checksum)
    return []
  } catch (err) {
    return [{ severity: 'error', path: '/checksum', code: errorCode(err) ?? 'ERR_CHECKSUM_FORMAT', message: (err as Error).message }]
  }
}

function formatProblem(r: DownloadRequest): Diagnostic[] {
  if (r.format === undefined) return []
  if ((r.resource === 'iso') !== (r.format === 'iso')) {
    return [{ severity: 'error', path: '/format', code: 'ERR_FORMAT_MISMATCH', message: r.resource === 'iso' ? 'an ISO is declared iso' : 'only an ISO is declared iso' }]
  }
  return []
}

/** The fields that are set (the fetcher's options take no explicit undefined). */
function definedOnly<T extends Record<string, number | undefined>>(o: T): { [K in keyof T]?: number } {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as { [K in keyof T]?: number }
}

export function downloadKind(settings: DownloadSettings = {}): JobKindHandler<DownloadRequest> {
  const ceiling = settings.maxBytes ?? DEFAULT_MAX_BYTES
  const kind: JobKindHandler<DownloadRequest> = {
    kind: 'download',
    check: (r, stores) => [
      ...storeProblem('/store', r.store, stores), ...idProblems(r), ...checksumProblem(r.checksum), ...formatProblem(r),
      ...(r.maxBytes !== undefined && r.maxBytes > ceiling ? [{ severity: 'error' as const, path: '/maxBytes', code: 'ERR_DOWNLOAD_TOO_LARGE', message: `above this storaged's limit of ${ceiling} bytes` }] : []),
    ],
    stores: (r) => [r.store],
    async run(ctx) {
      const r = ctx.request
      const root = ctx.storeRoot(r.store)
      const maxBytes = Math.min(r.maxBytes ?? ceiling, ceiling)
      const kept = ctx.job.scratch as DownloadScratch
      const relDir = r.resource === 'volume' ? volumeInstallDir(r.accountId, r.id) : templateInstallDir(r.accountId, r.id)
      const dir = await ensureDirInStore(root, relDir)
      // An unpacking cut short starts again from the verified download.
      if (kept.unpacked !== undefined) await removeTemps(dir, [kept.unpacked])
      const temp = kept.temp ?? downloadTempName(randomBytes(8))
      const startedAtMs = kept.startedAtMs ?? Date.now()
      ctx.keep({ destDir: relDir, temp, startedAtMs, unpacked: undefined })

      let verifier = createVerifier(r.checksum)
      let sniffer = createSniffer()
      const sink = await openFileSink(join(dir, temp), {
        onChunk: (chunk) => { verifier.update(chunk); sniffer.update(chunk) },
        onTruncate: () => { verifier = createVerifier(r.checksum); sniffer = createSniffer() },
      })
      let fetched
      try {
        if (sink.offset > 0) {
          ctx.log.info({ bytes: sink.offset }, 'download continues from the bytes on disk')
          await feedFile(join(dir, temp), [verifier, sniffer], { length: sink.offset })
        }
        fetched = await fetchToSink(r.url, sink, {
          followRedirects: r.followRedirects ?? false, proxy: settings.proxy, maxBytes, signal: ctx.signal,
          ...definedOnly({ connectTimeoutMs: settings.connectTimeoutMs, idleTimeoutMs: settings.idleTimeoutMs, retries: settings.retries, retryDelayMs: settings.retryDelayMs }),
          validator: kept.validator,
          onValidator: (validator) => ctx.keep({ validator }),
          onProgress: (p) => ctx.progress(p.bytes, p.total ?? null),
        })
        await sink.sync()
      } finally {
        await sink.close()
      }
      const digest = verifier.digest()
      if (!digest.matches) {
        throw new ApplianceError('ERR_CHECKSUM_MISMATCH', `the download's ${digest.algorithm} is ${digest.hex}, not the ${digest.given?.hex ?? ''} given`)
      }

      const installed = await installImage({
        dir, relDir, temp, sniffed: sniffer.result(), target: r, startedAtMs, maxBytes, signal: ctx.signal,
        onUnpackTemp: (unpacked) => ctx.keep({ unpacked }),
      })
      ctx.keep({ temp: undefined, unpacked: undefined })
      ctx.log.info({ store: r.store, installPath: installed.installPath, bytes: fetched.bytes, resumes: fetched.resumes, wasted: fetched.wastedBytes }, 'downloaded')
      return { ...installed, checksum: digest.text, resumes: fetched.resumes, refetchedBytes: fetched.wastedBytes }
    },
    async cleanup(ctx) {
      const { destDir, temp, unpacked } = ctx.job.scratch as DownloadScratch
      if (destDir === undefined) return
      await removeTemps(await resolveInStore(ctx.storeRoot(ctx.request.store), destDir), [temp, unpacked])
    },
  }
  return kind
}
