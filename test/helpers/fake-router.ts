import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import type { RunOptions, RunResult, Runner } from '../../src/core/exec.ts'
import { createLogger } from '../../src/core/log.ts'
import { Metrics } from '../../src/core/metrics.ts'
import { LAB_ADDR, LAB_MACS, labRouterConfig } from '../../src/lab/lab.ts'
import { buildApp } from '../../src/router/api/app.ts'
import { FakeKernel } from '../../src/router/kernel/fake/index.ts'
import { Engine } from '../../src/router/reconcile/engine.ts'
import { ConfigStore } from '../../src/router/store/config-store.ts'
import { injectApi, TOKEN } from './router-harness.ts'

export { TOKEN }

/**
 * routerd's engine, store and API in this process on the fake kernel: what
 * test/helpers/router-harness.ts does with a namespace lab, without root. The fake has the lab
 * router's links (same names and MACs, down until routerd brings them up), so the lab's
 * config documents apply unchanged.
 */


/** The lab router's NICs: eth0 control, eth1 guest, eth2/eth3 public, eth4 a second guest. */
export const LAB_LINKS = [
  { name: 'eth0', mac: LAB_MACS.control },
  { name: 'eth1', mac: LAB_MACS.guest },
  { name: 'eth2', mac: LAB_MACS.public0 },
  { name: 'eth3', mac: LAB_MACS.public1 },
  { name: 'eth4', mac: LAB_MACS.guest2 },
]

export interface FakeRouter {
  kernel: FakeKernel
  engine: Engine
  store: ConfigStore
  app: FastifyInstance
  stateDir: string
  api(method: 'GET' | 'PUT' | 'DELETE' | 'POST', url: string, body?: unknown, headers?: Record<string, string>): Promise<{ status: number; body: any }>
  close(): Promise<void>
}

export interface FakeRouterOptions {
  maxQueuedEdits?: number
  /** A kernel prepared by the test (links, sets squatted…); default: a fresh one with LAB_LINKS. */
  kernel?: FakeKernel
  /** What the engine runs tools through (default: the kernel itself), e.g. a ProbeRunner around it. */
  runner?: (kernel: FakeKernel) => Runner
  /** A store prepared by the test (e.g. one whose writes fail); default: a ConfigStore in stateDir. */
  store?: (stateDir: string) => ConfigStore
  /** The state directory to use (a test that restarts the engine on the same store); default: a new one. */
  stateDir?: string
  /** The boot line's first document (EngineOptions.initialConfig). */
  initialConfig?: unknown
}

export async function startFakeRouter(opts: FakeRouterOptions = {}): Promise<FakeRouter> {
  const stateDir = opts.stateDir ?? mkdtempSync(join(tmpdir(), 'routerd-fake-'))
  try {
    const kernel = opts.kernel ?? new FakeKernel({ links: LAB_LINKS })
    const store = opts.store?.(stateDir) ?? new ConfigStore(stateDir)
    const log = createLogger('routerd', { level: process.env['SVM_TEST_LOG'] ?? 'silent' })
    const metrics = new Metrics('routerd')
    const engine = new Engine({
      runner: opts.runner?.(kernel) ?? kernel, store, log, metrics, stateDir, controlPorts: [8443], driftCheckMs: 0,
      ...(opts.maxQueuedEdits === undefined ? {} : { maxQueuedEdits: opts.maxQueuedEdits }),
      ...(opts.initialConfig === undefined ? {} : { initialConfig: opts.initialConfig }),
    })
    await engine.start()
    const app = await buildApp({ engine, metrics, token: TOKEN, log })
    return {
      kernel, engine, store, app, stateDir,
      api: injectApi(app),
      async close() {
        engine.stop()
        await app.close()
        rmSync(stateDir, { recursive: true, force: true })
      },
    }
  } catch (err) {
    rmSync(stateDir, { recursive: true, force: true })
    throw err
  }
}

/** A port forward on the lab's port-forwarding IP to vm1. */
export function forward(id: string, port: number, protocol: 'tcp' | 'udp' = 'tcp'): Record<string, unknown> {
  return { id, publicIp: '203.0.113.12', protocol, publicPorts: { start: port }, privateIp: LAB_ADDR.vm1, privatePorts: { start: 80 } }
}

/** A firewall rule whose sources become an ipset (two CIDRs or more). */
export function firewallRule(id: string, port: number, sources: string[] = ['192.0.2.0/24', '198.18.0.0/15']): Record<string, unknown> {
  return { id, publicIp: '203.0.113.10', protocol: 'tcp', ports: { start: port }, sourceCidrs: sources }
}

export { labRouterConfig }

/**
 * A runner around the fake kernel that can hold every call until released (to fill the edit
 * queue deterministically) and counts calls in flight per tool (to show they never overlap).
 */
export class ProbeRunner implements Runner {
  readonly netns = undefined
  /** Most calls of each tool in flight at once. */
  readonly maxInFlight = new Map<string, number>()
  private readonly inFlight = new Map<string, number>()
  private held: (() => void)[] | undefined

  constructor(private readonly inner: Runner) {}

  /** Calls from now on wait until release(). */
  hold(): void {
    this.held ??= []
  }

  /** Calls waiting in hold(). */
  get waiting(): number {
    return this.held?.length ?? 0
  }

  release(): void {
    const waiting = this.held ?? []
    this.held = undefined
    for (const go of waiting) go()
  }

  async run(name: string, args: readonly string[], options?: RunOptions): Promise<RunResult> {
    const held = this.held
    if (held !== undefined) await new Promise<void>((resolve) => held.push(resolve))
    const n = (this.inFlight.get(name) ?? 0) + 1
    this.inFlight.set(name, n)
    this.maxInFlight.set(name, Math.max(n, this.maxInFlight.get(name) ?? 0))
    try {
      // A few milliseconds per call, so that anything not serialized would overlap.
      await new Promise((resolve) => setTimeout(resolve, 2))
      return await this.inner.run(name, args, options)
    } finally {
      this.inFlight.set(name, (this.inFlight.get(name) ?? 1) - 1)
    }
  }
}

/** Waits until `check()` holds (bounded), yielding to the event loop in between. */
export async function until(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 2000; i++) {
    if (check()) return
    await new Promise((resolve) => setTimeout(resolve, 1))
  }
  throw new Error(`timed out waiting for ${what}`)
}
