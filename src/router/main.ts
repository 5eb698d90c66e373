#!/usr/bin/env node
import { readFileSync } from 'node:fs'
import type { Logger } from 'pino'
import { buildApp } from './api/app.ts'
import { RouterdConfig } from './daemon-config.ts'
import { createRunner } from '../core/exec.ts'
import { launch, listenOn, runDaemon } from '../core/daemon/launch.ts'
import type { EditFacts } from './model/facts.ts'
import { Engine } from './reconcile/engine.ts'
import { ROLES } from './roles.ts'
import { GuestServices } from './services/index.ts'
import { ConfigStore } from './store/config-store.ts'

/**
 * routerd: applies the stored config to the kernel, then serves the control API.
 * Usage: routerd --config /etc/systemvm/routerd.json
 */
async function main(): Promise<void> {
  const { daemon, log, token, metrics, memory } = launch('routerd', RouterdConfig)
  const controlPorts = [...(daemon.controlPorts ?? []), ...('port' in daemon.listen ? [daemon.listen.port] : [])]
  const role = daemon.role ?? 'router'
  // The engine is made next; a service reports run-time facts only once both run.
  const services = new GuestServices({ stateDir: daemon.stateDir, log, metrics, setRuntime: (name, value) => engine.setRuntime(name, value) }, ROLES[role].services)
  await services.open()
  const engine = new Engine({
    runner: createRunner(daemon.netns, { prestart: true }), store: new ConfigStore(daemon.stateDir), log, metrics,
    stateDir: daemon.stateDir, controlPorts, driftCheckMs: (daemon.driftCheckSeconds ?? 30) * 1000,
    onConfig: (config, facts, generation, edited) => services.onConfig(config, facts, generation, edited), memory, role,
    editFacts: (): EditFacts => services.editFacts(),
    ...(daemon.initialConfigFile === undefined ? {} : { initialConfig: readInitialConfig(daemon.initialConfigFile, log) }),
  })
  await engine.start()
  const tls = daemon.tls === undefined ? undefined : { cert: readFileSync(daemon.tls.certFile), key: readFileSync(daemon.tls.keyFile) }
  const app = await buildApp({
    engine, metrics, token, log, services, role,
    requestTimeoutMs: (daemon.requestTimeoutSeconds ?? 30) * 1000, ...(tls === undefined ? {} : { tls }),
  })
  const address = await listenOn(app, daemon.listen)
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

/** The initial document, or undefined (logged) when it cannot be read as JSON: routerd starts empty then. */
function readInitialConfig(path: string, log: Logger): unknown {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as unknown
  } catch (err) {
    log.error({ err, path }, 'initial config unreadable')
    return undefined
  }
}

runDaemon('routerd', main)
