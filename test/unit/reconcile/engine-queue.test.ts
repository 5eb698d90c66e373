import { afterEach, describe, expect, it } from 'vitest'
import { ConfigStore } from '../../../src/router/store/config-store.ts'
import { forward, labRouterConfig, ProbeRunner, startFakeRouter, until, type FakeRouter } from '../../helpers/fake-router.ts'

/**
 * The engine's single-writer queue on the fake kernel (no root): edits run one at a time in
 * the order they came, each accepted edit is the next generation, a refused edit changes
 * neither the kernel nor the store, and past `maxQueuedEdits` edits are refused with 429
 * ERR_BUSY (what test/netns/api-limits.test.ts shows against a real namespace).
 */

const routers: FakeRouter[] = []
afterEach(async () => { for (const r of routers.splice(0)) await r.close() })

async function start(opts: Parameters<typeof startFakeRouter>[0] = {}): Promise<FakeRouter> {
  const r = await startFakeRouter(opts)
  routers.push(r)
  const res = await r.api('PUT', '/v1/config', { ...labRouterConfig(), portForwards: [forward('pf-a', 8080)] })
  expect(res.status, JSON.stringify(res.body)).toBe(200)
  return r
}

/** Everything that could have changed: the kernel, the engine's config and the files. */
async function everything(r: FakeRouter) {
  return { kernel: r.kernel.state(), config: (await r.api('GET', '/v1/config')).body, stored: new ConfigStore(r.stateDir).load() }
}

