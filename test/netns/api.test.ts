import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { LAB_ADDR } from '../../src/lab/lab.ts'
import { curl, labRouterConfig, rawKernelListing, serve, startHarness, type Harness } from '../helpers/router-harness.ts'

const root = process.getuid?.() === 0
const HOST = LAB_ADDR.internetHost
const forward = (id: string, port: number) => ({
  id, publicIp: '203.0.113.12', protocol: 'tcp', publicPorts: { start: port }, privateIp: LAB_ADDR.vm1, privatePorts: { start: 80 },
})

describe.skipIf(!root)('control API against the kernel', () => {
  let h: Harness
  beforeAll(async () => {
    h = await startHarness()
    const config = { ...labRouterConfig(), portForwards: [forward('pf-a', 8080)] }
    const res = await h.api('PUT', '/v1/config', config)
    expect(res.status, JSON.stringify(res.body)).toBe(200)
    await serve(h.lab, h.lab.ns.vm1, 'tcp', '80')
  })
  afterAll(async () => { await h?.close() })

  it('no token → 401, wrong token → 401', async () => {
    expect((await h.app.inject({ method: 'GET', url: '/v1/config' })).statusCode).toBe(401)
    expect((await h.app.inject({ method: 'GET', url: '/v1/status', headers: { authorization: 'Bearer nope' } })).statusCode).toBe(401)
  })

  it('an invalid config → 400 listing every problem with its path; the kernel and the store are untouched', async () => {
    const before = await rawKernelListing(h.lab, h.lab.ns.rtr)
    const stored = await h.api('GET', '/v1/config')
    const bad = {
      ...labRouterConfig(),
      portForwards: [forward('pf-a', 8080), forward('pf-b', 8080), { ...forward('pf-c', 9090), privateIp: '10.9.9.9' }],
      firewallRules: [{ id: 'fw', publicIp: '203.0.113.99', protocol: 'tcp', ports: { start: 22 }, sourceCidrs: ['10.0.0.1/8'] }],
      staticRoutes: [{ id: 'r', cidr: '172.16.0.0/12', via: '192.0.2.1' }],
    }
    const res = await h.api('PUT', '/v1/config', bad)
    expect(res.status).toBe(400)
    expect(res.body.error.code).toBe('ERR_CONFIG_INVALID')
    expect(res.body.error.diagnostics.map((d: { path: string; code: string }) => `${d.path} ${d.code}`)).toEqual([
      '/portForwards/2/privateIp ERR_ADDRESS_OUTSIDE_NETWORK',
      '/portForwards/1/publicPorts ERR_PORT_FORWARD_OVERLAP',
      '/firewallRules/0/publicIp ERR_UNKNOWN_PUBLIC_IP',
      '/firewallRules/0/sourceCidrs/0 ERR_BAD_CIDR',
      '/staticRoutes/0/via ERR_UNREACHABLE_NEXT_HOP',
    ])
    expect(await rawKernelListing(h.lab, h.lab.ns.rtr)).toBe(before)
    expect(await h.api('GET', '/v1/config')).toEqual(stored)
  })

  it('an unknown field → 400 naming it; nothing changes', async () => {
    const before = await rawKernelListing(h.lab, h.lab.ns.rtr)
    const res = await h.api('PUT', '/v1/config/portForwards/pf-x', { ...forward('pf-x', 8090), colour: 'blue' })
    expect(res.status).toBe(400)
    expect(res.body.error.diagnostics).toEqual([
      { severity: 'error', path: '/portForwards/1/colour', code: 'ERR_UNKNOWN_FIELD', message: 'unknown field' },
    ])
    expect(await rawKernelListing(h.lab, h.lab.ns.rtr)).toBe(before)
  })

  it('item-level PUT and DELETE take effect in the kernel before the answer', async () => {
    const put = await h.api('PUT', '/v1/config/portForwards/pf-b', forward('pf-b', 8081))
    expect(put.status, JSON.stringify(put.body)).toBe(200)
    expect(put.body.report.kind).toBe('partial')
    expect(await curl(h.lab, h.lab.ns.inet, 'http://203.0.113.12:8081/', HOST)).toBe(`${HOST} 80`)
    expect((await h.api('GET', '/v1/config/portForwards/pf-b')).body).toEqual(forward('pf-b', 8081))
    const del = await h.api('DELETE', '/v1/config/portForwards/pf-b')
    expect(del.status).toBe(200)
    expect(await curl(h.lab, h.lab.ns.inet, 'http://203.0.113.12:8081/', HOST)).toBeNull()
    expect((await h.api('DELETE', '/v1/config/portForwards/pf-b')).status).toBe(404)
  })

  it('If-Match on a stale generation → 412, nothing applied', async () => {
    const { generation } = (await h.api('GET', '/v1/config')).body
    const res = await h.api('PUT', '/v1/config/portForwards/pf-c', forward('pf-c', 8082), { 'if-match': `"${generation - 1}"` })
    expect(res.status).toBe(412)
    const ok = await h.api('PUT', '/v1/config/portForwards/pf-c', forward('pf-c', 8082), { 'if-match': `"${generation}"` })
    expect(ok.status).toBe(200)
    expect(ok.body.generation).toBe(generation + 1)
  })

  it('a batch the kernel rejects → 422 naming the line; the previous state stays in force', async () => {
    const before = await rawKernelListing(h.lab, h.lab.ns.rtr)
    const { config } = (await h.api('GET', '/v1/config')).body
    // Valid to the schema (only a warning), but the kernel refuses a gateway it cannot reach.
    const bad = {
      ...config,
      interfaces: config.interfaces.map((i: { id: string }) => (i.id === 'pub1' ? { ...i, gateway: '100.64.0.1' } : i)),
      portForwards: [...config.portForwards, forward('pf-new', 8083)],
    }
    const res = await h.api('PUT', '/v1/config', bad)
    expect(res.status).toBe(422)
    expect(res.body.error.code).toBe('ERR_KERNEL_REJECTED')
    expect(res.body.error.tool).toBe('ip -batch')
    expect(res.body.error.lineText).toContain('100.64.0.1')
    expect(await rawKernelListing(h.lab, h.lab.ns.rtr)).toBe(before)
    expect(await curl(h.lab, h.lab.ns.inet, 'http://203.0.113.12:8083/', HOST)).toBeNull()
    expect((await h.api('GET', '/v1/config')).body.config).toEqual(config)
    const status = (await h.api('GET', '/v1/status')).body
    expect(status.lastError.code).toBe('ERR_KERNEL_REJECTED')
    expect(status.subsystems.net.lastError.line).toBe(res.body.error.line)
    expect(status.subsystems.iptables.lastError).toBeNull()
    expect(status.appliedGeneration).toBe(status.desiredGeneration)
  })

  it('an ipset name squatted by someone else → 422; their set and our state are untouched', async () => {
    const { config } = (await h.api('GET', '/v1/config')).body
    const rule = { id: 'fw-two', publicIp: '203.0.113.10', protocol: 'tcp', ports: { start: 22 }, sourceCidrs: ['192.0.2.0/24', '198.18.0.0/15'] }
    const { renderRouter } = await import('../../src/router/render/index.ts')
    const { readFacts } = await import('../../src/router/kernel/facts.ts')
    const { createRunner } = await import('../../src/core/exec.ts')
    const facts = await readFacts(createRunner(h.lab.ns.rtr), [8443])
    const setName = renderRouter({ ...config, firewallRules: [rule] }, facts).ipsets[0]?.name as string
    await h.lab.exec(h.lab.ns.rtr, 'ipset', ['create', setName, 'hash:ip'])
    const before = await rawKernelListing(h.lab, h.lab.ns.rtr)
    const res = await h.api('PUT', '/v1/config/firewallRules/fw-two', rule)
    expect(res.status).toBe(422)
    expect(res.body.error.tool).toBe('ipset')
    expect(res.body.error.line).toBe(1)
    expect(await rawKernelListing(h.lab, h.lab.ns.rtr)).toBe(before)
    await h.lab.exec(h.lab.ns.rtr, 'ipset', ['destroy', setName])
  })

  it('serves its OpenAPI document with every collection', async () => {
    const res = await h.api('GET', '/openapi.json')
    expect(res.status).toBe(200)
    expect(Object.keys(res.body.paths)).toEqual(expect.arrayContaining(['/v1/config', '/v1/config/portForwards/{id}', '/v1/config/staticRoutes/{id}', '/v1/status']))
  })

  it('describes every response body of the router routes in its OpenAPI document, the apply report included', async () => {
    const { paths } = (await h.api('GET', '/openapi.json')).body as { paths: Record<string, Record<string, { responses?: Record<string, { content?: unknown }> }>> }
    const undescribed: string[] = []
    for (const [path, methods] of Object.entries(paths)) {
      if (!path.startsWith('/v1/')) continue
      for (const [method, op] of Object.entries(methods)) if (op.responses?.['200']?.content === undefined) undescribed.push(`${method} ${path}`)
    }
    expect(undescribed).toEqual([])
    const report = (paths['/v1/config/portForwards/{id}'] as any).put.responses['200'].content['application/json'].schema.properties.report
    expect(Object.keys(report.properties)).toEqual(['kind', 'chainsWritten', 'rulesWritten', 'ipsetsChanged', 'netOps', 'durationsMs'])
    const status = (paths['/v1/status'] as any).get.responses['200'].content['application/json'].schema
    expect(Object.keys(status.properties)).toEqual(expect.arrayContaining(['desiredGeneration', 'appliedGeneration', 'subsystems', 'drift', 'store']))
  })

  it('a NIC plugged in after start is found when a config names it', async () => {
    const { config } = (await h.api('GET', '/v1/config')).body
    await h.lab.exec(h.lab.ns.rtr, 'ip', ['link', 'add', 'eth9', 'address', '02:5e:00:00:00:09', 'type', 'veth', 'peer', 'name', 'eth9-peer'])
    const res = await h.api('PUT', '/v1/config', { ...config, interfaces: [...config.interfaces, { id: 'pub9', role: 'public', mac: '02:5e:00:00:00:09' }] })
    expect(res.status, JSON.stringify(res.body)).toBe(200)
    const unknown = await h.api('PUT', '/v1/config', { ...config, interfaces: [...config.interfaces, { id: 'pub8', role: 'public', mac: '02:5e:00:00:00:08' }] })
    expect(unknown.body.error.diagnostics).toEqual([expect.objectContaining({ path: '/interfaces/4/mac', code: 'ERR_INTERFACE_NOT_FOUND' })])
  })
})
