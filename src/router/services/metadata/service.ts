import type { FastifyInstance } from 'fastify'
import { join } from 'node:path'
import { BlobStore } from '../../../core/files/blob-store.ts'
import type { RouterConfig } from '../../model/config.ts'
import type { HostFacts } from '../../model/facts.ts'
import type { RouterService, ServiceContext, ServiceEntry } from '../service.ts'
import { compileCatalog, userDataReferences } from './catalog.ts'
import { passwordKeeper } from './password-keep.ts'
import { PasswordStore } from './password-store.ts'
import { metadataRoutes } from './routes.ts'
import { MetadataServer } from './server.ts'
import { metadataCertificate } from './tls.ts'

/**
 * Metadata, user data and passwords for the VMs of every guest network that serves them (each VM
 * reads only its own): the guest servers (server.ts), the user data blobs and the passwords
 * (both outside the config), and their control API routes.
 */

const MAX_USER_DATA_BYTES = 1024 * 1024
/** User data no vmData item names is removed this long after its upload (it waits for its config). */
const UNNAMED_USER_DATA_GRACE_MS = 60 * 60 * 1000
const SWEEP_MS = 10 * 60 * 1000

class MetadataService implements RouterService {
  private readonly blobs: BlobStore
  private readonly passwords: PasswordStore
  private readonly server: MetadataServer
  private config: RouterConfig | undefined
  private certificate: Promise<{ cert: Buffer; key: Buffer }> | undefined

  constructor(private readonly ctx: ServiceContext) {
    this.blobs = new BlobStore(join(ctx.stateDir, 'user-data'), MAX_USER_DATA_BYTES)
    this.passwords = new PasswordStore(ctx.stateDir)
    this.server = new MetadataServer({
      log: ctx.log, metrics: ctx.metrics, blobs: this.blobs, passwords: this.passwords,
      // Made once; a failure (no openssl) is tried again at the next network's listen.
      tls: () => (this.certificate ??= metadataCertificate(this.ctx.stateDir).catch((err: unknown) => {
        this.certificate = undefined
        throw err
      })),
    })
  }

  private sweepTimer: NodeJS.Timeout | undefined

  async open(): Promise<void> {
    this.blobs.open()
    this.passwords.open()
    this.sweepTimer = setInterval(() => this.sweep(), SWEEP_MS).unref()
  }

  /** Drops user data the config in force has not named for an hour after its upload. */
  private sweep(): void {
    if (this.config === undefined) return
    const named = userDataReferences(this.config)
    try {
      const removed = this.blobs.sweep((sha256) => named.has(sha256), UNNAMED_USER_DATA_GRACE_MS)
      if (removed.length > 0) this.ctx.log.info({ count: removed.length }, 'removed user data no VM names')
    } catch (err) {
      this.ctx.log.error({ err }, 'cannot remove unnamed user data')
    }
  }

  update(config: RouterConfig): Promise<void> {
    this.dropStalePasswords(config)
    this.config = config
    return this.server.update(compileCatalog(config))
  }

  private dropStalePasswords(next: RouterConfig): void {
    try {
      const dropped = this.passwords.retain(passwordKeeper(this.config, next))
      if (dropped.length > 0) this.ctx.log.info({ count: dropped.length, dropped }, 'dropped passwords whose VM is gone')
    } catch (err) {
      // The file could not be written: nothing was dropped; the next config change tries again.
      this.ctx.log.error({ err }, 'cannot drop the passwords of removed VMs')
    }
  }

  editFacts(): Pick<HostFacts, 'userData'> {
    return { userData: this.blobs.index() }
  }

  routes(app: FastifyInstance): void {
    metadataRoutes(app, { blobs: this.blobs, passwords: this.passwords, config: () => this.config })
  }

  async close(): Promise<void> {
    clearInterval(this.sweepTimer)
    this.server.close()
  }
}

export const metadataService: ServiceEntry = {
  name: 'metadata',
  collections: ['interfaces', 'guestNetworks', 'dhcpHosts', 'vmData', 'staticNats', 'publicIps'],
  create: (ctx) => new MetadataService(ctx),
}
