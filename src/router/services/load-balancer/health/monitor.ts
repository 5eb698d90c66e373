import type { Logger } from '../../../../core/log.ts'
import type { Metrics } from '../../../../core/metrics.ts'
import { probeHttp, probeTcp } from './probe.ts'
import { initialHealth, nextHealth, type CheckResult, type HealthState } from './state.ts'
import { sameCheck, type HealthTarget } from './targets.ts'

/**
 * Checks every backend of every load balancer with a health check, each on its own interval,
 * and says when the set of backends down changes. Targets keep their state across updates
 * while their check stays the same, so a whole-config push resets no health. First checks are
 * spread over the first interval (by a hash of the key, so it is the same every start) and at
 * most MAX_IN_FLIGHT probes run at once: a thousand backends do not fire together.
 */

const MAX_IN_FLIGHT = 64

interface Entry {
  target: HealthTarget
  health: HealthState
  timer: NodeJS.Timeout | undefined
  /** Bumped when the entry is replaced or removed: a probe in flight for an older one is ignored. */
  epoch: number
}

/** One backend's health as `GET /v1/lb` shows it. */
export interface HealthView {
  key: string
  lb: string
  backend: string
  state: 'up' | 'down'
  since: string
  lastResult: { ok: boolean; detail: string; at: string; durationMs: number } | null
  consecutivePasses: number
  consecutiveFailures: number
}

export interface HealthMonitorOptions {
  log: Logger
  metrics: Metrics
  /** Called with every key now down (sorted) after any transition. */
  onChange: (down: readonly string[]) => void
}

/** Pure. Where in its first interval a target is first checked: the same for the same key. */
export function firstDelay(key: string, intervalMs: number): number {
  let h = 0x811c9dc5
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193) >>> 0
  return h % intervalMs
}

export class HealthMonitor {
  private readonly entries = new Map<string, Entry>()
  private readonly waiting: (() => void)[] = []
  private inFlight = 0
  private epochs = 0
  private closed = false

  constructor(private readonly o: HealthMonitorOptions) {}

  update(targets: readonly HealthTarget[]): void {
    const wanted = new Map(targets.map((t) => [t.key, t]))
    let changed = false
    for (const [key, entry] of this.entries) {
      const next = wanted.get(key)
      if (next !== undefined && sameCheck(entry.target, next)) {
        entry.target = next
        continue
      }
      clearTimeout(entry.timer)
      this.entries.delete(key)
      this.o.metrics.remove('lb_backend_up', { lb: entry.target.lb, backend: backendOf(entry.target) })
      if (entry.health.state === 'down') changed = true
    }
    const now = Date.now()
    for (const target of targets) {
      if (this.entries.has(target.key)) continue
      const entry: Entry = { target, health: initialHealth(now), timer: undefined, epoch: ++this.epochs }
      this.entries.set(target.key, entry)
      this.gauge(entry)
      this.schedule(entry, firstDelay(target.key, target.intervalMs))
    }
    if (changed) this.o.onChange(this.down())
  }

  down(): string[] {
    return [...this.entries.values()].filter((e) => e.health.state === 'down').map((e) => e.target.key).sort()
  }

  snapshot(): HealthView[] {
    return [...this.entries.values()].map(({ target, health }) => ({
      key: target.key, lb: target.lb, backend: backendOf(target), state: health.state, since: new Date(health.since).toISOString(),
      lastResult: health.last === undefined ? null : { ...health.last, at: new Date(health.last.at).toISOString() },
      consecutivePasses: health.passes, consecutiveFailures: health.failures,
    })).sort((a, b) => (a.key < b.key ? -1 : 1))
  }

  close(): void {
    this.closed = true
    for (const e of this.entries.values()) clearTimeout(e.timer)
    this.entries.clear()
    this.waiting.length = 0
  }

  private schedule(entry: Entry, delayMs: number): void {
    entry.timer = setTimeout(() => void this.check(entry), delayMs)
    entry.timer.unref()
  }

  private async check(entry: Entry): Promise<void> {
    const epoch = entry.epoch
    await this.slot()
    if (this.closed || this.entries.get(entry.target.key) !== entry || entry.epoch !== epoch) return this.release()
    let result: CheckResult
    try {
      const t = entry.target
      result = t.type === 'http' ? await probeHttp(t.ip, t.port, t.path, t.expectStatus, t.timeoutMs, t.proxyProtocol) : await probeTcp(t.ip, t.port, t.timeoutMs)
    } finally {
      this.release()
    }
    if (this.closed || this.entries.get(entry.target.key) !== entry) return
    this.o.metrics.inc('lb_checks_total', 'Load-balancer backend health checks, by result', { result: result.ok ? 'pass' : 'fail' })
    const { state, transition } = nextHealth(entry.health, result, entry.target)
    entry.health = state
    if (transition !== undefined) {
      const t = entry.target
      this.o.metrics.inc('lb_transitions_total', 'Load-balancer backends going up or down', { lb: t.lb, direction: transition })
      this.gauge(entry)
      this.o.log.info({ lb: t.lb, backend: backendOf(t), state: transition, detail: result.detail, passes: state.passes, failures: state.failures },
        'load balancer backend changed state')
      this.o.onChange(this.down())
    }
    this.schedule(entry, entry.target.intervalMs)
  }

  private gauge(entry: Entry): void {
    this.o.metrics.set('lb_backend_up', 'Whether a load-balancer backend passes its health check (1) or not (0)',
      entry.health.state === 'up' ? 1 : 0, { lb: entry.target.lb, backend: backendOf(entry.target) })
  }

  /** Waits for one of the MAX_IN_FLIGHT probe slots. */
  private slot(): Promise<void> {
    if (this.inFlight < MAX_IN_FLIGHT) {
      this.inFlight++
      return Promise.resolve()
    }
    return new Promise((resolve) => this.waiting.push(() => { this.inFlight++; resolve() }))
  }

  private release(): void {
    this.inFlight--
    this.waiting.shift()?.()
  }
}

function backendOf(t: HealthTarget): string {
  return t.key.slice(t.key.indexOf(' ') + 1)
}
