#!/usr/bin/env node
import { existsSync, lstatSync, readFileSync, statSync, unlinkSync } from 'node:fs'
import { connect } from 'node:net'
import { parseArgs } from 'node:util'
import { buildApp } from './api/app.ts'
import { loadRouterdConfig } from './daemon-config.ts'
import { createRunner } from '../core/exec.ts'
import { createLogger, type Logger } from '../core/log.ts'
import { MemoryRelease } from '../core/memory-release.ts'
import type { EditFacts } from './model/facts.ts'
import { Metrics } from '../core/metrics.ts'
import { publishProcessMemory } from '../core/process-metrics.ts'
import { Engine } from './reconcile/engine.ts'
import { ROLES } from './roles.ts'
import { GuestServices } from './services/index.ts'
import { ConfigStore } from './store/config-store.ts'

/** A socket file left by a killed daemon blocks listen(); remove it unless something answers on it. */
async function removeStaleSocket(path: string): Promise<void> {
  if (!existsSync(path) || !lstatSync(path).isSocket()) return
  const alive = await new Promise<boolean>((resolve) => {
    const probe = connect(path)
    probe.once('connect', () => { probe.destroy(); resolve(true) })
    probe.once('error', () => resolve(false))
  })
  if (alive) throw new Error(`another daemon is serving on ${path}`)
  unlinkSync(path)
}

/**
 * Nothing a packet makes a handler throw may end the daemon (DHCP, DNS and the API of every
 * network would go with it), and nothing but JSON lines may reach the log: node's own warnings
 * (e.g. DEP0112 from the sockopt package) go through pino too.
 */
function guardProcess(log: Logger, metrics: Metrics): void {
  process.removeAllListeners('warning')
  process.on('warning', (warning) => {
    log.warn({ warning: { name: warning.name, code: (warning as { code?: string }).code, message: warning.message } }, 'node warning')
  })
  process.on('uncaughtException', (err, origin) => {
    metrics.inc('uncaught_errors_total', 'Exceptions and rejections no handler caught (the daemon kept running)', { origin })
    log.error({ err, origin }, 'uncaught exception; routerd keeps running')
  })
  process.on('unhandledRejection', (reason) => {
    metrics.inc('uncaught_errors_total', 'Exceptions and rejections no handler caught (the daemon kept running)', { origin: 'unhandledRejection' })
    log.error({ err: reason }, 'unhandled rejection; routerd keeps running')
  })
}

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
