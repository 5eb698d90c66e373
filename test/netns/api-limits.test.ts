import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { LAB_ADDR } from '../../src/lab/lab.ts'
import { labRouterConfig, startHarness, type Harness } from '../helpers/router-harness.ts'

/**
 * The control API's edges: what it refuses (a null item body, duplicate JSON keys) and how it
 * sheds load (edits queued past a bound answer 429 ERR_BUSY, never pile up without end).
 */

const root = process.getuid?.() === 0
const forward = (id: string, port: number) => ({
  id, publicIp: '203.0.113.12', protocol: 'tcp', publicPorts: { start: port }, privateIp: LAB_ADDR.vm1, privatePorts: { start: 80 },
})

describe.skipIf(!root)('control API limits', () => {
  let h: Harness
  beforeAll(async () => {
    h = await startHarness({ maxQueuedEdits: 4 })
    const res = await h.api('PUT', '/v1/config', { ...labRouterConfig(), portForwards: [forward('pf-a', 8080)] })
    expect(res.status, JSON.stringify(res.body)).toBe(200)
  })
  afterAll(async () => { await h?.close() })

  it('PUT of an item with the body null → 400 (deletion is DELETE); the item stays', async () => {
    const res = await h.app.inject({
      method: 'PUT', url: '/v1/config/portForwards/pf-a', payload: 'null',
      headers: { authorization: 'Bearer test-token-0123456789abcdef', 'content-type': 'application/json' },
    })
    expect(res.statusCode, res.body).toBe(400)
    expect(res.json().error.code).toBe('ERR_CONFIG_INVALID')
    expect((await h.api('GET', '/v1/config/portForwards/pf-a')).status).toBe(200)
  })

  it('a body with a duplicate key → 400 naming the key; nothing changes', async () => {
    const before = await h.api('GET', '/v1/config')
    const payload = `{"id":"pf-b","publicIp":"203.0.113.12","protocol":"tcp","publicPorts":{"start":9000},"privateIp":"${LAB_ADDR.vm1}",`
      + '"privatePorts":{"start":80},"privatePorts":{"start":22}}'
    const res = await h.app.inject({
      method: 'PUT', url: '/v1/config/portForwards/pf-b', payload,
      headers: { authorization: 'Bearer test-token-0123456789abcdef', 'content-type': 'application/json' },
    })
    expect(res.statusCode, res.body).toBe(400)
    expect(res.json().error.code).toBe('ERR_BAD_REQUEST')
    expect(res.json().error.message).toContain('privatePorts')
    expect((await h.api('GET', '/v1/config')).body).toEqual(before.body)
  })

  it('duplicate keys nested in a whole document are refused too', async () => {
    const doc = JSON.stringify({ ...labRouterConfig(), portForwards: [forward('pf-a', 8080)] })
      .replace('"interfaces":[{"id":"ctl"', '"interfaces":[{"id":"ctl","id":"ctl2"')
    const res = await h.app.inject({
      method: 'PUT', url: '/v1/config', payload: doc,
      headers: { authorization: 'Bearer test-token-0123456789abcdef', 'content-type': 'application/json' },
    })
    expect(res.statusCode, res.body).toBe(400)
    expect(res.json().error.code).toBe('ERR_BAD_REQUEST')
  })

  it('edits past the queue bound answer 429 ERR_BUSY; every accepted edit is applied and stored', async () => {
    const answers = await Promise.all(Array.from({ length: 24 }, (_, i) => h.api('PUT', `/v1/config/portForwards/pf-q${i}`, forward(`pf-q${i}`, 10000 + i))))
    const busy = answers.filter((a) => a.status === 429)
    const ok = answers.filter((a) => a.status === 200)
    expect(busy.length).toBeGreaterThan(0)
    expect(ok.length + busy.length).toBe(answers.length)
    for (const b of busy) expect(b.body.error.code).toBe('ERR_BUSY')
    const stored = (await h.api('GET', '/v1/config/portForwards')).body.items as { id: string }[]
    expect(stored.filter((f) => f.id.startsWith('pf-q')).length).toBe(ok.length)
    // Once the queue drains, edits are taken again.
    expect((await h.api('PUT', '/v1/config/portForwards/pf-after', forward('pf-after', 11000))).status).toBe(200)
  })
})
