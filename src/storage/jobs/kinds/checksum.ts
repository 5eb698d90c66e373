import { createHash } from 'node:crypto'
import { formatChecksum, nodeHashName, type ChecksumAlgorithm } from '../../image/checksum.ts'
import { openInStore } from '../../layout/safe-path.ts'
import { readAhead } from '../../install/files.ts'
import type { JobKindHandler } from '../kind.ts'
import type { ChecksumRequest } from '../model.ts'
import { placeProblem, storeProblem } from './checks.ts'

/** The checksum of a stored file, as CloudStack writes checksums (`{SHA-256}hex`). */
export const checksumKind: JobKindHandler<ChecksumRequest> = {
  kind: 'checksum',
  check: (r, stores) => [...storeProblem('/store', r.store, stores), ...placeProblem('/path', r.path, ['template', 'volume', 'snapshot'], 'a file of the store\'s layout')],
  stores: (r) => [r.store],
  async run(ctx) {
    const handle = await openInStore(ctx.storeRoot(ctx.request.store), ctx.request.path)
    const algorithm = (ctx.request.algorithm ?? 'SHA-256') as ChecksumAlgorithm
    const hash = createHash(nodeHashName(algorithm))
    try {
      const total = (await handle.stat()).size
      let at = 0
      await readAhead(handle, ctx.signal, async (chunk) => {
        hash.update(chunk)
        at += chunk.length
        ctx.progress(at, total)
      })
      return { installPath: ctx.request.path, checksum: formatChecksum({ algorithm, hex: hash.digest('hex') }), size: at }
    } finally {
      await handle.close()
    }
  },
}
