import { afterEach, describe, expect, it, vi } from 'vitest'
import { ConfigStore } from '../../../src/router/store/config-store.ts'
import { forward, labRouterConfig, startFakeRouter, type FakeRouter } from '../../helpers/fake-router.ts'

/**
 * A store write that fails after the kernel applied an edit (disk full, I/O error): the engine
 * puts the stored generation back into the kernel (Engine.undoUnstored) and fails the edit, so
 * the kernel never runs a config the store could not keep.
 */

const routers: FakeRouter[] = []
afterEach(async () => {
  vi.restoreAllMocks()
  for (const r of routers.splice(0)) await r.close()
})

async function start(): Promise<FakeRouter> {
  const r = await startFakeRouter()
  routers.push(r)
  const res = await r.api('PUT', '/v1/config', { ...labRouterConfig(), portForwards: [forward('pf-a', 8080)] })
  expect(res.status, JSON.stringify(res.body)).toBe(200)
  return r
}

async function snapshot(r: FakeRouter) {
  return { kernel: r.kernel.state(), config: r.engine.getConfig(), stored: new ConfigStore(r.stateDir).load() }
}

const diskFull = () => Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' })

/** Makes the next whole-document store fail: `at` 'stage' (writing the temporary file) or 'commit' (the rename). */
function failNextSnapshot(store: ConfigStore, at: 'stage' | 'commit'): void {
  const stage = store.stageSnapshot.bind(store)
  vi.spyOn(store, 'stageSnapshot').mockImplementationOnce(async (state) => {
    if (at === 'stage') throw diskFull()
    const staged = await stage(state)
    return { commit: () => { staged.abort(); throw diskFull() }, abort: staged.abort }
  })
}

const pfWithSource = { ...forward('pf-src', 8000), sourceCidrs: ['192.0.2.0/24', '198.18.0.0/15'] }

describe('store failures after the kernel applied', () => {
  it.each([
    {
      name: 'an item edit whose journal append fails',
      breakStore: (s: ConfigStore) => { vi.spyOn(s, 'appendItem').mockImplementationOnce(() => { throw diskFull() }) },
      edit: (r: FakeRouter) => r.api('PUT', '/v1/config/portForwards/pf-src', pfWithSource),
    },
    {
      name: 'an item deletion whose journal append fails',
      breakStore: (s: ConfigStore) => { vi.spyOn(s, 'appendItem').mockImplementationOnce(() => { throw diskFull() }) },
      edit: (r: FakeRouter) => r.api('DELETE', '/v1/config/portForwards/pf-a'),
    },
    {
      name: 'a whole document whose snapshot cannot be written',
      breakStore: (s: ConfigStore) => failNextSnapshot(s, 'stage'),
      edit: (r: FakeRouter) => r.api('PUT', '/v1/config', { ...labRouterConfig(), portForwards: [forward('pf-a', 8080), pfWithSource] }),
    },
    {
      name: 'a whole document whose snapshot cannot be renamed into place',
      breakStore: (s: ConfigStore) => failNextSnapshot(s, 'commit'),
      edit: (r: FakeRouter) => r.api('PUT', '/v1/config', { ...labRouterConfig(), portForwards: [forward('pf-a', 8080), pfWithSource] }),
    },
  ])('$name: 500, the kernel is put back to the stored generation, the next edit is the next generation', async ({ breakStore, edit }) => {
    const r = await start()
    const before = await snapshot(r)
    breakStore(r.store)
    const res = await edit(r)
    expect(res.status, JSON.stringify(res.body)).toBe(500)
    expect(res.body.error.code).toBe('ERR_INTERNAL')
    // The kernel did take the edit (more than reads ran after the store failed) and then gave it back.
    expect(r.kernel.callsOf('iptables-restore').length).toBeGreaterThan(2)
    expect(await snapshot(r)).toEqual(before)
    expect(r.engine.readiness()).toEqual({ ready: true, desiredGeneration: before.config.generation, appliedGeneration: before.config.generation })
    expect(await r.engine.diff()).toEqual([])
    const next = await edit(r)
    expect(next.status, JSON.stringify(next.body)).toBe(200)
    expect(next.body.generation).toBe(before.config.generation + 1)
    expect(new ConfigStore(r.stateDir).load().generation).toBe(before.config.generation + 1)
  })

  it('when the store fails and putting the stored generation back fails too, the engine does not claim to be ready, and a full apply repairs the kernel', async () => {
    const r = await start()
    vi.spyOn(r.store, 'appendItem').mockImplementationOnce(() => { throw diskFull() })
    // The undo is the restore that deletes the chains the edit added.
    const fault = r.kernel.fail({ tool: 'iptables-restore', when: (c) => /^-X /m.test(c.stdin), line: 2 })
    const res = await r.api('PUT', '/v1/config/portForwards/pf-src', pfWithSource)
    expect(res.status).toBe(500)
    expect(fault.fired).toBe(1)
    // The kernel now runs pf-src, which is neither stored nor the engine's config: not ready,
    // and the next check replaces the owned state whole with the stored config.
    expect(r.engine.getConfig().config.portForwards.map((f) => f.id)).toEqual(['pf-a'])
    expect(r.engine.readiness().ready).toBe(false)
    expect(r.kernel.iptablesSave()).toContain('svm:pf:pf-src')
    expect(await r.engine.checkDrift()).toEqual(['nothing applied yet'])
    expect(r.engine.readiness().ready).toBe(true)
    expect(r.kernel.iptablesSave()).not.toContain('svm:pf:pf-src')
    expect(await r.engine.diff()).toEqual([])
  })
})
