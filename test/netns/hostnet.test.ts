import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { LAB_MACS } from '../../src/lab/lab.ts'
import { serve } from '../helpers/router-harness.ts'
import { RouterdProcess } from '../helpers/routerd-process.ts'

const root = process.getuid?.() === 0

/** curl's exit code for one GET: 0 answered, 7 refused (at once), 28 timed out (dropped). */
async function curlCode(r: RouterdProcess, ns: string, url: string): Promise<number> {
  const res = await r.lab.exec(ns, 'curl', ['-s', '-o', '/dev/null', '--max-time', '2', '--connect-timeout', '1', url], { okCodes: [0, 7, 28] })
  return res.exitCode
}

/**
 * The lab's links as a secondary storage VM's: eth1 (the lab's first guest segment, vm1 and vm2
 * on it) is the management network, eth2 the public one. vm1 stands for a management server's
 * web service, vm2 for an internal mirror the operator lists.
 */
const MGMT_GATEWAY = '10.1.1.10'
function ssvmDocument(): Record<string, unknown> {
  return {
    interfaces: [
      { id: 'ctl', role: 'control', mac: LAB_MACS.control, addresses: ['169.254.10.2/16'] },
      { id: 'mgmt', role: 'management', mac: LAB_MACS.guest, addresses: ['10.1.1.1/24'], gateway: MGMT_GATEWAY },
      { id: 'pub', role: 'public', mac: LAB_MACS.public0, gateway: '203.0.113.1' },
    ],
    publicIps: [{ id: 'pub', ip: '203.0.113.10', prefixLength: 24, interface: 'pub' }],
    firewallRules: [
      { id: 'http', publicIp: '203.0.113.10', protocol: 'tcp', ports: { start: 80 } },
      { id: 'https', publicIp: '203.0.113.10', protocol: 'tcp', ports: { start: 443 } },
    ],
    staticRoutes: [{ id: 'mgmtcidr', cidr: '172.16.0.0/16', via: MGMT_GATEWAY }],
    internalSites: [{ id: 'mirror', cidr: '10.1.1.11/32' }, { id: 'far', cidr: '172.20.0.0/24' }],
    defaultInterface: 'pub',
  }
}

describe.skipIf(!root)("the host-network role (a secondary storage VM's own links, routes and firewall)", () => {
  let r: RouterdProcess
  beforeAll(async () => {
    r = await RouterdProcess.create({ role: 'hostnet', controlPorts: [3922, 8444] })
    await r.put(ssvmDocument())
    const { rtr, inet, vm1, vm2 } = r.lab.ns
    // The appliance's own services: 80 open on the public IP, 8080 open nowhere.
    await serve(r.lab, rtr, 'tcp', '80')
    await serve(r.lab, rtr, 'tcp', '8080')
    await serve(r.lab, vm1, 'tcp', '80')
    await serve(r.lab, vm1, 'tcp', '8080')
    await serve(r.lab, vm2, 'tcp', '80')
    await serve(r.lab, inet, 'tcp', '80')
  })
  afterAll(async () => {
    await r?.close()
  })

  it('INPUT: the public IP takes its firewall rules\' ports (80) and nothing else; the management link reaches none of them', async () => {
    const { inet, vm1 } = r.lab.ns
    expect(await curlCode(r, inet, 'http://203.0.113.10/')).toBe(0)
    expect(await curlCode(r, inet, 'http://203.0.113.10:8080/')).toBe(28)
    expect(await curlCode(r, vm1, 'http://10.1.1.1/')).toBe(28)
    expect(await curlCode(r, vm1, 'http://10.1.1.1:8080/')).toBe(28)
  })

  it('OUTPUT: new web connections out of the management link are refused at once, except to internal sites; other ports and the public side are not touched', async () => {
    const { rtr } = r.lab.ns
    expect(await curlCode(r, rtr, 'http://10.1.1.10/')).toBe(7)
    expect(await curlCode(r, rtr, 'http://10.1.1.11/')).toBe(0)
    expect(await curlCode(r, rtr, 'http://10.1.1.10:8080/')).toBe(0)
    expect(await curlCode(r, rtr, 'http://192.0.2.10/')).toBe(0)
  })

  it('an internal site added or removed by item edits opens or closes at once', async () => {
    const { rtr } = r.lab.ns
    const put = await r.api('PUT', '/v1/config/internalSites/ms', { id: 'ms', cidr: '10.1.1.10/32' })
    expect(put.status, JSON.stringify(put.body)).toBe(200)
    expect(await curlCode(r, rtr, 'http://10.1.1.10/')).toBe(0)
    expect((await r.api('DELETE', '/v1/config/internalSites/ms')).status).toBe(200)
    expect(await curlCode(r, rtr, 'http://10.1.1.10/')).toBe(7)
  })

  it('routes: mgmtcidr and an off-link internal site through the management gateway; an on-link site gets none', async () => {
    const { rtr } = r.lab.ns
    const routes = (await r.lab.exec(rtr, 'ip', ['-4', 'route', 'show', 'table', 'main'])).stdout
    expect(routes).toMatch(/^default via 203\.0\.113\.1 dev eth2/m)
    expect(routes).toMatch(/^172\.16\.0\.0\/16 via 10\.1\.1\.10 dev eth1/m)
    expect(routes).toMatch(/^172\.20\.0\.0\/24 via 10\.1\.1\.10 dev eth1/m)
    expect(routes).not.toMatch(/^10\.1\.1\.11/m)
  })

  it('owns only filter, forwards nothing, and refuses what belongs to a router (guest interfaces, forwards)', async () => {
    const { rtr } = r.lab.ns
    for (const table of ['mangle', 'raw', 'nat']) {
      expect((await r.lab.exec(rtr, 'iptables-save', ['-t', table])).stdout, table).not.toMatch(/SVM-/)
    }
    const filter = (await r.lab.exec(rtr, 'iptables-save', ['-t', 'filter'])).stdout
    expect(filter).toMatch(/^-A OUTPUT -j SVM-OUTPUT$/m)
    expect(filter).not.toMatch(/SVM-FORWARD/)
    expect((await r.lab.exec(rtr, 'sysctl', ['-n', 'net.ipv4.ip_forward'])).stdout.trim()).toBe('0')
    const guest = await r.api('PUT', '/v1/config/interfaces/g2', { id: 'g2', role: 'guest', mac: LAB_MACS.guest2 })
    expect(guest.status).toBe(400)
    expect(guest.body.error.diagnostics.map((d: { code: string }) => d.code)).toEqual(['ERR_NOT_IN_ROLE'])
    const pf = await r.api('PUT', '/v1/config/portForwards/pf1', { id: 'pf1', publicIp: '203.0.113.10', protocol: 'tcp', publicPorts: { start: 22 }, privateIp: '10.1.1.10', privatePorts: { start: 22 } })
    expect(pf.status).toBe(404)
  })

  it('drift: a flushed OUTPUT chain is shown in /v1/diff and put back by a resync', async () => {
    const { rtr } = r.lab.ns
    await r.lab.exec(rtr, 'iptables', ['-F', 'SVM-OUTPUT'])
    expect(await curlCode(r, rtr, 'http://10.1.1.10/')).toBe(0)
    const differences: string[] = (await r.api('GET', '/v1/diff')).body.differences
    expect(differences.some((d) => d.includes('SVM-OUTPUT'))).toBe(true)
    await r.api('POST', '/v1/resync')
    expect((await r.api('GET', '/v1/diff')).body.differences).toEqual([])
    expect(await curlCode(r, rtr, 'http://10.1.1.10/')).toBe(7)
  })
})
