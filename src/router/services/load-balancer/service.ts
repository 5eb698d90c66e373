import type { FastifyInstance } from 'fastify'
import { join } from 'node:path'
import { errorCode } from '../../../core/errors.ts'
import { binary, run } from '../../../core/exec.ts'
import { ErrorResponse, LbStatusResponse } from '../../api/contract.ts'
import type { LoadBalancer, RouterConfig } from '../../model/config.ts'
import type { EditFacts } from '../../model/facts.ts'
import { normalizeLoadBalancer, type NLoadBalancer } from '../../model/normalize.ts'
import type { LbRuntime } from '../../render/iptables/load-balancer.ts'
import type { RouterService, ServiceContext, ServiceEntry } from '../service.ts'
import { CertificateStore } from './certificates/certificate-store.ts'
import { certificateRoutes } from './certificates/routes.ts'
import { HaproxyManager } from './haproxy/manager.ts'
import { healthTargets } from './health/targets.ts'
import { HealthMonitor } from './health/monitor.ts'
import { countByBackend, steeredWeights } from './leastconn.ts'
import { loadBalancerStates } from './status.ts'

/**
 * Load balancing besides the kernel rules: the backends' health checks, leastconn's steering,
 * the HAProxy that serves modes http and tls (with the certificates it needs), and `GET /v1/lb`.
 * What it learns goes to the engine as run-time facts (LbRuntime): a backend going down or up,
 * or leastconn's weights moving, re-renders the load balancer's chain without a new generation
 * (model/runtime.ts); HAProxy gets the same health as runtime-API commands.
 */

/** How often leastconn counts connections. */
const LEASTCONN_POLL_MS = 2000

class LoadBalancerService implements RouterService {
  private readonly monitor: HealthMonitor
  private readonly certificates: CertificateStore
  private readonly haproxy: HaproxyManager
  /** HAProxy changes run one after another (config updates, health transitions, new certificates). */
  private proxying: Promise<void> = Promise.resolve()
  private items: readonly LoadBalancer[] = []
  private balancers: NLoadBalancer[] = []
  private runtime: { down: readonly string[]; weights: Readonly<Record<string, number>> } = { down: [], weights: {} }
  private counts = new Map<string, number>()
  private poll: NodeJS.Timeout | undefined
  private polling = false
  private reporting: Promise<void> = Promise.resolve()

  constructor(private readonly ctx: ServiceContext) {
    this.monitor = new HealthMonitor({
      log: ctx.log, metrics: ctx.metrics,
      onChange: (down) => {
        this.report({ ...this.runtime, down })
        void this.proxy()
      },
    })
    this.certificates = new CertificateStore(join(ctx.stateDir, 'certificates'))
    this.haproxy = new HaproxyManager(ctx.stateDir, (id) => this.certificates.path(id), ctx.log.child({ component: 'haproxy' }))
  }

  async update(config: RouterConfig, _facts: unknown, generation: number): Promise<void> {
    this.config = config
    this.generation = generation
    this.items = config.loadBalancers
    this.balancers = config.loadBalancers.map((r) => normalizeLoadBalancer(r))
    this.monitor.update(healthTargets(config))
    await this.proxy()
    const leastconn = this.balancers.some((r) => r.mode === 'l4' && r.algorithm === 'leastconn')
    if (leastconn && this.poll === undefined) this.poll = setInterval(() => void this.steer(), LEASTCONN_POLL_MS).unref()
    if (!leastconn && this.poll !== undefined) {
      clearInterval(this.poll)
      this.poll = undefined
    }
  }

  private config: RouterConfig | undefined
  private generation = 0
  private proxied: { generation: number | null; lastError: { code: string; message: string; at: string } | null } = { generation: null, lastError: null }

  /** Brings HAProxy to the load balancers in force and the health known now (`reload`: new certificate files). */
  private proxy(reload = false): Promise<void> {
    const generation = this.generation
    this.proxying = this.proxying
      .then(() => this.haproxy.update(this.items, new Set(this.monitor.down()), reload))
      .then(() => { this.proxied = { generation, lastError: null } })
      .catch((err: unknown) => {
        this.proxied = { ...this.proxied, lastError: { code: errorCode(err) ?? 'ERR_INTERNAL', message: (err as Error).message, at: new Date().toISOString() } }
        this.ctx.log.error({ err }, 'cannot bring haproxy to the load balancers in force')
      })
    return this.proxying
  }

  editFacts(): Pick<EditFacts, 'certificates'> {
    return { certificates: this.certificates.ids() }
  }

  /** Counts leastconn backends' connections and reports new weights when they moved. */
  private async steer(): Promise<void> {
    if (this.polling) return
    this.polling = true
    try {
      const lbs = this.balancers.filter((r) => r.mode === 'l4' && r.algorithm === 'leastconn')
      const counts = new Map<string, number>()
      for (const lb of lbs) {
        const listed = await run(binary('conntrack'), ['-L', '-p', lb.protocol, '--orig-dst', lb.publicIp], { okCodes: [0, 1], timeoutMs: 10_000 })
        for (const [key, n] of countByBackend(listed.stdout, lb)) counts.set(key, n)
      }
      this.counts = counts
      const weights = steeredWeights(lbs, counts)
      if (JSON.stringify(weights) !== JSON.stringify(this.runtime.weights)) this.report({ ...this.runtime, weights })
    } catch (err) {
      this.ctx.log.warn({ err }, 'cannot count load-balancer connections')
    } finally {
      this.polling = false
    }
  }

  /** Hands the engine the facts in order; a failed apply is logged and tried again by the next change. */
  private report(next: { down: readonly string[]; weights: Readonly<Record<string, number>> }): void {
    this.runtime = next
    const value: LbRuntime = { down: [...next.down], weights: { ...next.weights } }
    this.reporting = this.reporting
      .then(() => this.ctx.reportRuntime(value))
      .catch((err: unknown) => this.ctx.log.error({ err }, 'cannot apply load-balancer health'))
  }

  routes(app: FastifyInstance): void {
    certificateRoutes(app, { store: this.certificates, config: () => this.config, changed: () => void this.proxy(true) })
    app.get('/v1/lb', { schema: { response: { 200: LbStatusResponse, 401: ErrorResponse } } }, async () => {
      // HAProxy's view is an extra: a busy or restarting HAProxy costs the answer that part only.
      const stats = await this.haproxy.stats().catch((err: unknown) => {
        this.ctx.log.warn({ err }, 'cannot read haproxy stats')
        return []
      })
      return {
        loadBalancers: loadBalancerStates(this.balancers, this.monitor.snapshot(), this.runtime.weights, this.counts, stats),
        haproxy: { running: this.haproxy.isRunning(), ...this.proxied },
      }
    })
  }

  async close(): Promise<void> {
    clearInterval(this.poll)
    this.monitor.close()
    await this.reporting
    await this.proxying
    await this.haproxy.stop()
  }
}

export const loadBalancerService: ServiceEntry = {
  name: 'load-balancer',
  collections: ['loadBalancers'],
  create: (ctx) => new LoadBalancerService(ctx),
}
