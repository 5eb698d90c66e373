import { lstat, readdir, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { ApplianceError } from '../../../core/errors.ts'
import { resolveInStore } from '../../layout/safe-path.ts'
import { propertiesFileName } from '../../layout/template-properties.ts'
import { layoutPlace } from '../../install/record.ts'
import { syncDir } from '../../install/files.ts'
import type { JobKindHandler } from '../kind.ts'
import type { DeleteRequest } from '../model.ts'
import { placeProblem, storeProblem } from './checks.ts'

/**
 * Deletes an install directory, a file in one, or a snapshot. The properties file goes first
 * and durably, so a delete cut short leaves an install that is no longer listed, never a listed
 * one with files missing.
 */
export const deleteKind: JobKindHandler<DeleteRequest> = {
  kind: 'delete',
  check: (r, stores) => [...storeProblem('/store', r.store, stores), ...placeProblem('/path', r.path, ['template', 'volume', 'snapshot'], 'an install or a snapshot of the store\'s layout')],
  stores: (r) => [r.store],
  async run(ctx) {
    const root = ctx.storeRoot(ctx.request.store)
    const place = layoutPlace(ctx.request.path)
    if (place === null) throw new ApplianceError('ERR_PATH_OUTSIDE_LAYOUT', `${ctx.request.path} is not in the layout`)
    const target = await resolveInStore(root, ctx.request.path)
    const stats = await lstat(target).catch(() => null)
    if (stats === null) throw new ApplianceError('ERR_NOT_FOUND', `${ctx.request.path} does not exist in store ${ctx.request.store}`)
    const removed: string[] = []
    if (stats.isDirectory()) {
      if (place.kind !== 'snapshot') {
        const properties = join(target, propertiesFileName(place.kind))
        if ((await lstat(properties).catch(() => null)) !== null) {
          await rm(properties, { force: true })
          await syncDir(target)
          removed.push(`${place.dir}/${propertiesFileName(place.kind)}`)
        }
      }
      for (const name of await readdir(target)) removed.push(`${ctx.request.path.replace(/\/$/, '')}/${name}`)
      // rm does not follow symlinks: a link inside is removed, never its target.
      await rm(target, { recursive: true, force: true })
    } else {
      await rm(target, { force: true })
      removed.push(ctx.request.path)
    }
    await syncDir(join(target, '..'))
    ctx.log.info({ store: ctx.request.store, path: ctx.request.path, files: removed.length }, 'deleted')
    return { installPath: ctx.request.path, removed: [...new Set(removed)] }
  },
}
