import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { afterEach, describe, expect, it } from 'vitest'
import { MemoryRelease } from '../../src/core/memory-release.ts'

// The daemon runs with --expose-gc; the test worker does not, so gc is fetched the same way node exposes it.
setFlagsFromString('--expose-gc')
const exposedGc = runInNewContext('gc') as () => void
const host = globalThis as { gc?: () => void }

async function until(check: () => boolean, ms: number): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, 50))) if (check()) return true
  return check()
}

describe('MemoryRelease', () => {
  let release: MemoryRelease | undefined
  afterEach(() => {
    release?.stop()
    delete host.gc
  })

  it('collects once when the process goes quiet after a burst grew the heap, and not again while at rest', async () => {
    host.gc = exposedGc
    release = new MemoryRelease()
    release.startIdleWatch()
    let burst: unknown[] | undefined = Array.from({ length: 300_000 }, (_, i) => ({ i, name: `lease-${i}` }))
    expect(burst.length).toBe(300_000)
    burst = undefined
    expect(await until(() => release!.collections.idle === 1, 10_000)).toBe(true)
    // Quiet and no new growth: the baseline moved with the collection.
    await new Promise((r) => setTimeout(r, 2500))
    expect(release.collections.idle).toBe(1)
  })

  it('folds any number of soon() calls within a second into one collection', async () => {
    host.gc = exposedGc
    release = new MemoryRelease()
    for (let i = 0; i < 10; i++) release.soon()
    expect(await until(() => release!.collections.soon === 1, 5000)).toBe(true)
    await new Promise((r) => setTimeout(r, 1200))
    expect(release.collections.soon).toBe(1)
  })

  it('compacts the old space: the pages a burst spread its survivors over go back', async () => {
    host.gc = exposedGc
    exposedGc()
    const oldSpace = () => getHeapSpaceStatistics().find((s) => s.space_name === 'old_space')!
    const held = () => oldSpace().physical_space_size - oldSpace().space_used_size
    // Two objects in three survive, interleaved with the garbage on every page the burst filled
    // (large enough that plain collections leave well over 8 MiB held even on a loaded machine).
    let survivors: unknown[] = []
    let garbage: unknown[] | undefined = []
    for (let i = 0; i < 1_200_000; i++) (i % 3 === 0 ? garbage : survivors).push({ i, name: `lease-${i}`, tags: [i] })
    garbage = undefined
    // Plain full collections (the second one knows each page's live bytes) leave those pages:
    // V8 moves only pages that are mostly empty.
    exposedGc()
    exposedGc()
    const plain = held()
    release = new MemoryRelease()
    release.soon()
    expect(await until(() => release!.collections.soon === 1, 5000)).toBe(true)
    expect(survivors.length).toBe(800_000)
    expect(plain).toBeGreaterThan(8 * 1024 * 1024)
    expect(held()).toBeLessThan(plain / 4)
    survivors = []
  })

  it('does nothing without an exposed gc', async () => {
    release = new MemoryRelease()
    release.startIdleWatch()
    release.soon()
    await new Promise((r) => setTimeout(r, 1500))
    expect(release.collections).toEqual({ soon: 0, idle: 0 })
  })
})