describe('engine queue', () => {
  it('concurrent edits are applied one at a time, in the order they came, as consecutive generations', async () => {
    let probe: ProbeRunner | undefined
    const r = await start({ runner: (kernel) => (probe = new ProbeRunner(kernel)) })
    const { generation } = r.engine.getConfig()
    const ids = Array.from({ length: 10 }, (_, i) => `pf-q${i}`)
    const results = await Promise.all(ids.map((id, i) => r.engine.editItem('portForwards', id, forward(id, 10000 + i))))
    expect(results.map((x) => x.generation)).toEqual(ids.map((_, i) => generation + 1 + i))
    // Each edit wrote its own forward in its own iptables-restore, in submission order, never two at once.
    const restores = r.kernel.callsOf('iptables-restore').slice(-ids.length)
    expect(restores.map((c) => ids.findIndex((id) => c.stdin.includes(`svm:pf:${id}`) && !ids.slice(ids.indexOf(id) + 1).some((later) => c.stdin.includes(`svm:pf:${later}`))))).toEqual(ids.map((_, i) => i))
    expect(probe?.maxInFlight.get('iptables-restore')).toBe(1)
    expect(r.engine.getConfig().generation).toBe(generation + ids.length)
    expect(new ConfigStore(r.stateDir).load().config.portForwards.map((f) => f.id)).toEqual(['pf-a', ...ids])
    expect(await r.engine.diff()).toEqual([])
  })

  it.each([
    {
      name: 'a semantically invalid item (400): nothing applied or stored',
      status: 400, code: 'ERR_CONFIG_INVALID',
      edit: (r: FakeRouter) => r.api('PUT', '/v1/config/portForwards/pf-bad', { ...forward('pf-bad', 9000), privateIp: '10.9.9.9' }),
    },
    {
      name: 'a stale If-Match (412): nothing applied or stored',
      status: 412, code: 'ERR_CONFLICT',
      edit: (r: FakeRouter) => r.api('PUT', '/v1/config/portForwards/pf-b', forward('pf-b', 9001), { 'if-match': `"${r.engine.getConfig().generation - 1}"` }),
    },
    {
      name: 'a DELETE of an item that does not exist (404): nothing applied or stored',
      status: 404, code: 'ERR_NOT_FOUND',
      edit: (r: FakeRouter) => r.api('DELETE', '/v1/config/portForwards/pf-none'),
    },
    {
      name: 'an edit the kernel refuses (422): the previous state stays in force and stored',
      status: 422, code: 'ERR_KERNEL_REJECTED',
      edit: (r: FakeRouter) => {
        r.kernel.fail({ tool: 'iptables-restore', line: /^-A SVM-DNB/, message: 'invalid port/service `99999\' specified' })
        return r.api('PUT', '/v1/config/portForwards/pf-b', forward('pf-b', 9002))
      },
    },
  ])('$name; the next accepted edit is the next generation', async ({ status, code, edit }) => {
    const r = await start()
    const before = await everything(r)
    const res = await edit(r)
    expect(res.status, JSON.stringify(res.body)).toBe(status)
    expect(res.body.error.code).toBe(code)
    expect(await everything(r)).toEqual(before)
    expect(r.engine.status().desiredGeneration).toBe(before.config.generation)
    const next = await r.api('PUT', '/v1/config/portForwards/pf-c', forward('pf-c', 9003))
    expect(next.status, JSON.stringify(next.body)).toBe(200)
    expect(next.body.generation).toBe(before.config.generation + 1)
    expect(r.engine.readiness()).toEqual({ ready: true, desiredGeneration: before.config.generation + 1, appliedGeneration: before.config.generation + 1 })
    expect(await r.engine.diff()).toEqual([])
  })

  it('an edit refused in the middle of a burst leaves no gap: the edits after it take the next generations', async () => {
    const r = await start()
    const { generation } = r.engine.getConfig()
    const fault = r.kernel.fail({ tool: 'iptables-restore', when: (c) => c.stdin.includes('svm:pf:pf-q2'), line: /svm:pf:pf-q2/ })
    const answers = await Promise.allSettled([0, 1, 2, 3, 4].map((i) => r.engine.editItem('portForwards', `pf-q${i}`, forward(`pf-q${i}`, 10000 + i))))
    expect(fault.fired).toBe(1)
    expect(answers.map((a) => (a.status === 'fulfilled' ? a.value.generation : (a.reason as { code: string }).code)))
      .toEqual([generation + 1, generation + 2, 'ERR_KERNEL_REJECTED', generation + 3, generation + 4])
    expect(new ConfigStore(r.stateDir).load().config.portForwards.map((f) => f.id)).toEqual(['pf-a', 'pf-q0', 'pf-q1', 'pf-q3', 'pf-q4'])
    expect(await r.engine.diff()).toEqual([])
  })

  it('edits past maxQueuedEdits answer 429 ERR_BUSY at once; the queued ones are all applied and stored; then edits are taken again', async () => {
    let probe: ProbeRunner | undefined
    const r = await start({ maxQueuedEdits: 4, runner: (kernel) => (probe = new ProbeRunner(kernel)) })
    const { generation } = r.engine.getConfig()
    probe?.hold()
    let settled = 0
    const answers = Array.from({ length: 24 }, (_, i) => r.api('PUT', `/v1/config/portForwards/pf-q${i}`, forward(`pf-q${i}`, 10000 + i)).finally(() => { settled++ }))
    // With the kernel held, one edit runs and three wait: the other twenty are refused without waiting.
    await until(() => settled === 20 && (probe?.waiting ?? 0) > 0, 'the refusals')
    probe?.release()
    const done = await Promise.all(answers)
    const ok = done.filter((a) => a.status === 200)
    const busy = done.filter((a) => a.status === 429)
    expect(ok.length).toBe(4)
    expect(busy.length).toBe(20)
    for (const b of busy) expect(b.body.error.code).toBe('ERR_BUSY')
    expect(ok.map((a) => a.body.generation).sort((a, b) => a - b)).toEqual([generation + 1, generation + 2, generation + 3, generation + 4])
    const stored = new ConfigStore(r.stateDir).load()
    expect(stored.generation).toBe(generation + 4)
    expect(stored.config.portForwards.filter((f) => f.id.startsWith('pf-q')).length).toBe(4)
    expect(await r.engine.diff()).toEqual([])
    expect((await r.api('PUT', '/v1/config/portForwards/pf-after', forward('pf-after', 11000))).status).toBe(200)
  })
})
