import { stat } from 'node:fs/promises'
import { ApplianceError } from '../../../core/errors.ts'
import { createSniffer } from '../../image/sniffer.ts'
import { installFileName, templateInstallDir } from '../../layout/paths.ts'
import { resolveInStore } from '../../layout/safe-path.ts'
import { layoutPlace, writeInstallProperties } from '../../install/record.ts'
import { copyVerified, ensureDirInStore, publish, removeTemps } from '../../install/files.ts'
import type { JobKindHandler } from '../kind.ts'
import type { SnapshotToTemplateRequest } from '../model.ts'
import { removeKeptTemp } from './scratch.ts'
import { idProblems, placeProblem, storeProblem } from './checks.ts'

/**
 * A snapshot file on the store becomes a template in the same store: copied (verified) into
 * `template/tmpl/<account>/<id>/`, its format and virtual size read from its own header as it
 * goes by, then the template.properties that makes it listed.
 */
export const snapshotToTemplateKind: JobKindHandler<SnapshotToTemplateRequest> = {
  kind: 'snapshotToTemplate',
  check: (r, stores) => [
    ...storeProblem('/store', r.store, stores), ...idProblems(r),
    ...placeProblem('/snapshot', r.snapshot, ['snapshot'], 'a snapshot file (snapshots/<account>/<volume>/<file>)'),
    ...(layoutPlace(r.snapshot)?.file === null ? [{ severity: 'error' as const, path: '/snapshot', code: 'ERR_PATH_OUTSIDE_LAYOUT', message: 'name the snapshot file, not its directory' }] : []),
  ],
  stores: (r) => [r.store],
  async run(ctx) {
    const r = ctx.request
    const root = ctx.storeRoot(r.store)
    await snapshotToTemplateKind.cleanup?.(ctx)
    const startedAtMs = typeof ctx.job.scratch['startedAtMs'] === 'number' ? ctx.job.scratch['startedAtMs'] : Date.now()
    const relDir = templateInstallDir(r.accountId, r.id)
    ctx.keep({ startedAtMs, destDir: relDir })
    const source = await resolveInStore(root, r.snapshot)
    const total = (await stat(source)).size
    const dir = await ensureDirInStore(root, relDir)
    const sniffer = createSniffer()
    const copied = await copyVerified(root, source, dir, ctx.signal, {
      temp: (temp) => ctx.keep({ temp }), bytes: (n) => ctx.progress(n, total), chunk: (c) => sniffer.update(c),
    }, { hash: true })
    let sniffed
    try {
      sniffed = sniffer.result()
      if (sniffed.compression !== 'none') throw new ApplianceError('ERR_FORMAT_UNSUPPORTED', `the snapshot is ${sniffed.compression}-compressed`)
    } catch (err) {
      await removeTemps(dir, [copied.tempName])
      throw err
    }
    const filename = installFileName({ name: r.name, format: sniffed.format, startedAtMs })
    await publish(dir, copied.tempName, filename)
    ctx.keep({ temp: null })
    await writeInstallProperties(dir, {
      kind: 'template', id: r.id, filename, description: r.description ?? r.name, hvm: r.hvm ?? true, public: r.public ?? false,
      size: copied.size, virtualSize: sniffed.virtualSize, format: sniffed.format, uniqueName: r.name,
    })
    ctx.log.info({ store: r.store, snapshot: r.snapshot, template: `${relDir}/${filename}`, bytes: copied.size }, 'snapshot made a template')
    return { installPath: `${relDir}/${filename}`, format: sniffed.format, size: copied.size, virtualSize: sniffed.virtualSize, ...(copied.sha256 === undefined ? {} : { checksum: `{SHA-256}${copied.sha256}` }) }
  },
  cleanup: (ctx) => removeKeptTemp(ctx, ctx.request.store),
}
