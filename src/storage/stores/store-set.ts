import { mkdir, open, rm, stat, statfs } from 'node:fs/promises'
import { join } from 'node:path'
import { ApplianceError, errorCode } from '../../core/errors.ts'
import type { Logger } from '../../core/log.ts'
import type { Store } from '../model/config.ts'
import { storeLocation } from '../model/store-url.ts'
import { withDeadline } from '../health/deadline.ts'
import type { StoreDriver } from './drivers/driver.ts'

/**
 * The stores storaged keeps attached, and their health. apply() brings a new desired list in:
 * every store mounted (or found) with `snapshots/` and `volumes/` made, as CloudStack's SSVM
 * makes them after mounting; if one fails, the stores attached by this call are detached again
 * and the error thrown, so a refused edit leaves the mounts as they were. check() probes each:
 * a file written, fsynced and removed (writable), free and used bytes, and a stale handle
 * (ESTALE), which is answered with a detach and a new mount.
 */

export interface StoreHealth {
  id: string
  url: string
  driver: 'nfs' | 'path'
  mountPoint: string | null
  mounted: boolean
  writable: boolean
  totalBytes: number | null
  freeBytes: number | null
  usedBytes: number | null
  remounts: number
  lastError: { code: string; message: string } | null
  checkedAt: string | null
}

interface Attached { store: Store; driver: StoreDriver; mountPoint: string; health: StoreHealth }

const PROBE_TIMEOUT_MS = 10_000

export class StoreSet {
  private attached = new Map<string, Attached>()
  /** Stores in the config that could not be attached at start, with why. */
  private readonly waiting = new Map<string, { store: Store; error: { code: string; message: string } }>()

  constructor(private readonly drivers: { nfs: StoreDriver; path: StoreDriver }, private readonly log: Logger) {}

  private driverFor(store: Store): StoreDriver {
    const location = storeLocation(store.url)
    if (typeof location === 'string') throw new ApplianceError('ERR_BAD_STORE_URL', `store ${store.id}: the URL ${location}`)
    return this.drivers[location.driver]
  }

  /** Where store `id`'s files are, while it is attached. */
  root(id: string): string | undefined {
    return this.attached.get(id)?.mountPoint
  }

  /**
   * Attaches the stores of `stores` that are new or changed and detaches those gone; all or
   * nothing (an edit). A store that is unchanged and still waiting for its server (see
   * attachAvailable) stays waiting: it does not block edits of the others.
   */
  async apply(stores: readonly Store[]): Promise<void> {
    const fresh = new Map<string, Attached>()
    const same = (a: Store, b: Store | undefined) => b !== undefined && JSON.stringify(a) === JSON.stringify(b)
    try {
      for (const store of stores) {
        if (same(store, this.attached.get(store.id)?.store) || same(store, this.waiting.get(store.id)?.store)) continue
        fresh.set(store.id, await this.attachOne(store))
      }
    } catch (err) {
      const before = new Set([...this.attached.values()].map((a) => a.mountPoint))
      for (const a of fresh.values()) if (!before.has(a.mountPoint)) await a.driver.detach(a.mountPoint).catch(() => undefined)
      throw err
    }
    const wanted = new Set(stores.map((s) => s.id))
    const next = new Map<string, Attached>()
    for (const s of stores) {
      const a = fresh.get(s.id) ?? this.attached.get(s.id)
      if (a !== undefined) next.set(s.id, a)
    }
    for (const id of this.waiting.keys()) if (!wanted.has(id) || fresh.has(id)) this.waiting.delete(id)
    await this.detachUnused(next)
    this.attached = next
  }

  /**
   * At start: attaches every store it can; one whose server is away waits (listed unhealthy,
   * tried again at each check) instead of keeping the daemon from serving the others.
   */
  async attachAvailable(stores: readonly Store[]): Promise<void> {
    const next = new Map<string, Attached>()
    for (const store of stores) {
      try {
        next.set(store.id, await this.attachOne(store))
      } catch (err) {
        this.log.warn({ store: store.id, err }, 'store cannot be attached yet')
        this.waiting.set(store.id, { store, error: { code: errorCode(err) ?? 'ERR_MOUNT_FAILED', message: (err as Error).message } })
      }
    }
    await this.detachUnused(next)
    this.attached = next
  }

