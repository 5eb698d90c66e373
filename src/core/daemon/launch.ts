import { existsSync, lstatSync, readFileSync, statSync, unlinkSync } from 'node:fs'
import { connect } from 'node:net'
import { parseArgs } from 'node:util'
import type { FastifyInstance } from 'fastify'
import type { TObject, Static } from 'typebox'
import { loadDaemonConfig } from '../daemon-config.ts'
import { createLogger, type Logger } from '../log.ts'
import { MemoryRelease } from '../memory-release.ts'
import { Metrics } from '../metrics.ts'
import { publishProcessMemory } from '../process-metrics.ts'

/** What every daemon does at launch, before it serves. */

/** A socket file left by a killed daemon blocks listen(); remove it unless something answers on it. */
export async function removeStaleSocket(path: string): Promise<void> {
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
 * Nothing a packet or a request makes a handler throw may end the daemon (for routerd: DHCP,
 * DNS and the API of every network would go with it), and nothing but JSON lines may reach the
 * log: node's own warnings (e.g. DEP0112 from the sockopt package) go through pino too.
 */
export function guardProcess(log: Logger, metrics: Metrics): void {
  process.removeAllListeners('warning')
  process.on('warning', (warning) => {
    log.warn({ warning: { name: warning.name, code: (warning as { code?: string }).code, message: warning.message } }, 'node warning')
  })
  process.on('uncaughtException', (err, origin) => {
    metrics.inc('uncaught_errors_total', 'Exceptions and rejections no handler caught (the daemon kept running)', { origin })
    log.error({ err, origin }, 'uncaught exception; the daemon keeps running')
  })
  process.on('unhandledRejection', (reason) => {
    metrics.inc('uncaught_errors_total', 'Exceptions and rejections no handler caught (the daemon kept running)', { origin: 'unhandledRejection' })
    log.error({ err: reason }, 'unhandled rejection; the daemon keeps running')
  })
}


/** The API token: at least 16 characters; a file others can read is logged. */
export function readToken(tokenFile: string, log: Logger): string {
  const token = readFileSync(tokenFile, 'utf8').trim()
  if (token.length < 16) throw new Error(`token in ${tokenFile} is shorter than 16 characters`)
  if ((statSync(tokenFile).mode & 0o077) !== 0) log.warn({ tokenFile }, 'token file is readable by others than its owner')
  return token
}

/** Listens where the daemon config says: a TCP host and port, or a unix socket (a stale one removed first). */
export async function listenOn(app: FastifyInstance, listen: { host: string; port: number } | { path: string }): Promise<string> {
  if ('path' in listen) {
    await removeStaleSocket(listen.path)
    return app.listen({ path: listen.path })
  }
  return app.listen({ host: listen.host, port: listen.port })
}

/** Runs a daemon's main; a failure to start is written to stderr (with a config's diagnostics) and exits 1. */
export function runDaemon(name: string, main: () => Promise<void>): void {
  main().catch((err: unknown) => {
    process.stderr.write(`${name}: ${err instanceof Error ? err.message : String(err)}\n`)
    if (err && typeof err === 'object' && 'diagnostics' in err) process.stderr.write(`${JSON.stringify((err as { diagnostics: unknown }).diagnostics, null, 2)}\n`)
    process.exit(1)
  })
}

/** What every daemon has once launched: its config, log, token, metrics and memory release. */
export interface Launched<C> { daemon: C; log: Logger; token: string; metrics: Metrics; memory: MemoryRelease }

/**
 * The first steps of every daemon's main: `--config` read and validated against its schema,
 * the logger and metrics named after it, the token read, the process guarded, memory watched.
 */
export function launch<S extends TObject>(name: string, schema: S, argv: string[] = process.argv.slice(2)): Launched<Static<S> & { logLevel?: string; tokenFile: string }> {
  const { values } = parseArgs({ args: argv, options: { config: { type: 'string', default: `/etc/systemvm/${name}.json` } } })
  const daemon = loadDaemonConfig(schema, values.config as string) as Static<S> & { logLevel?: string; tokenFile: string }
  const log = createLogger(name, daemon.logLevel === undefined ? {} : { level: daemon.logLevel })
  const token = readToken(daemon.tokenFile, log)
  const metrics = new Metrics(name)
  guardProcess(log, metrics)
  const memory = new MemoryRelease()
  memory.startIdleWatch()
  publishProcessMemory(metrics, memory)
  return { daemon, log, token, metrics, memory }
}
