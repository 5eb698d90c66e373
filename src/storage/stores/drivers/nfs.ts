import { lookup } from 'node:dns/promises'
import { mkdir } from 'node:fs/promises'
import { ApplianceError } from '../../../core/errors.ts'
import { binary, run } from '../../../core/exec.ts'
import { mountPointFor } from '../../layout/paths.ts'
import type { Store } from '../../model/config.ts'
import { storeLocation } from '../../model/store-url.ts'
import { isMountPoint } from '../mounts.ts'
import type { StoreDriver } from './driver.ts'

/**
 * NFS stores, mounted as CloudStack's SSVM mounts them, so a store mounted by either is found
 * where the other looks: `<mount root>/<Java name-UUID of "<server ip>:<export path>">`, with
 * `soft,timeo=133,retrans=2147483647,tcp,acdirmax=0,acdirmin=0[,vers=N]`. This machine's
 * kernel has no NFS client: the driver is proven in the booted image (issue 12); here its
 * argv and names are unit-tested.
 */

/** CloudStack's options: a dead server fails calls (soft) instead of hanging the daemon for good. */
export const CLOUDSTACK_NFS_OPTIONS = ['soft', 'timeo=133', 'retrans=2147483647', 'tcp', 'acdirmax=0', 'acdirmin=0'] as const

const MOUNT_TIMEOUT_MS = 120_000

/** Pure. The `mount` argv for a store whose server resolved to `ip`. */
export function nfsMountArgs(store: Store, ip: string, exportPath: string, mountPoint: string): string[] {
  const options = [...CLOUDSTACK_NFS_OPTIONS, ...(store.nfsVersion === undefined ? [] : [`vers=${store.nfsVersion}`]), ...(store.mountOptions ?? [])]
  const server = ip.includes(':') ? `[${ip}]` : ip
  return ['-t', 'nfs', '-o', options.join(','), `${server}:${exportPath}`, mountPoint]
}

export class NfsDriver implements StoreDriver {
  readonly name = 'nfs'

  constructor(private readonly root: string, private readonly resolve: (host: string) => Promise<string> = async (host) => (await lookup(host)).address) {}

  private async server(store: Store): Promise<{ ip: string; exportPath: string; uriPath: string }> {
    const location = storeLocation(store.url)
    if (typeof location === 'string' || location.driver !== 'nfs') throw new ApplianceError('ERR_BAD_STORE_URL', `store ${store.id}: ${store.url} is not an nfs:// URL`)
    try {
      return { ip: await this.resolve(location.host), exportPath: location.exportPath, uriPath: location.uriPath }
    } catch (err) {
      throw new ApplianceError('ERR_MOUNT_FAILED', `store ${store.id}: cannot resolve ${location.host}: ${(err as Error).message}`, { cause: err })
    }
  }

  async mountPoint(store: Store): Promise<string> {
    const { ip, uriPath } = await this.server(store)
    return mountPointFor(ip, uriPath, this.root)
  }

  async attach(store: Store, mountPoint: string): Promise<'mounted' | 'reused'> {
    if (await isMountPoint(mountPoint)) return 'reused'
    const { ip, exportPath } = await this.server(store)
    await mkdir(mountPoint, { recursive: true, mode: 0o755 })
    const r = await run(binary('mount'), nfsMountArgs(store, ip, exportPath, mountPoint), { okCodes: [0, 1, 32], timeoutMs: MOUNT_TIMEOUT_MS })
      .catch((err: unknown) => ({ exitCode: -1, stdout: '', stderr: (err as Error).message }))
    if (r.exitCode !== 0) throw new ApplianceError('ERR_MOUNT_FAILED', `store ${store.id}: mount ${ip}:${exportPath} failed: ${r.stderr.trim().split('\n')[0] ?? `exit ${r.exitCode}`}`)
    return 'mounted'
  }

  async detach(mountPoint: string): Promise<void> {
    if (!(await isMountPoint(mountPoint))) return
    // Lazy and forced: a dead server must not hang the daemon (a stale handle is why we detach).
    await run(binary('umount'), ['-f', '-l', mountPoint], { okCodes: [0, 32], timeoutMs: 30_000 })
  }
}
