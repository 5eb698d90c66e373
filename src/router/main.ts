#!/usr/bin/env node
import { readFileSync, statSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { buildApp } from './api/app.ts'
import { loadRouterdConfig } from './daemon-config.ts'
import { createRunner } from '../core/exec.ts'
import { guardProcess, removeStaleSocket } from '../core/daemon/launch.ts'
import { createLogger } from '../core/log.ts'
import { MemoryRelease } from '../core/memory-release.ts'
import type { EditFacts } from './model/facts.ts'
import { Metrics } from '../core/metrics.ts'
import { publishProcessMemory } from '../core/process-metrics.ts'
import { Engine } from './reconcile/engine.ts'
import { ROLES } from './roles.ts'
import { GuestServices } from './services/index.ts'
import { ConfigStore } from './store/config-store.ts'

/**
 * routerd: applies the stored config to the kernel, then serves the control API.
 * Usage: routerd --config /etc/systemvm/routerd.json
 */
async function main(): Promise<void> {
  const { values } = parseArgs({ options: { config: { type: 'string', default: '/etc/systemvm/routerd.json' } } })
  const daemon = loadRouterdConfig(values.config as string)
  const log = createLogger('routerd', daemon.logLevel === undefined ? {} : { level: daemon.logLevel })
  const token = readFileSync(daemon.tokenFile, 'utf8').trim()
  if (token.length < 16) throw new Error(`token in ${daemon.tokenFile} is shorter than 16 characters`)
  if ((statSync(daemon.tokenFile).mode & 0o077) !== 0) log.warn({ tokenFile: daemon.tokenFile }, 'token file is readable by others than its owner')
  const metrics = new Metrics('routerd')
  guardProcess(log, metrics)
  const memory = new MemoryRelease()
  memory.startIdleWatch()
  publishProcessMemory(metrics, memory)
  const controlPorts = [...(daemon.controlPorts ?? []), ...('port' in daemon.listen ? [daemon.listen.port] : [])]
  const role = daemon.role ?? 'router'
  // The engine is made next; a service reports run-time facts only once both run.
  const services = new GuestServices({ stateDir: daemon.stateDir, log, metrics, setRuntime: (name, value) => engine.setRuntime(name, value) }, ROLES[role].services)
  await services.open()
  const engine = new Engine({
    runner: createRunner(daemon.netns), store: new ConfigStore(daemon.stateDir), log, metrics,
    stateDir: daemon.stateDir, controlPorts, driftCheckMs: (daemon.driftCheckSeconds ?? 30) * 1000,
    onConfig: (config, facts, generation, edited) => services.onConfig(config, facts, generation, edited), memory, role,
    editFacts: (): EditFacts => services.editFacts(),
  })
  await engine.start()
  const tls = daemon.tls === undefined ? undefined : { cert: readFileSync(daemon.tls.certFile), key: readFileSync(daemon.tls.keyFile) }
  const app = await buildApp({
    engine, metrics, token, log, services, role,
    requestTimeoutMs: (daemon.requestTimeoutSeconds ?? 30) * 1000, ...(tls === undefined ? {} : { tls }),
  })
  if ('path' in daemon.listen) await removeStaleSocket(daemon.listen.path)
  const address = 'path' in daemon.listen
    ? await app.listen({ path: daemon.listen.path })
    : await app.listen({ host: daemon.listen.host, port: daemon.listen.port })
  log.info({ address, generation: engine.status().appliedGeneration }, 'routerd serving')
  const shutdown = (signal: string) => {
    log.info({ signal }, 'routerd stopping')
    engine.stop()
    memory.stop()
    Promise.all([app.close(), services.close()]).then(() => process.exit(0), () => process.exit(1))
  }
  process.once('SIGTERM', () => shutdown('SIGTERM'))
  process.once('SIGINT', () => shutdown('SIGINT'))
}

main().catch((err: unknown) => {
  process.stderr.write(`routerd: ${err instanceof Error ? err.message : String(err)}\n`)
  if (err && typeof err === 'object' && 'diagnostics' in err) process.stderr.write(`${JSON.stringify((err as { diagnostics: unknown }).diagnostics, null, 2)}\n`)
  process.exit(1)
})
