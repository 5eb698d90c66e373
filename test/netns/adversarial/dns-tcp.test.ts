import { readFileSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { LAB_ADDR, labRouterConfig } from '../../../src/lab/lab.ts'
import type { StartedProcess } from '../../../src/core/exec.ts'
import { dnsExchange } from '../../helpers/dns-guest.ts'
import { eventually } from '../../helpers/router-harness.ts'
import { RouterdProcess } from '../../helpers/routerd-process.ts'

const root = process.getuid?.() === 0

/** A local name's query, framed for TCP (2-byte length), as a JS expression for guest scripts. */
const FRAMED_QUERY = `(() => {
  const name = Buffer.concat([...['data-server', 'cloud', 'internal'].map((l) => Buffer.concat([Buffer.of(l.length), Buffer.from(l)])), Buffer.of(0)]);
  const q = Buffer.concat([Buffer.from('0b5601000001000000000000', 'hex'), name, Buffer.from('00010001', 'hex')]);
  return Buffer.concat([Buffer.of(0, q.length), q]);
})()`

/** Pipelines `count` queries on one connection as fast as the kernel takes them and never reads. */
const NEVER_READS = (count: number) => `
  const framed = ${FRAMED_QUERY};
  const s = require('node:net').connect(53, '${LAB_ADDR.router}');
  s.on('error', () => {});
  s.on('connect', () => { s.pause(); s.write(Buffer.concat(Array.from({ length: ${count} }, () => framed))); process.stdout.write('connected\\n') });
  setInterval(() => {}, 1000);`

/** Opens `count` connections at once, asks one query on each, prints how many were answered and how many the server closed. */
const MANY_CONNECTIONS = (count: number, from?: string) => `
  const framed = ${FRAMED_QUERY};
  let answered = 0, closed = 0;
  for (let i = 0; i < ${count}; i++) {
    const s = require('node:net').connect({ port: 53, host: '${LAB_ADDR.router}'${from === undefined ? '' : `, localAddress: '${from}'`} });
    s.on('error', () => {});
    s.on('connect', () => s.write(framed));
    s.on('data', () => { answered++ });
    s.on('close', () => { closed++ });
  }
  setTimeout(() => { process.stdout.write(JSON.stringify({ answered, closed })); process.exit(0) }, 3000);`

function rssMb(pid: number): number {
  const kb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1])
  return kb / 1024
}

describe.skipIf(!root)('DNS over TCP against hostile guests', () => {
  let r: RouterdProcess
  const answers = async () => (await r.metric('routerd_dns_answers_total', { answer: 'local' })) + (await r.metric('routerd_dns_answers_total', { answer: 'cache' }))

  beforeAll(async () => {
    r = await RouterdProcess.create()
    const config = labRouterConfig() as Record<string, any>
    // No rate limit in the way: what must bound memory here is backpressure, not the limiter.
    config['guestNetworks'] = [{ ...config['guestNetworks'][0], dns: { rateLimitQps: 1_000_000 } }]
    await r.put(config)
  })
  afterAll(async () => {
    await r?.close()
  })

  it('a client pipelining 200,000 queries and never reading does not grow routerd’s memory; other clients are answered meanwhile', async () => {
    const pid = r.daemon?.pid ?? -1
    // Warm up: the code paths and the cached answer exist before the baseline.
    expect((await dnsExchange(r.lab, r.lab.ns.vm1, LAB_ADDR.router, ['0b5601000001000000000000' + '0b646174612d73657276657205636c6f756408696e7465726e616c00' + '00010001'], { tcp: true })).length).toBe(1)
    const baseline = rssMb(pid)
    const before = await answers()
    let flooder: StartedProcess | undefined
    try {
      flooder = r.lab.start(r.lab.ns.vm2, process.execPath, ['-e', NEVER_READS(200_000)])
      await eventually(async () => flooder!.output().includes('connected'), 'the flooder to connect')
      // Wait until routerd has stopped taking queries from it (or has taken them all).
      let last = -1
      let taken = 0
      let maxRss = baseline
      for (;;) {
        await new Promise((resolve) => setTimeout(resolve, 1000))
        maxRss = Math.max(maxRss, rssMb(pid))
        const now = await answers()
        taken = now - before
        if (now === last || taken >= 200_000) break
        last = now
      }
      const queued = await r.metric('routerd_dns_tcp_queued_bytes')
      // Meanwhile, another guest is answered over UDP and over TCP.
      const q = '0b5601000001000000000000' + '0b646174612d73657276657205636c6f756408696e7465726e616c00' + '00010001'
      expect(await dnsExchange(r.lab, r.lab.ns.vm1, LAB_ADDR.router, [q])).toHaveLength(1)
      expect(await dnsExchange(r.lab, r.lab.ns.vm1, LAB_ADDR.router, [q, q, q], { tcp: true })).toHaveLength(3)
      maxRss = Math.max(maxRss, rssMb(pid))
      expect(maxRss - baseline, `RSS ${baseline.toFixed(0)} → ${maxRss.toFixed(0)} MB, ${taken} queries taken`).toBeLessThan(24)
      // One connection's bound: 16 KiB of answers, plus one answer, one unparsed chunk and the
      // socket's read buffer (64 KiB each at most).
      expect(queued).toBeLessThanOrEqual(16 * 1024 + 3 * 64 * 1024)
      expect(taken).toBeLessThan(200_000)
    } finally {
      flooder?.kill('SIGKILL')
    }
  })

  it('one source gets at most 8 connections at a time; another source is still served', async () => {
    const flood = JSON.parse((await r.lab.exec(r.lab.ns.vm2, process.execPath, ['-e', MANY_CONNECTIONS(40)], { timeoutMs: 20_000 })).stdout)
    expect(flood).toEqual({ answered: 8, closed: 32 })
    const other = JSON.parse((await r.lab.exec(r.lab.ns.vm1, process.execPath, ['-e', MANY_CONNECTIONS(2)], { timeoutMs: 20_000 })).stdout)
    expect(other).toEqual({ answered: 2, closed: 0 })
  })

  it('a connection from a source outside the network is closed at accept, unanswered', async () => {
    // iptables lets only guest sources reach port 53 from the links; loopback (127.0.0.1, outside
    // the network) reaches it from the router itself.
    const before = await r.metric('routerd_dns_dropped_total', { reason: 'outside' })
    const out = JSON.parse((await r.lab.exec(r.lab.ns.rtr, process.execPath, ['-e', MANY_CONNECTIONS(1, '127.0.0.1')], { timeoutMs: 20_000 })).stdout)
    expect(out).toEqual({ answered: 0, closed: 1 })
    expect(await r.metric('routerd_dns_dropped_total', { reason: 'outside' })).toBe(before + 1)
  })
})
