import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { LAB_ADDR } from '../../../src/lab/lab.ts'
import { renderRouter } from '../../../src/router/render/index.ts'
import { readFacts } from '../../../src/router/kernel/facts.ts'
import { ConfigStore } from '../../../src/router/store/config-store.ts'
import { forward, labRouterConfig, startFakeRouter, TOKEN, type FakeRouter } from '../../helpers/fake-router.ts'

/**
 * The control API's HTTP contract through inject(), with the real engine and store on the fake
 * kernel (what test/netns/api.test.ts asserts against a namespace, without root): status codes
 * and error bodies, and that a refused request changes neither the kernel nor the store.
 */

describe('control API contract on the fake kernel', () => {
  let r: FakeRouter
  beforeAll(async () => {
    r = await startFakeRouter()
    const res = await r.api('PUT', '/v1/config', { ...labRouterConfig(), portForwards: [forward('pf-a', 8080)] })
    expect(res.status, JSON.stringify(res.body)).toBe(200)
  })
  afterAll(async () => { await r?.close() })

  const untouched = async () => ({ kernel: r.kernel.state(), config: (await r.api('GET', '/v1/config')).body, stored: new ConfigStore(r.stateDir).load() })

  it('401 without a token and with a wrong one; /healthz and /readyz need none', async () => {
    for (const headers of [{}, { authorization: 'Bearer nope' }, { authorization: `Basic ${TOKEN}` }, { authorization: `Bearer ${TOKEN}x` }]) {
      const res = await r.app.inject({ method: 'GET', url: '/v1/config', headers })
      expect(res.statusCode).toBe(401)
      expect(res.json().error.code).toBe('ERR_UNAUTHORIZED')
    }
    expect((await r.app.inject({ method: 'PUT', url: '/v1/config', payload: {} })).statusCode).toBe(401)
    expect((await r.app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200)
    expect((await r.app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200)
  })

  it('400 listing every problem with its path; the kernel and the store are untouched', async () => {
    const before = await untouched()
    const bad = {
      ...labRouterConfig(),
      portForwards: [forward('pf-a', 8080), forward('pf-b', 8080), { ...forward('pf-c', 9090), privateIp: '10.9.9.9' }],
      firewallRules: [{ id: 'fw', publicIp: '203.0.113.99', protocol: 'tcp', ports: { start: 22 }, sourceCidrs: ['10.0.0.1/8'] }],
      staticRoutes: [{ id: 'r', cidr: '172.16.0.0/12', via: '192.0.2.1' }],
    }
    const res = await r.api('PUT', '/v1/config', bad)
    expect(res.status).toBe(400)
    expect(res.body.error.code).toBe('ERR_CONFIG_INVALID')
    expect(res.body.error.diagnostics.map((d: { path: string; code: string }) => `${d.path} ${d.code}`)).toEqual([
      '/portForwards/2/privateIp ERR_ADDRESS_OUTSIDE_NETWORK',
      '/portForwards/1/publicPorts ERR_PORT_FORWARD_OVERLAP',
      '/firewallRules/0/publicIp ERR_UNKNOWN_PUBLIC_IP',
      '/firewallRules/0/sourceCidrs/0 ERR_BAD_CIDR',
      '/staticRoutes/0/via ERR_UNREACHABLE_NEXT_HOP',
    ])
    expect(await untouched()).toEqual(before)
  })

  it('400 naming an unknown field, a null item body and a duplicate key; nothing changes', async () => {
    const before = await untouched()
    const unknown = await r.api('PUT', '/v1/config/portForwards/pf-x', { ...forward('pf-x', 8090), colour: 'blue' })
    expect(unknown.status).toBe(400)
    expect(unknown.body.error.diagnostics).toEqual([{ severity: 'error', path: '/portForwards/1/colour', code: 'ERR_UNKNOWN_FIELD', message: 'unknown field' }])
    const headers = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }
    const nullBody = await r.app.inject({ method: 'PUT', url: '/v1/config/portForwards/pf-a', payload: 'null', headers })
    expect(nullBody.statusCode).toBe(400)
    expect(nullBody.json().error.code).toBe('ERR_CONFIG_INVALID')
    const duplicate = await r.app.inject({
      method: 'PUT', url: '/v1/config/portForwards/pf-b', headers,
      payload: `{"id":"pf-b","publicIp":"203.0.113.12","protocol":"tcp","publicPorts":{"start":9000},"privateIp":"${LAB_ADDR.vm1}","privatePorts":{"start":80},"privatePorts":{"start":22}}`,
    })
    expect(duplicate.statusCode).toBe(400)
    expect(duplicate.json().error).toMatchObject({ code: 'ERR_BAD_REQUEST', message: expect.stringContaining('privatePorts') })
    expect(await untouched()).toEqual(before)
  })

  it('404 for an unknown item, the DELETE of one, and an unknown route', async () => {
    const before = await untouched()
    for (const [method, url] of [['GET', '/v1/config/portForwards/nope'], ['DELETE', '/v1/config/portForwards/nope'], ['GET', '/v1/nothing-here']] as const) {
      const res = await r.api(method, url)
      expect(res.status, `${method} ${url}`).toBe(404)
      expect(res.body.error.code).toBe('ERR_NOT_FOUND')
    }
    expect(await untouched()).toEqual(before)
  })

  it('412 on an If-Match that is not the current generation; the current one is accepted as the next generation', async () => {
    const { generation } = (await r.api('GET', '/v1/config')).body
    const before = await untouched()
    const stale = await r.api('PUT', '/v1/config/portForwards/pf-c', forward('pf-c', 8082), { 'if-match': `"${generation - 1}"` })
    expect(stale.status).toBe(412)
    expect(stale.body.error.code).toBe('ERR_CONFLICT')
    const staleDoc = await r.api('PUT', '/v1/config', labRouterConfig(), { 'if-match': `"${generation + 5}"` })
    expect(staleDoc.status).toBe(412)
    expect(await untouched()).toEqual(before)
    const ok = await r.api('PUT', '/v1/config/portForwards/pf-c', forward('pf-c', 8082), { 'if-match': `"${generation}"` })
    expect(ok.status).toBe(200)
    expect(ok.body.generation).toBe(generation + 1)
    expect((await r.api('GET', '/v1/config')).body.generation).toBe(generation + 1)
  })

  it('item PUT and DELETE are in the kernel before the answer', async () => {
    const dnat = () => Object.values(r.kernel.state().iptables['nat'] ?? {}).flatMap((c) => c.rules).filter((l) => l.includes('"svm:pf:pf-d"'))
    const put = await r.api('PUT', '/v1/config/portForwards/pf-d', forward('pf-d', 8084))
    expect(put.status, JSON.stringify(put.body)).toBe(200)
    expect(put.body.report.kind).toBe('partial')
    expect(dnat()).toEqual([expect.stringContaining('--dport 8084 -m comment --comment "svm:pf:pf-d" -j DNAT --to-destination 10.1.1.10:80')])
    expect(r.kernel.state().ipsets['svm-pf-open']?.members).toContain('203.0.113.12,tcp:8084')
    const del = await r.api('DELETE', '/v1/config/portForwards/pf-d')
    expect(del.status).toBe(200)
    expect(dnat()).toEqual([])
    expect(r.kernel.state().ipsets['svm-pf-open']?.members).not.toContain('203.0.113.12,tcp:8084')
    expect(await r.engine.diff()).toEqual([])
  })

  it('422 for a document the checks let through but the kernel refuses (an unreachable gateway); the previous state stays in force', async () => {
    const before = await untouched()
    const { config } = before.config
    const bad = {
      ...config,
      interfaces: config.interfaces.map((i: { id: string }) => (i.id === 'pub1' ? { ...i, gateway: '100.64.0.1' } : i)),
      portForwards: [...config.portForwards, forward('pf-new', 8083)],
    }
    const res = await r.api('PUT', '/v1/config', bad)
    expect(res.status, JSON.stringify(res.body)).toBe(422)
    expect(res.body.error).toMatchObject({ code: 'ERR_KERNEL_REJECTED', tool: 'ip -batch', lineText: expect.stringContaining('100.64.0.1') })
    expect(await untouched()).toEqual(before)
    const status = (await r.api('GET', '/v1/status')).body
    expect(status.lastError.code).toBe('ERR_KERNEL_REJECTED')
    expect(status.subsystems.net.lastError.line).toBe(res.body.error.line)
    expect(status.subsystems.iptables.lastError).toBeNull()
    expect(status.appliedGeneration).toBe(status.desiredGeneration)
  })

  it('422 when another owner squats an ipset name routerd needs; their set and our state are untouched', async () => {
    const { config } = (await r.api('GET', '/v1/config')).body
    const rule = { id: 'fw-two', publicIp: '203.0.113.10', protocol: 'tcp', ports: { start: 22 }, sourceCidrs: ['192.0.2.0/24', '198.18.0.0/15'] }
    const setName = renderRouter({ ...config, firewallRules: [rule] }, await readFacts(r.kernel, [8443])).ipsets[0]?.name as string
    await r.kernel.run('ipset', ['create', setName, 'hash:ip'])
    const before = await untouched()
    const res = await r.api('PUT', '/v1/config/firewallRules/fw-two', rule)
    expect(res.status, JSON.stringify(res.body)).toBe(422)
    expect(res.body.error).toMatchObject({ tool: 'ipset', line: 1 })
    expect(await untouched()).toEqual(before)
    await r.kernel.run('ipset', ['destroy', setName])
  })

  it('a NIC plugged in after start is found when a document names it; an unknown MAC is a 400 naming the path', async () => {
    const { config } = (await r.api('GET', '/v1/config')).body
    r.kernel.addLink({ name: 'eth9', mac: '02:5e:00:00:00:09' })
    const res = await r.api('PUT', '/v1/config', { ...config, interfaces: [...config.interfaces, { id: 'pub9', role: 'public', mac: '02:5e:00:00:00:09' }] })
    expect(res.status, JSON.stringify(res.body)).toBe(200)
    expect(r.kernel.state().links.find((l) => l.name === 'eth9')?.up).toBe(true)
    const unknown = await r.api('PUT', '/v1/config', { ...config, interfaces: [...config.interfaces, { id: 'pub8', role: 'public', mac: '02:5e:00:00:00:08' }] })
    expect(unknown.status).toBe(400)
    expect(unknown.body.error.diagnostics).toEqual([expect.objectContaining({ path: '/interfaces/4/mac', code: 'ERR_INTERFACE_NOT_FOUND' })])
  })

  it('serves its OpenAPI document with every collection', async () => {
    const res = await r.api('GET', '/openapi.json')
    expect(res.status).toBe(200)
    expect(Object.keys(res.body.paths)).toEqual(expect.arrayContaining(['/v1/config', '/v1/config/portForwards/{id}', '/v1/config/staticRoutes/{id}', '/v1/status']))
  })
})
