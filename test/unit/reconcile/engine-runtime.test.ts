import { afterEach, describe, expect, it } from 'vitest'
import { forward, labRouterConfig, startFakeRouter, type FakeRouter } from '../../helpers/fake-router.ts'

/**
 * Run-time facts (model/runtime.ts): re-applied without a new generation, through the same
 * queue as edits. No renderer reads any yet (the load balancer's backend health will): what
 * holds today is that taking one neither bumps the generation nor touches the kernel needlessly.
 */

const routers: FakeRouter[] = []
afterEach(async () => { for (const r of routers.splice(0)) await r.close() })

describe('engine run-time facts', () => {
  it('a fact is applied without a new generation, queued with the edits around it', async () => {
    const r = await startFakeRouter()
    routers.push(r)
    expect((await r.api('PUT', '/v1/config', labRouterConfig())).status).toBe(200)
    const { generation } = r.engine.getConfig()
    const restoresBefore = r.kernel.callsOf('iptables-restore').length
    const [edit, fact, next] = await Promise.all([
      r.engine.editItem('portForwards', 'pf-a', forward('pf-a', 8080)),
      r.engine.setRuntime('lb-health', { lb1: { '10.1.1.10:80': 'down' } }),
      r.engine.editItem('portForwards', 'pf-b', forward('pf-b', 8081)),
    ])
    expect([edit.generation, next.generation]).toEqual([generation + 1, generation + 2])
    expect(fact.kind).toBe('none')
    expect(r.engine.status()).toMatchObject({ desiredGeneration: generation + 2, appliedGeneration: generation + 2 })
    // Two edits, two restores: the fact changed no rendering.
    expect(r.kernel.callsOf('iptables-restore').length - restoresBefore).toBe(2)
    expect(await r.engine.diff()).toEqual([])
  })
})
