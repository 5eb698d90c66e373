import { getHeapSpaceStatistics } from 'node:v8'
import type { MemoryRelease } from './memory-release.ts'
import type { Metrics } from './metrics.ts'

/**
 * The daemon's own memory at each scrape: the appliance is a 256 MB VM with a MemoryMax on the
 * unit, so operators watch how close it runs, and where the bytes are (V8 heap spaces, buffers
 * outside the heap) when it grows.
 */
export function publishProcessMemory(metrics: Metrics, release: MemoryRelease): void {
  metrics.collect(() => {
    for (const [trigger, n] of Object.entries(release.collections)) {
      metrics.setCounter('memory_release_collections_total', 'Full heap collections the daemon asked for to give pages back (after a large apply, or when idle after a burst)', n, { trigger })
    }
    const m = process.memoryUsage()
    for (const [kind, value] of [['rss', m.rss], ['heap_used', m.heapUsed], ['heap_total', m.heapTotal], ['external', m.external], ['array_buffers', m.arrayBuffers]] as const) {
      metrics.set('memory_bytes', 'Memory of the daemon process (node process.memoryUsage)', value, { kind })
    }
    for (const s of getHeapSpaceStatistics()) {
      metrics.set('heap_space_bytes', 'V8 heap by space: bytes in live and dead objects (used) and in pages held (physical)', s.space_used_size, { space: s.space_name, kind: 'used' })
      metrics.set('heap_space_bytes', 'V8 heap by space: bytes in live and dead objects (used) and in pages held (physical)', s.physical_space_size, { space: s.space_name, kind: 'physical' })
    }
  })
}
