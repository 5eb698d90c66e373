#!/usr/bin/env node
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { launch, listenOn, runDaemon } from '../core/daemon/launch.ts'
import { buildStorageApp } from './api/app.ts'
import type { StorageStatus } from './api/contract.ts'
import { StoragedConfig } from './daemon-config.ts'
import { runSystemChecks, type SystemChecks } from './health/system-checks.ts'
import { downloadKind, type DownloadSettings } from './jobs/kinds/download.ts'
import { jobKinds } from './jobs/kinds/index.ts'
import { JobRunner } from './jobs/runner.ts'
import { JobStore } from './jobs/store.ts'
import { InstallingUploadSink } from './install/upload-sink.ts'
import { StorageConfigStore } from './store/config-store.ts'
import { UploadListener } from './upload/server.ts'
import { StoresController } from './stores/controller.ts'
import { NfsDriver } from './stores/drivers/nfs.ts'
import { PathDriver } from './stores/drivers/path.ts'
import { StoreSet } from './stores/store-set.ts'
import { SEC_STORAGE_PARENT } from './layout/paths.ts'

/** The daemon config's download settings, in the units the fetcher takes. */
function downloadSettings(daemon: StoragedConfig): DownloadSettings {
  const d = daemon.download ?? {}
  const ms = (s: number | undefined) => (s === undefined ? undefined : s * 1000)
  return {
    proxy: d.proxy, maxBytes: d.maxBytes, connectTimeoutMs: ms(d.connectTimeoutSeconds), idleTimeoutMs: ms(d.idleTimeoutSeconds),
    retries: d.retries, retryDelayMs: ms(d.retryDelaySeconds),
  }
}

/**
 * storaged: keeps the image stores attached, runs the jobs on them, serves the control API.
 * Usage: storaged --config /etc/systemvm/storaged.json
 */
async function main(): Promise<void> {
  const { daemon, log, token, metrics, memory } = launch('storaged', StoragedConfig)

  const stores = new StoreSet({ nfs: new NfsDriver(daemon.mountRoot ?? SEC_STORAGE_PARENT), path: new PathDriver() }, log.child({ component: 'stores' }))
  // The runner and the controller each need the other's view (stores in use, stores configured).
  const controller: StoresController = new StoresController({
    store: new StorageConfigStore(daemon.stateDir), stores, log: log.child({ component: 'config' }), metrics,
    storesInUse: () => jobs.storesInUse(), onEdited: () => runCheck(),
  })
  const jobs: JobRunner = new JobRunner({
    store: new JobStore(daemon.stateDir), kinds: jobKinds([downloadKind(downloadSettings(daemon))]), log: log.child({ component: 'jobs' }), metrics,
    maxConcurrent: daemon.maxConcurrentJobs ?? 4, keepFinished: daemon.keepFinishedJobs ?? 1000,
    configuredStores: () => new Set(controller.config().config.stores.map((s) => s.id)),
    storeRoot: (id) => stores.root(id),
  })
  await controller.start()
  jobs.start()

  let checks: SystemChecks = { dns: null, management: null }
  const checkAll = async () => {
    const [health, system] = await Promise.all([stores.check(), runSystemChecks(daemon.checks ?? {})])
    checks = system
    for (const h of health) {
      metrics.set('store_up', 'The store is attached and writable (1) or not (0)', h.mounted && h.writable ? 1 : 0, { store: h.id })
      if (h.freeBytes !== null) metrics.set('store_free_bytes', 'Bytes free on the store', h.freeBytes, { store: h.id })
      if (h.usedBytes !== null) metrics.set('store_used_bytes', 'Bytes used on the store', h.usedBytes, { store: h.id })
      metrics.setCounter('store_remounts_total', 'Stale or hung mounts mounted again', h.remounts, { store: h.id })
    }
  }
  // One check at a time; one asked for while another runs follows it (an edit's new store is checked).
  let checking = false
  let again = false
  const runCheck = (): void => {
    if (checking) {
      again = true
      return
    }
    checking = true
    again = false
    checkAll().catch((err: unknown) => log.warn({ err }, 'health check failed')).finally(() => {
      checking = false
      if (again) runCheck()
    })
  }
  runCheck()
  const intervalMs = (daemon.healthCheckSeconds ?? 30) * 1000
  const timer = intervalMs === 0 ? undefined : setInterval(runCheck, intervalMs)
  timer?.unref()

  const ready = () => stores.health().every((h) => h.mounted)
  const status = async (): Promise<StorageStatus> => ({
    ready: ready(), generation: controller.config().generation, stores: stores.health(), checks, jobs: jobs.counts(),
    problems: [...controller.storeProblems().map((p) => `${p.code}: ${p.message}`), ...jobs.problems()],
  })
  const u = daemon.uploads
  const uploads = u === undefined ? undefined : new UploadListener({
    log, metrics, sink: new InstallingUploadSink((id) => stores.root(id), log.child({ component: 'upload-sink' })), stateDir: join(daemon.stateDir, 'uploads'),
    host: u.listen.host, port: u.listen.port,
    ...(u.corsOrigins === undefined ? {} : { corsOrigins: u.corsOrigins }),
    ...(u.maxConcurrentUploads === undefined ? {} : { maxConcurrentUploads: u.maxConcurrentUploads }),
    ...(u.maxUploadBytes === undefined ? {} : { maxUploadBytes: u.maxUploadBytes }),
    ...(u.maxConnections === undefined ? {} : { maxConnections: u.maxConnections }),
    ...(u.maxConnectionsPerClient === undefined ? {} : { maxConnectionsPerClient: u.maxConnectionsPerClient }),
  })
  const tls = daemon.tls === undefined ? undefined : { cert: readFileSync(daemon.tls.certFile), key: readFileSync(daemon.tls.keyFile) }
  const app = await buildStorageApp({
    controller, jobs, status, storeRoot: (id) => stores.root(id), ready, token, log, metrics,
    requestTimeoutMs: (daemon.requestTimeoutSeconds ?? 30) * 1000, ...(tls === undefined ? {} : { tls }),
    ...(uploads === undefined ? {} : { uploads: { listener: uploads, stateDir: join(daemon.stateDir, 'uploads'), storeRoot: (id: string) => stores.root(id), log } }),
  })
  await uploads?.start()
  const address = await listenOn(app, daemon.listen)
  log.info({ address, generation: controller.config().generation }, 'storaged serving')
  const shutdown = (signal: string) => {
    log.info({ signal }, 'storaged stopping')
    clearInterval(timer)
    jobs.stop()
    memory.stop()
    Promise.all([app.close(), uploads?.stop()]).then(() => process.exit(0), () => process.exit(1))
  }
  process.once('SIGTERM', () => shutdown('SIGTERM'))
  process.once('SIGINT', () => shutdown('SIGINT'))
}

runDaemon('storaged', main)