  private async detachUnused(next: ReadonlyMap<string, Attached>): Promise<void> {
    const inUse = new Set([...next.values()].map((a) => a.mountPoint))
    for (const a of this.attached.values()) {
      if (!inUse.has(a.mountPoint)) await a.driver.detach(a.mountPoint).catch((err: unknown) => this.log.warn({ err, store: a.store.id }, 'cannot detach store'))
    }
  }

  private async attachOne(store: Store): Promise<Attached> {
    const driver = this.driverFor(store)
    const mountPoint = await driver.mountPoint(store)
    const how = await driver.attach(store, mountPoint)
    for (const dir of ['snapshots', 'volumes']) await mkdir(join(mountPoint, dir), { recursive: true })
    this.log.info({ store: store.id, mountPoint, how }, 'store attached')
    return {
      store, driver, mountPoint,
      health: { id: store.id, url: store.url, driver: driver.name, mountPoint, mounted: true, writable: false, totalBytes: null, freeBytes: null, usedBytes: null, remounts: 0, lastError: null, checkedAt: null },
    }
  }

  /** Probes every attached store (a stale handle is remounted) and tries the waiting ones again. */
  async check(): Promise<StoreHealth[]> {
    for (const a of this.attached.values()) await this.checkOne(a)
    for (const [id, w] of [...this.waiting]) {
      try {
        const a = await this.attachOne(w.store)
        this.waiting.delete(id)
        this.attached.set(id, a)
        await this.checkOne(a)
      } catch (err) {
        w.error = { code: errorCode(err) ?? 'ERR_MOUNT_FAILED', message: (err as Error).message }
      }
    }
    return this.health()
  }

  health(): StoreHealth[] {
    const waiting: StoreHealth[] = [...this.waiting.values()].map(({ store, error }) => ({
      id: store.id, url: store.url, driver: this.driverName(store), mountPoint: null, mounted: false, writable: false,
      totalBytes: null, freeBytes: null, usedBytes: null, remounts: 0, lastError: error, checkedAt: null,
    }))
    return [...[...this.attached.values()].map((a) => ({ ...a.health })), ...waiting].sort((x, y) => (x.id < y.id ? -1 : 1))
  }

  private driverName(store: Store): 'nfs' | 'path' {
    const location = storeLocation(store.url)
    return typeof location === 'string' ? 'path' : location.driver
  }

  private async checkOne(a: Attached): Promise<void> {
    const h = a.health
    try {
      await this.probe(a)
      h.lastError = null
    } catch (err) {
      h.writable = false
      h.lastError = { code: errorCode(err) ?? 'ERR_STORE_PROBE', message: (err as Error).message }
      if ((err as NodeJS.ErrnoException).code === 'ESTALE' || errorCode(err) === 'ERR_STORE_TIMEOUT') {
        this.log.warn({ store: h.id, err }, 'store handle stale or hung; mounting again')
        try {
          await a.driver.detach(a.mountPoint)
          await a.driver.attach(a.store, a.mountPoint)
          h.remounts++
          await this.probe(a)
          h.lastError = null
        } catch (again) {
          h.mounted = false
          h.lastError = { code: errorCode(again) ?? 'ERR_MOUNT_FAILED', message: (again as Error).message }
        }
      }
    }
    h.checkedAt = new Date().toISOString()
  }

  private async probe(a: Attached): Promise<void> {
    const h = a.health
    await withDeadline(stat(a.mountPoint), PROBE_TIMEOUT_MS, `stat ${a.mountPoint}`)
    h.mounted = true
    const fs = await withDeadline(statfs(a.mountPoint), PROBE_TIMEOUT_MS, `statfs ${a.mountPoint}`)
    h.totalBytes = fs.blocks * fs.bsize
    h.freeBytes = fs.bavail * fs.bsize
    h.usedBytes = (fs.blocks - fs.bfree) * fs.bsize
    const probe = join(a.mountPoint, `.storaged-probe-${process.pid}`)
    await withDeadline((async () => {
      const f = await open(probe, 'w', 0o600)
      try {
        await f.writeFile('probe\n')
        await f.sync()
      } finally {
        await f.close()
      }
      await rm(probe, { force: true })
    })(), PROBE_TIMEOUT_MS, `write probe in ${a.mountPoint}`)
    h.writable = true
  }
}
