import { performance } from 'node:perf_hooks'
import { getHeapStatistics, setFlagsFromString } from 'node:v8'

/**
 * Gives V8 heap pages back to the VM (256 MB, with a MemoryMax on the unit) after bursts. V8
 * keeps the pages a burst filled (a 10k-rule apply, a boot storm of DHCP clients, a DNS flood)
 * long after the garbage in them is dead: its own memory reducer waits 8 s and then rarely
 * compacts. Two triggers, both one full collection:
 * - `soon()`: after work known to leave much garbage (a large apply), a second later;
 * - idle: when the event loop was nearly idle for a whole check interval and the heap's pages
 *   grew by IDLE_GROWTH_BYTES since the last collection made here. Once per quiet period: the
 *   collection resets the baseline, so a daemon at rest is not collected again and again.
 * Needs node's --expose-gc (the appliance unit sets it); without it this does nothing.
 *
 * These collections compact the whole old space: a plain full collection frees dead objects but
 * moves only a few pages, so the survivors of a burst stay spread over the pages it filled
 * (4 MB held over 19 MB live with 4,096 hosts). The flag is set around our own call only:
 * collections under load keep V8's cheaper heuristic.
 */
const SOON_DELAY_MS = 1000
const IDLE_CHECK_MS = 1000
/** Event loop busy less than this share of a check interval: quiet. */
const IDLE_UTILIZATION = 0.05
const IDLE_GROWTH_BYTES = 1024 * 1024

export class MemoryRelease {
  private readonly gc = (globalThis as { gc?: () => void }).gc
  private soonTimer: NodeJS.Timeout | undefined
  private idleTimer: NodeJS.Timeout | undefined
  private baseline = heapPhysical()
  private lastUtilization = performance.eventLoopUtilization()
  /** Full collections made here, by trigger (for /metrics). */
  readonly collections = { soon: 0, idle: 0 }

  /** One full collection a second from now (one for any number of calls in that second). */
  soon(): void {
    if (this.gc === undefined || this.soonTimer !== undefined) return
    this.soonTimer = setTimeout(() => {
      this.soonTimer = undefined
      this.collect('soon')
    }, SOON_DELAY_MS).unref()
  }

  startIdleWatch(): void {
    if (this.gc === undefined || this.idleTimer !== undefined) return
    this.idleTimer = setInterval(() => this.checkIdle(), IDLE_CHECK_MS).unref()
  }

  stop(): void {
    clearTimeout(this.soonTimer)
    clearInterval(this.idleTimer)
    this.soonTimer = this.idleTimer = undefined
  }

  private checkIdle(): void {
    const now = performance.eventLoopUtilization()
    const busy = performance.eventLoopUtilization(now, this.lastUtilization).utilization
    this.lastUtilization = now
    if (busy < IDLE_UTILIZATION && heapPhysical() - this.baseline >= IDLE_GROWTH_BYTES) this.collect('idle')
  }

  private collect(trigger: 'soon' | 'idle'): void {
    setFlagsFromString('--compact-on-every-full-gc')
    try {
      this.gc?.()
    } finally {
      setFlagsFromString('--no-compact-on-every-full-gc')
    }
    this.collections[trigger]++
    this.baseline = heapPhysical()
    // The collection itself is not load: the next interval starts after it.
    this.lastUtilization = performance.eventLoopUtilization()
  }
}

function heapPhysical(): number {
  return getHeapStatistics().total_physical_size
}
