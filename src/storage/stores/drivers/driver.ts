import type { Store } from '../../model/config.ts'

/**
 * How a store gets to be a directory storaged can write. Two drivers: `nfs` mounts the export
 * itself; `path` takes a directory someone else mounted. Both answer the same questions, so
 * nothing above them knows which one it has.
 */
export interface StoreDriver {
  readonly name: 'nfs' | 'path'
  /** Where the store's files are (nfs: the mount point under the mount root, named as CloudStack names it). */
  mountPoint(store: Store): Promise<string>
  /** Makes the store's directory usable: mounted (or a mount already there reused), or present. Throws ERR_MOUNT_FAILED. */
  attach(store: Store, mountPoint: string): Promise<'mounted' | 'reused' | 'present'>
  /** Undoes attach when the store is removed or must be mounted again (a stale handle). */
  detach(mountPoint: string): Promise<void>
}
