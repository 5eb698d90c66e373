import { existsSync, lstatSync, unlinkSync } from 'node:fs'
import { connect } from 'node:net'
import type { Logger } from '../log.ts'
import type { Metrics } from '../metrics.ts'

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

