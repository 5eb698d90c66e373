import { ApplianceError } from '../../core/errors.ts'
import type { Logger } from '../../core/log.ts'
import { createVerifier } from '../image/checksum.ts'
import { createSniffer } from '../image/sniffer.ts'
import { templateInstallDir, volumeInstallDir } from '../layout/paths.ts'
import type { UploadGrant } from '../upload/grant.ts'
import type { UploadInfo, UploadSink, UploadWriter } from '../upload/sink.ts'
import { createTemp, ensureDirInStore, removeTemps } from './files.ts'
import { installImage } from './image.ts'

/**
 * Uploads go through the install path downloads take: the bytes stream into a temporary file in
 * the grant's install directory, hashed (the grant's checksum, else SHA-256) and sniffed as they
 * arrive; at the end they are verified, unpacked if compressed, checked against the declared
 * format, renamed and given their properties file. A failed or aborted upload leaves nothing.
 */

/** A refusal the uploader caused: answered with its code and 422, not as a server failure. */
function clientError(err: unknown): unknown {
  const code = (err as { code?: unknown }).code
  if (typeof code === 'string' && /^ERR_(CHECKSUM_MISMATCH|FORMAT_MISMATCH|FORMAT_UNSUPPORTED|IMAGE_HEADER|DOWNLOAD_TOO_LARGE|DOWNLOAD_DECOMPRESS)$/.test(code)) {
    return Object.assign(err as object, { status: 422 })
  }
  return err
}

export class InstallingUploadSink implements UploadSink {
  constructor(private readonly storeRoot: (id: string) => string | undefined, private readonly log: Logger) {}

  async begin(grant: UploadGrant, info: UploadInfo): Promise<UploadWriter> {
    const root = this.storeRoot(grant.storeId)
    if (root === undefined) throw Object.assign(new ApplianceError('ERR_STORE_NOT_ATTACHED', `store ${grant.storeId} is not attached`), { status: 409 })
    const relDir = grant.kind === 'volume' ? volumeInstallDir(grant.accountId, grant.entityId) : templateInstallDir(grant.accountId, grant.entityId)
    const dir = await ensureDirInStore(root, relDir)
    const { name: temp, handle } = await createTemp(dir)
    const startedAtMs = Date.now()
    const verifier = createVerifier(grant.checksum)
    const sniffer = createSniffer()
    let unpacked: string | undefined
    let closed = false
    const close = async () => {
      if (!closed) {
        closed = true
        await handle.close()
      }
    }
    const log = this.log.child({ upload: grant.uuid, store: grant.storeId })
    log.info({ dir: relDir, from: info.remoteAddress }, 'upload started')
    return {
      write: async (chunk) => {
        verifier.update(chunk)
        sniffer.update(chunk)
        await handle.write(chunk)
      },
      finish: async () => {
        try {
          await handle.sync()
          await close()
          const digest = verifier.digest()
          if (!digest.matches) throw new ApplianceError('ERR_CHECKSUM_MISMATCH', `the upload's ${digest.algorithm} is ${digest.hex}, not the ${digest.given?.hex ?? ''} granted`)
          const installed = await installImage({
            dir, relDir, temp, sniffed: sniffer.result(), startedAtMs, maxBytes: grant.maxBytes, signal: AbortSignal.timeout(3_600_000),
            target: {
              resource: grant.kind === 'volume' ? 'volume' : grant.format === 'iso' ? 'iso' : 'template', id: Number(grant.entityId),
              name: grant.name, format: grant.format, checksum: grant.checksum,
            },
            onUnpackTemp: (name) => { unpacked = name },
          })
          log.info({ installPath: installed.installPath, size: installed.size }, 'upload installed')
          return { ...installed, checksum: digest.text }
        } catch (err) {
          await close().catch(() => undefined)
          await removeTemps(dir, [temp, unpacked])
          throw clientError(err)
        }
      },
      abort: async (reason) => {
        log.warn({ code: reason.code }, 'upload aborted')
        await close().catch(() => undefined)
        await removeTemps(dir, [temp, unpacked])
      },
    }
  }
}
