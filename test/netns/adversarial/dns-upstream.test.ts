import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { LAB_ADDR, labRouterConfig } from '../../../src/lab/lab.ts'
import type { StartedProcess } from '../../../src/core/exec.ts'
import { dnsExchange } from '../../helpers/dns-guest.ts'
import { eventually } from '../../helpers/router-harness.ts'
import { RouterdProcess } from '../../helpers/routerd-process.ts'

const root = process.getuid?.() === 0
const NAMES = 2000
/** The per-network cap of upstream queries in flight (src/services/dns-server.ts). */
const NETWORK_CAP = 256

/**
 * Sends `count` queries for distinct names under blackhole.test within a fraction of a second,
 * 100 from each of several sockets (so that the late answers, which come all at once, fit each
 * socket's receive buffer); prints how many replies came back with each rcode.
 */
const DISTINCT_NAMES = (count: number) => `
  const rcodes = {};
  const query = (i) => {
    const labels = ['n' + i, 'blackhole', 'test'];
    const name = Buffer.concat([...labels.map((l) => Buffer.concat([Buffer.of(l.length), Buffer.from(l)])), Buffer.of(0)]);
    return Buffer.concat([Buffer.from([i >> 8, i & 255, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0]), name, Buffer.from('00010001', 'hex')]);
  };
  for (let first = 0; first < ${count}; first += 100) {
    const s = require('node:dgram').createSocket('udp4');
    s.on('message', (m) => { rcodes[m[3] & 15] = (rcodes[m[3] & 15] ?? 0) + 1 });
    s.bind(0, () => setTimeout(() => { for (let i = first; i < Math.min(first + 100, ${count}); i++) s.send(query(i), 53, '${LAB_ADDR.router}') }, first / 10));
  }
  setTimeout(() => { process.stdout.write(JSON.stringify(rcodes)); process.exit(0) }, 5000);`

/** An upstream that takes queries and never answers; prints how many it has seen, every 100 ms. */
const SILENT_UPSTREAM = `
  let n = 0;
  const s = require('node:dgram').createSocket('udp4');
  s.on('message', () => { n++ });
  s.bind(53, '${LAB_ADDR.internetHost}', () => process.stdout.write('listening\\n'));
  setInterval(() => process.stdout.write('seen ' + n + '\\n'), 100);`

describe.skipIf(!root)('DNS upstream queries in flight under one guest’s load', () => {
  let r: RouterdProcess
  let upstream: StartedProcess
  beforeAll(async () => {
    r = await RouterdProcess.create()
    upstream = r.lab.start(r.lab.ns.inet, process.execPath, ['-e', SILENT_UPSTREAM])
    await eventually(async () => upstream.output().includes('listening'), 'the silent upstream')
    const config = labRouterConfig() as Record<string, any>
    config['guestNetworks'] = [{ ...config['guestNetworks'][0], dnsServers: [LAB_ADDR.internetHost], dns: { rateLimitQps: 1_000_000 } }]
    await r.put(config)
  })
  afterAll(async () => {
    await r?.close()
  })

  it('a network has at most its cap of upstream queries in flight; past it, SERVFAIL at once, counted', async () => {
    // One exchange first: the router then knows the guest's MAC, and a burst of answers does not
    // overflow the kernel's queue of packets waiting for ARP.
    expect(await dnsExchange(r.lab, r.lab.ns.vm2, LAB_ADDR.router, ['0b5601000001000000000000' + '0b646174612d73657276657205636c6f756408696e7465726e616c00' + '00010001'])).toHaveLength(1)
    const before = await r.metric('routerd_dns_upstream_capped_total')
    const rcodes = JSON.parse((await r.lab.exec(r.lab.ns.vm2, process.execPath, ['-e', DISTINCT_NAMES(NAMES)], { timeoutMs: 30_000 })).stdout)
    const seen = Number(/seen (\d+)\n$/.exec(upstream.output())?.[1])
    expect(seen).toBeGreaterThan(0)
    expect(seen).toBeLessThanOrEqual(NETWORK_CAP)
    // Every query is answered: SERVFAIL, the capped ones at once, the others when the upstream times out.
    expect(rcodes).toEqual({ 2: NAMES })
    expect(await r.metric('routerd_dns_upstream_capped_total') - before).toBeGreaterThanOrEqual(NAMES - NETWORK_CAP)
    expect((await r.api('GET', '/healthz')).status).toBe(200)
  })
})
