import { lookup } from 'node:dns/promises'
import { connect } from 'node:net'
import { withDeadline } from './deadline.ts'

/**
 * The checks CloudStack's ssvm-check.sh makes besides the stores: that names resolve, and that
 * the management server accepts a connection. Each has a deadline, so a dead resolver or a
 * black-holed address answers "failed" instead of hanging the status.
 */

export interface SystemChecksConfig {
  dnsName?: string
  managementAddress?: { host: string; port: number }
}

export interface CheckOutcome { ok: boolean; detail: string; checkedAt: string }
export interface SystemChecks { dns: CheckOutcome | null; management: CheckOutcome | null }

const CHECK_TIMEOUT_MS = 5000

async function outcome(run: () => Promise<string>): Promise<CheckOutcome> {
  const checkedAt = new Date().toISOString()
  try {
    return { ok: true, detail: await run(), checkedAt }
  } catch (err) {
    return { ok: false, detail: (err as Error).message, checkedAt }
  }
}

function tcpConnect(host: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port })
    // The deadline answers the check; this closes the socket a black-holed address leaves pending.
    socket.setTimeout(CHECK_TIMEOUT_MS, () => { socket.destroy(); reject(new Error(`no answer from ${host}:${port}`)) })
    socket.once('connect', () => { socket.destroy(); resolve(`connected to ${host}:${port}`) })
    socket.once('error', (err) => { socket.destroy(); reject(err) })
  })
}

export async function runSystemChecks(config: SystemChecksConfig): Promise<SystemChecks> {
  const { dnsName, managementAddress: m } = config
  const [dns, management] = await Promise.all([
    dnsName === undefined ? null : outcome(async () => {
      const addresses = await withDeadline(lookup(dnsName, { all: true }), CHECK_TIMEOUT_MS, `resolving ${dnsName}`)
      return `${dnsName} is ${addresses.map((a) => a.address).join(', ')}`
    }),
    m === undefined ? null : outcome(() => withDeadline(tcpConnect(m.host, m.port), CHECK_TIMEOUT_MS, `connecting to ${m.host}:${m.port}`)),
  ])
  return { dns, management }
}
