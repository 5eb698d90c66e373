import { lstat, readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { ApplianceError } from '../../../core/errors.ts'
import { isDownloadTempName } from '../../layout/paths.ts'
import { resolveInStore } from '../../layout/safe-path.ts'
import { propertiesFileName, readInstallProperties } from '../../layout/template-properties.ts'
import { layoutPlace } from '../../install/record.ts'
import { copyVerified, ensureDirInStore, publish, writeFileDurable } from '../../install/files.ts'
import type { JobKindHandler } from '../kind.ts'
import type { CopyRequest } from '../model.ts'
import { removeKeptTemp } from './scratch.ts'
import { placeProblem, storeProblem } from './checks.ts'

/**
 * Copies an install (template or volume directory) or a snapshot to the same place in another
 * store. Each file goes through a temporary name and is read back and compared before it is
 * renamed; the properties file comes last, so the copy is listed only once it is whole. A
 * template or volume is copied only if the source is a complete install. A copy cut by a
 * restart starts again (it is local); the temporary file it was writing is removed first.
 */
export const copyKind: JobKindHandler<CopyRequest> = {
  kind: 'copy',
  check: (r, stores) => [
    ...storeProblem('/from/store', r.from.store, stores), ...storeProblem('/to/store', r.to.store, stores),
    ...placeProblem('/from/path', r.from.path, ['template', 'volume', 'snapshot'], 'an install or a snapshot of the store\'s layout'),
    ...(r.from.store === r.to.store ? [{ severity: 'error' as const, path: '/to/store', code: 'ERR_SAME_STORE', message: 'a copy goes to another store' }] : []),
  ],
  stores: (r) => [r.from.store, r.to.store],
  async run(ctx) {
    const { from, to } = ctx.request
    const fromRoot = ctx.storeRoot(from.store)
    const toRoot = ctx.storeRoot(to.store)
    await copyKind.cleanup?.(ctx)
    const place = layoutPlace(from.path)
    if (place === null) throw new ApplianceError('ERR_PATH_OUTSIDE_LAYOUT', `${from.path} is not in the layout`)
    const source = await resolveInStore(fromRoot, from.path)
    const stats = await lstat(source).catch(() => null)
    if (stats === null) throw new ApplianceError('ERR_NOT_FOUND', `${from.path} does not exist in store ${from.store}`)
    const relDir = stats.isDirectory() ? from.path.replace(/\/$/, '') : from.path.split('/').slice(0, -1).join('/')
    const names = stats.isDirectory()
      ? (await readdir(source, { withFileTypes: true })).filter((e) => e.isFile() && !isDownloadTempName(e.name)).map((e) => e.name)
      : [from.path.split('/').at(-1) as string]
    const properties = place.kind === 'snapshot' ? null : propertiesFileName(place.kind)
    let propertiesText: string | null = null
    if (properties !== null && stats.isDirectory()) {
      propertiesText = await readFile(join(source, properties), 'latin1').catch(() => null)
      const reading = propertiesText === null ? null : readInstallProperties(propertiesText, place.kind as 'template' | 'volume')
      if (reading === null || !reading.installed) throw new ApplianceError('ERR_NOT_INSTALLED', `${from.path} is not a complete install${reading === null ? ' (no properties file)' : `: ${reading.message}`}`)
    }
    const files = names.filter((n) => n !== properties)
    const sourceDir = stats.isDirectory() ? source : join(source, '..')
    const sizes = await Promise.all(files.map(async (n) => (await lstat(join(sourceDir, n))).size))
    const total = sizes.reduce((a, b) => a + b, 0)
    const destDir = await ensureDirInStore(toRoot, relDir)
    ctx.keep({ destDir: relDir })
    let done = 0
    let size = 0
    for (const name of files) {
      const copied = await copyVerified(fromRoot, join(sourceDir, name), destDir, ctx.signal, {
        temp: (temp) => ctx.keep({ temp }),
        bytes: (n) => ctx.progress(done + n, total),
      })
      await publish(destDir, copied.tempName, name)
      ctx.keep({ temp: null })
      done += copied.size
      size += copied.size
    }
    if (properties !== null && propertiesText !== null) await writeFileDurable(destDir, properties, propertiesText)
    ctx.log.info({ from: from.store, to: to.store, path: from.path, files: files.length, bytes: size }, 'copied')
    return { installPath: from.path, size }
  },
  cleanup: (ctx) => removeKeptTemp(ctx, ctx.request.to.store),
}
