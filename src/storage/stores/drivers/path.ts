import { stat } from 'node:fs/promises'
import { ApplianceError } from '../../../core/errors.ts'
import type { Store } from '../../model/config.ts'
import { storeLocation } from '../../model/store-url.ts'
import type { StoreDriver } from './driver.ts'

/**
 * A store that is a directory someone else mounted (an operator's own NFS mount, a local disk,
 * the tests' directories): storaged uses it where it is and never mounts or unmounts it.
 */
export class PathDriver implements StoreDriver {
  readonly name = 'path'

  async mountPoint(store: Store): Promise<string> {
    const location = storeLocation(store.url)
    if (typeof location === 'string' || location.driver !== 'path') throw new ApplianceError('ERR_BAD_STORE_URL', `store ${store.id}: ${store.url} is not a file:// URL`)
    return location.path
  }

  async attach(store: Store, mountPoint: string): Promise<'present'> {
    const s = await stat(mountPoint).catch((err: NodeJS.ErrnoException) => {
      throw new ApplianceError('ERR_MOUNT_FAILED', `store ${store.id}: ${mountPoint}: ${err.code ?? err.message}`, { cause: err })
    })
    if (!s.isDirectory()) throw new ApplianceError('ERR_MOUNT_FAILED', `store ${store.id}: ${mountPoint} is not a directory`)
    return 'present'
  }

  async detach(): Promise<void> {
    // Not ours to unmount.
  }
}
