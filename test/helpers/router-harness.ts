import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import { buildApp } from '../../src/router/api/app.ts'
import { createRunner } from '../../src/core/exec.ts'
import { sendApiRequest, type ApiMethod } from '../../src/core/http/client.ts'
import { peerScript } from '../../src/lab/checkout.ts'
import { Lab, labRouterConfig } from '../../src/lab/lab.ts'
import { createLogger } from '../../src/core/log.ts'
import { Metrics } from '../../src/core/metrics.ts'
import { Engine } from '../../src/router/reconcile/engine.ts'
import { ConfigStore } from '../../src/router/store/config-store.ts'

/**
 * A lab plus routerd's engine and API in this process, managing the lab's router namespace.
 * Tests speak to the API through inject() and look at the result with real traffic.
 */

export const TOKEN = 'test-token-0123456789abcdef'
/** The lab's guest-side helper (src/lab/peer.mjs). */
export const PEER = peerScript()

export interface Harness {
  lab: Lab
  engine: Engine
  app: FastifyInstance
  stateDir: string
  api(method: 'GET' | 'PUT' | 'DELETE' | 'POST', url: string, body?: unknown, headers?: Record<string, string>): Promise<{ status: number; body: any }>
  close(): Promise<void>
}

export async function startHarness(opts: { driftCheckMs?: number; maxQueuedEdits?: number } = {}): Promise<Harness> {
  const lab = await Lab.create()
  const stateDir = mkdtempSync(join(tmpdir(), 'routerd-test-'))
  try {
    const log = createLogger('routerd', { level: process.env['SVM_TEST_LOG'] ?? 'silent' })
    const metrics = new Metrics('routerd')
    const engine = new Engine({
      runner: createRunner(lab.ns.rtr), store: new ConfigStore(stateDir), log, metrics,
      stateDir, controlPorts: [8443], driftCheckMs: opts.driftCheckMs ?? 0,
      ...(opts.maxQueuedEdits === undefined ? {} : { maxQueuedEdits: opts.maxQueuedEdits }),
    })
    await engine.start()
    const app = await buildApp({ engine, metrics, token: TOKEN, log })
    return {
      lab, engine, app, stateDir,
      api: injectApi(app),
      async close() {
        engine.stop()
        await app.close()
        await lab.destroy()
        rmSync(stateDir, { recursive: true, force: true })
      },
    }
  } catch (err) {
    await lab.destroy()
    rmSync(stateDir, { recursive: true, force: true })
    throw err
  }
}

/** Starts the peer server in a namespace and waits until it listens. */
export async function serve(lab: Lab, ns: string, proto: 'tcp' | 'udp', ports: string, bind?: string): Promise<void> {
  const p = lab.start(ns, process.execPath, [PEER, 'serve', proto, ports, ...(bind ? [bind] : [])])
  for (let i = 0; i < 100 && !p.output().includes('ready'); i++) await new Promise((r) => setTimeout(r, 20))
  if (!p.output().includes('ready')) throw new Error(`peer did not start: ${p.output()}`)
}

/** An HTTP GET with curl from a namespace: the body, or null if the connection failed. */
export async function curl(lab: Lab, ns: string, url: string, from?: string): Promise<string | null> {
  const bind = from === undefined ? [] : ['--interface', from]
  const r = await lab.exec(ns, 'curl', ['-s', '--max-time', '2', '--connect-timeout', '1', ...bind, url], { okCodes: [0, 7, 28, 45, 52, 56] })
  return r.exitCode === 0 ? r.stdout.trim() : null
}

/** A UDP request/answer from a namespace: the answer, or null. */
export async function udpAsk(lab: Lab, ns: string, host: string, port: number, from?: string, sourcePort?: number): Promise<string | null> {
  const bind = from === undefined ? [] : sourcePort === undefined ? [from] : [from, String(sourcePort)]
  const r = await lab.exec(ns, process.execPath, [PEER, 'ask', 'udp', host, String(port), ...bind], { okCodes: [0, 1] })
  return r.exitCode === 0 ? r.stdout.trim() : null
}

/**
 * The kernel state of a namespace as canonical text: iptables-save without counters, ipset
 * save with members sorted (hash order and initval vary when a set is rebuilt), IPv4
 * addresses, routes and rules. Equal text means equal state.
 */
export async function kernelSnapshot(lab: Lab, ns: string): Promise<string> {
  return kernelListing(lab, ns, lab.exec(ns, 'ipset', ['save'])
    .then((r) => r.stdout.replace(/ initval 0x[0-9a-f]+/g, '').split('\n').sort().join('\n')))
}

/**
 * What the issue names for "nothing changed": iptables-save, ipset list, ip addr, ip route,
 * verbatim but for iptables-save's date comments and packet counters (a late FIN of an earlier
 * test's connection moves a counter; that is traffic, not state), IPv4 only (the kernel adds
 * IPv6 link-local routes on its own schedule as duplicate address detection ends).
 */
export async function rawKernelListing(lab: Lab, ns: string): Promise<string> {
  return kernelListing(lab, ns, lab.exec(ns, 'ipset', ['list']).then((r) => r.stdout))
}

/** iptables-save (no dates, no counters), the given ipset text, IPv4 addresses, routes and rules. */
async function kernelListing(lab: Lab, ns: string, ipsets: Promise<string>): Promise<string> {
  const parts = await Promise.all([
    lab.exec(ns, 'iptables-save', []).then((r) => r.stdout.replace(/^#.*\n/gm, '').replace(/\[\d+:\d+\]/g, '[0:0]')),
    ipsets,
    lab.exec(ns, 'ip', ['-4', 'addr']).then((r) => r.stdout),
    lab.exec(ns, 'ip', ['-4', 'route', 'show', 'table', 'all']).then((r) => r.stdout),
    lab.exec(ns, 'ip', ['-4', 'rule']).then((r) => r.stdout),
  ])
  return parts.join('\n=====\n')
}

export { labRouterConfig }

/** A request to routerd over its unix socket (the core client; no timeout: the test's own bounds it). */
export async function httpUnix(socketPath: string, method: ApiMethod, path: string, body?: unknown, token = TOKEN): Promise<{ status: number; body: any }> {
  const answer = await sendApiRequest({ kind: 'socket', path: socketPath }, { method, path, token, body: body === undefined ? undefined : JSON.stringify(body) })
  return { status: answer.status, body: answer.body }
}

/** Polls `check` until it returns true (bounded: 100 tries, 100 ms apart). */
export async function eventually(check: () => Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (await check().catch(() => false)) return
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error(`timed out waiting for ${what}`)
}

/** Requests through fastify's inject(), with the token: the answer's JSON parsed when it says it is JSON. */
export function injectApi(app: FastifyInstance, token = TOKEN) {
  return async (method: string, url: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: any }> => {
    const res = await app.inject({
      method: method as 'GET', url, headers: { authorization: `Bearer ${token}`, ...headers },
      ...(body === undefined ? {} : { payload: body as object }),
    })
    return { status: res.statusCode, body: String(res.headers['content-type'] ?? '').includes('json') ? res.json() : res.body }
  }
}
