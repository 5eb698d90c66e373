import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Daemon } from '../../src/lab/daemon.ts'
import { Lab, LAB_ADDR, labRouterConfig } from '../../src/lab/lab.ts'
import { curl, eventually, httpUnix, kernelSnapshot, serve, TOKEN } from '../helpers/router-harness.ts'

const root = process.getuid?.() === 0
const HOST = LAB_ADDR.internetHost

/** routerd as a real process in the lab's router namespace, reached over a unix socket. */
describe.skipIf(!root)('routerd process: restart, crash, drift', () => {
  let lab: Lab
  let routerd: Daemon | undefined
  let socket: string

  beforeAll(async () => {
    lab = await Lab.create()
    await serve(lab, lab.ns.vm1, 'tcp', '80')
    await serve(lab, lab.ns.inet, 'tcp', '80', HOST)
    routerd = await Daemon.launch({ name: 'routerd', netns: lab.ns.rtr, token: TOKEN, config: { driftCheckSeconds: 1, logLevel: 'warn' } })
    socket = routerd.socket
    const config = labRouterConfig()
    config['portForwards'] = [{ id: 'pf-web', publicIp: '203.0.113.12', protocol: 'tcp', publicPorts: { start: 8080 }, privateIp: LAB_ADDR.vm1, privatePorts: { start: 80 } }]
    config['firewallRules'] = [{ id: 'fw-1', publicIp: '203.0.113.10', protocol: 'tcp', ports: { start: 22 }, sourceCidrs: ['192.0.2.0/24', '198.18.0.0/15'] }]
    const res = await httpUnix(socket, 'PUT', '/v1/config', config)
    expect(res.status, JSON.stringify(res.body)).toBe(200)
  })
  afterAll(async () => {
    await routerd?.close()
    await lab?.destroy()
  })

  it('requests without the token get 401; /healthz is open', async () => {
    expect((await httpUnix(socket, 'GET', '/v1/config', undefined, 'wrong-token-wrong-token')).status).toBe(401)
    expect((await httpUnix(socket, 'GET', '/healthz', undefined, '')).status).toBe(200)
  })

  it('SIGKILL then start again: the same kernel state, traffic still flows', async () => {
    const before = await kernelSnapshot(lab, lab.ns.rtr)
    await routerd?.kill()
    await routerd?.start()
    expect(await kernelSnapshot(lab, lab.ns.rtr)).toBe(before)
    expect(await curl(lab, lab.ns.inet, 'http://203.0.113.12:8080/', HOST)).toBe(`${HOST} 80`)
    expect((await httpUnix(socket, 'GET', '/readyz', undefined, '')).status).toBe(200)
    expect((await httpUnix(socket, 'GET', '/v1/status')).body).toEqual(expect.objectContaining({ ready: true, store: { problems: [] } }))
  })

  it('a router that lost everything (SIGKILL, tables and addresses wiped) is rebuilt from the store on start', async () => {
    const before = await kernelSnapshot(lab, lab.ns.rtr)
    await routerd?.kill()
    for (const table of ['filter', 'nat', 'mangle', 'raw']) {
      await lab.exec(lab.ns.rtr, 'iptables', ['-t', table, '-F'])
      await lab.exec(lab.ns.rtr, 'iptables', ['-t', table, '-X'])
    }
    await lab.exec(lab.ns.rtr, 'iptables', ['-P', 'INPUT', 'ACCEPT'])
    await lab.exec(lab.ns.rtr, 'iptables', ['-P', 'FORWARD', 'ACCEPT'])
    await lab.exec(lab.ns.rtr, 'ip', ['-4', 'addr', 'flush', 'dev', 'eth2'])
    await lab.exec(lab.ns.rtr, 'ipset', ['destroy'])
    expect(await kernelSnapshot(lab, lab.ns.rtr)).not.toBe(before)
    await routerd?.start()
    expect(await kernelSnapshot(lab, lab.ns.rtr)).toBe(before)
    expect(await curl(lab, lab.ns.vm1, `http://${HOST}/`)).toBe('203.0.113.10 80')
  })

  it('our chains flushed by hand are detected and repaired by the periodic drift check', async () => {
    const before = await kernelSnapshot(lab, lab.ns.rtr)
    await lab.exec(lab.ns.rtr, 'iptables', ['-t', 'nat', '-F'])
    expect(await curl(lab, lab.ns.inet, 'http://203.0.113.12:8080/', HOST)).toBeNull()
    await eventually(async () => (await kernelSnapshot(lab, lab.ns.rtr)) === before, 'drift repair')
    expect(await curl(lab, lab.ns.inet, 'http://203.0.113.12:8080/', HOST)).toBe(`${HOST} 80`)
    const status = await httpUnix(socket, 'GET', '/v1/status')
    expect(status.body.drift.repairs).toBeGreaterThanOrEqual(1)
  })

  it('a rule edited into one of our chains by someone else is removed', async () => {
    const before = await kernelSnapshot(lab, lab.ns.rtr)
    const chain = (await lab.exec(lab.ns.rtr, 'iptables-save', ['-t', 'nat'])).stdout.match(/^:(SVM-DNAT-\S+)/m)?.[1] as string
    await lab.exec(lab.ns.rtr, 'iptables', ['-t', 'nat', '-I', chain, '-p', 'tcp', '--dport', '8081', '-j', 'DNAT', '--to-destination', LAB_ADDR.vm2])
    await eventually(async () => (await kernelSnapshot(lab, lab.ns.rtr)) === before, 'drift repair')
  })

  it('metrics show applies and drift repairs in Prometheus text', async () => {
    const res = await httpUnix(socket, 'GET', '/metrics')
    expect(res.status).toBe(200)
    expect(res.body).toMatch(/^routerd_applies_total\{kind="full",reason="start"\} \d+$/m)
    expect(res.body).toMatch(/^routerd_drift_repairs_total \d+$/m)
  })
})
