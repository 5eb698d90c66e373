import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { LAB_ADDR, LAB_MACS, labRouterConfig } from '../../src/lab/lab.ts'
import { layoutOf } from '../../src/router/services/dns/wire.ts'
import type { StartedProcess } from '../../src/core/exec.ts'
import { eventually } from '../helpers/router-harness.ts'
import { dnsExchange } from '../helpers/dns-guest.ts'
import { RouterdProcess } from '../helpers/routerd-process.ts'

const root = process.getuid?.() === 0
const UPSTREAM = LAB_ADDR.internetHost
/** A second upstream, authoritative for neg.test: its negative answers carry an SOA, so they may be cached (RFC 2308). */
const AUTH_UPSTREAM = '192.0.2.11'
/** A query as hex: header (id 0x0b56, RD, the given counts), `name` as wire labels, type, class IN, then `tail` records. */
function rawQuery(labels: readonly (string | Buffer)[], qtype: number, opts: { opcode?: number; an?: number; ns?: number; optVersion?: number; tail?: string } = {}): string {
  const name = Buffer.concat([...labels.map((l) => { const b = typeof l === 'string' ? Buffer.from(l) : l; return Buffer.concat([Buffer.of(b.length), b]) }), Buffer.of(0)])
  const ar = opts.optVersion === undefined ? 0 : 1
  const header = Buffer.from([0x0b, 0x56, 0x01 | ((opts.opcode ?? 0) << 3), 0, 0, 1, 0, opts.an ?? 0, 0, opts.ns ?? 0, 0, ar])
  const opt = opts.optVersion === undefined ? Buffer.alloc(0) : Buffer.from([0, 0, 41, 0x04, 0xd0, 0, opts.optVersion, 0, 0, 0, 0])
  return Buffer.concat([header, name, Buffer.from([qtype >> 8, qtype & 255, 0, 1]), Buffer.from(opts.tail ?? '', 'hex'), opt]).toString('hex')
}

/** Header fields of a reply, its question bytes and its OPT record (the last 11 bytes when ARCOUNT is 1 and they are OPT). */
function inspect(replyHex: string, queryHex: string) {
  const r = Buffer.from(replyHex, 'hex')
  const q = Buffer.from(queryHex, 'hex')
  let end = 12
  while (q[end] !== 0) end += 1 + (q[end] as number)
  end += 5
  const arcount = r.readUInt16BE(10)
  const optAt = r.length - 11
  const opt = arcount >= 1 && r.readUInt16BE(optAt + 1) === 41 ? { extendedRcode: r[optAt + 5], version: r[optAt + 6] } : undefined
  return {
    id: r.readUInt16BE(0), qr: ((r[2] as number) & 0x80) !== 0, rcode: (r[3] as number) & 15, qdcount: r.readUInt16BE(4),
    questionEchoed: r.subarray(12, end).equals(q.subarray(12, end)), wellFormed: layoutOf(r) !== undefined, opt,
  }
}

/** Six 250-byte strings: the TXT answer does not fit 1232 bytes of UDP, let alone 512. */
const BIG_TXT = Array.from({ length: 6 }, (_, i) => String.fromCharCode(97 + i).repeat(250))

function dnsConfig(): Record<string, any> {
  const config = labRouterConfig() as Record<string, any>
  config['interfaces'] = [...config['interfaces'], { id: 'guest2', role: 'guest', mac: LAB_MACS.guest2 }]
  config['guestNetworks'] = [
    { ...config['guestNetworks'][0], dnsServers: [UPSTREAM, AUTH_UPSTREAM], dns: { rateLimitQps: 300 } },
    // A second network, without upstreams: its clients must never see the first one's names.
    { id: 'net2', interface: 'guest2', cidr: '10.2.2.0/24', routerIp: '10.2.2.1', domain: 'two.internal' },
  ]
  config['dhcpHosts'] = [
    { id: 'vm1', network: 'net1', mac: LAB_MACS.vm1, ip: LAB_ADDR.vm1, hostname: 'vm-one', ipv6: 'fd00:1::10' },
    { id: 'vm2', network: 'net1', mac: LAB_MACS.vm2, ip: LAB_ADDR.vm2, hostname: 'vm-two' },
  ]
  return config
}

describe.skipIf(!root)('DNS server: dig in guest namespaces, an upstream resolver on the internet side', () => {
  let r: RouterdProcess
  let upstream: StartedProcess
  let authUpstream: StartedProcess
  const dig = async (ns: string, ...args: string[]) => {
    const out = await r.lab.exec(ns, 'dig', ['+tries=1', '+time=2', ...args], { okCodes: [0, 9, 10] })
    return out.stdout
  }
  const vm = (...args: string[]) => dig(r.lab.ns.vm1, `@${LAB_ADDR.router}`, ...args)
  const short = async (...args: string[]) => (await vm('+short', ...args)).trim()

  function startUpstream(): StartedProcess {
    // dnsmasq as a plain authoritative server for example.test, like any resolver upstream.
    return r.lab.start(r.lab.ns.inet, 'dnsmasq', [
      '-k', '--conf-file=/dev/null', '--no-resolv', '--no-hosts', '--bind-interfaces', `--listen-address=${UPSTREAM}`,
      '--user=root', '--group=root', '--pid-file=', '--log-facility=-', '--log-queries', '--local-ttl=300',
      '--local=/example.test/', '--address=/fwd.example.test/192.0.2.99', `--txt-record=big.example.test,${BIG_TXT.join(',')}`,
    ])
  }

  function startAuthUpstream(): StartedProcess {
    // Asked second: the first upstream REFUSES neg.test (not its zone), so the router moves on.
    return r.lab.start(r.lab.ns.inet, 'dnsmasq', [
      '-k', '--conf-file=/dev/null', '--no-resolv', '--no-hosts', '--bind-interfaces', `--listen-address=${AUTH_UPSTREAM}`,
      '--user=root', '--group=root', '--pid-file=', '--log-facility=-', `--auth-server=ns.neg.test,${AUTH_UPSTREAM}`, '--auth-zone=neg.test',
      '--host-record=www.neg.test,192.0.2.77', '--auth-ttl=300',
    ])
  }

  beforeAll(async () => {
    r = await RouterdProcess.create()
    upstream = startUpstream()
    await r.lab.exec(r.lab.ns.inet, 'ip', ['address', 'add', `${AUTH_UPSTREAM}/32`, 'dev', 'lo'])
    authUpstream = startAuthUpstream()
    await eventually(async () => (await dig(r.lab.ns.inet, `@${UPSTREAM}`, '+short', 'fwd.example.test')).trim() === '192.0.2.99', 'the upstream to answer')
    await eventually(async () => (await dig(r.lab.ns.inet, `@${AUTH_UPSTREAM}`, '+short', 'www.neg.test')).trim() === '192.0.2.77', 'the second upstream to answer')
    await r.put(dnsConfig())
  })
  afterAll(async () => {
    await r?.close()
  })

  it('answers A, AAAA, bare names and the router names with authority', async () => {
    const full = await vm('vm-one.cloud.internal', 'A')
    expect(full).toMatch(/flags: qr aa rd ra;/)
    expect(full).toMatch(/vm-one\.cloud\.internal\.\s+60\s+IN\s+A\s+10\.1\.1\.10/)
    expect(await short('VM-ONE.cloud.internal', 'AAAA')).toBe('fd00:1::10')
    expect(await short('vm-two', 'A')).toBe('10.1.1.11')
    expect(await short('data-server.cloud.internal')).toBe('10.1.1.1')
  })

  it('answers PTR in the reverse zone, SOA and NS at the apex, NXDOMAIN with the SOA for unknown names', async () => {
    expect(await short('-x', '10.1.1.10')).toBe('vm-one.cloud.internal.')
    expect(await short('cloud.internal', 'SOA')).toMatch(/^ns\.cloud\.internal\. hostmaster\.cloud\.internal\. \d+ 3600 600 86400 60$/)
    expect(await short('cloud.internal', 'NS')).toBe('ns.cloud.internal.')
    const nx = await vm('nobody.cloud.internal')
    expect(nx).toContain('status: NXDOMAIN')
    expect(nx).toMatch(/AUTHORITY SECTION:\ncloud\.internal\.\s+60\s+IN\s+SOA/)
    expect(await vm('-x', '10.1.1.99')).toContain('status: NXDOMAIN')
  })

  it('follows the config at once: a removed VM has no name any more, a new one has', async () => {
    expect((await r.api('DELETE', '/v1/config/dhcpHosts/vm2')).status).toBe(200)
    expect(await vm('vm-two.cloud.internal')).toContain('status: NXDOMAIN')
    const vm2 = dnsConfig()['dhcpHosts'][1]
    expect((await r.api('PUT', '/v1/config/dhcpHosts/vm2', { ...vm2, hostname: 'vm-renamed' })).status).toBe(200)
    expect(await short('vm-renamed.cloud.internal')).toBe('10.1.1.11')
    expect((await r.api('PUT', '/v1/config/dhcpHosts/vm2', vm2)).status).toBe(200)
    expect(await short('vm-two.cloud.internal')).toBe('10.1.1.11')
  })

  it("keeps each network to its own names: another network's cached answers never cross", async () => {
    expect(await short('vm-one.cloud.internal')).toBe('10.1.1.10')
    await r.lab.exec(r.lab.ns.vm3, 'ip', ['address', 'add', '10.2.2.5/24', 'dev', 'eth0'])
    const other = await dig(r.lab.ns.vm3, '@10.2.2.1', 'vm-one.cloud.internal')
    expect(other).toContain('status: REFUSED')
    expect(other).not.toContain('10.1.1.10')
    expect((await dig(r.lab.ns.vm3, '@10.2.2.1', '+short', 'data-server.two.internal')).trim()).toBe('10.2.2.1')
  })

  it('EDNS version 1 gets BADVERS (extended rcode 16 in our OPT, version 0), as RFC 6891 6.1.3 says', async () => {
    const q = rawQuery(['vm-one', 'cloud', 'internal'], 1, { optVersion: 1 })
    const [reply] = await dnsExchange(r.lab, r.lab.ns.vm1, LAB_ADDR.router, [q])
    expect(inspect(reply ?? '', q)).toMatchObject({ id: 0x0b56, qr: true, rcode: 0, qdcount: 1, questionEchoed: true, wellFormed: true, opt: { extendedRcode: 1, version: 0 } })
  })

  it('zone transfers (AXFR, IXFR) are REFUSED, over TCP and UDP', async () => {
    // IXFR carries the client's SOA in the authority section (RFC 1995): name pointer to the question, type SOA, an empty-ish SOA.
    const ixfrSoa = 'c00c' + '0006' + '0001' + '00000000' + '0016' + '00' + '00' + '00000001' + '00000000' + '00000000' + '00000000' + '00000000'
    const axfr = rawQuery(['cloud', 'internal'], 252)
    const ixfr = rawQuery(['cloud', 'internal'], 251, { ns: 1, tail: ixfrSoa })
    for (const tcp of [true, false]) {
      const replies = await dnsExchange(r.lab, r.lab.ns.vm1, LAB_ADDR.router, [axfr], { tcp })
      expect(inspect(replies[0] ?? '', axfr), `AXFR tcp=${tcp}`).toMatchObject({ rcode: 5, qdcount: 1, questionEchoed: true, wellFormed: true })
      const ixfrReplies = await dnsExchange(r.lab, r.lab.ns.vm1, LAB_ADDR.router, [ixfr], { tcp })
      expect(inspect(ixfrReplies[0] ?? '', ixfr), `IXFR tcp=${tcp}`).toMatchObject({ rcode: 5, qdcount: 1, questionEchoed: true, wellFormed: true })
    }
  })

  it('FORMERR and NOTIMP keep the question and the OPT of a parseable query; NOTIMP is counted as notimp', async () => {
    const notimpBefore = await r.metric('routerd_dns_answers_total', { answer: 'notimp' })
    const formerrBefore = await r.metric('routerd_dns_answers_total', { answer: 'formerr' })
    const status = rawQuery(['vm-one', 'cloud', 'internal'], 1, { opcode: 2, optVersion: 0 })
    const [notimp] = await dnsExchange(r.lab, r.lab.ns.vm1, LAB_ADDR.router, [status])
    expect(inspect(notimp ?? '', status)).toMatchObject({ rcode: 4, qdcount: 1, questionEchoed: true, wellFormed: true, opt: { extendedRcode: 0, version: 0 } })
    // An answer record in a query: FORMERR, with the question.
    const withAnswer = rawQuery(['vm-one', 'cloud', 'internal'], 1, { an: 1, tail: 'c00c000100010000003c00040a01010a' })
    const [formerr] = await dnsExchange(r.lab, r.lab.ns.vm1, LAB_ADDR.router, [withAnswer])
    expect(inspect(formerr ?? '', withAnswer)).toMatchObject({ rcode: 1, qdcount: 1, questionEchoed: true, wellFormed: true })
    expect(await r.metric('routerd_dns_answers_total', { answer: 'notimp' })).toBe(notimpBefore + 1)
    expect(await r.metric('routerd_dns_answers_total', { answer: 'formerr' })).toBe(formerrBefore + 1)
  })

  it('names with escaped bytes (a dot, control or high bytes inside a label) get well-formed replies echoing their question, also from the cache', async () => {
    const queries = [
      '0b560100000100000000000001800000010001', // the query: one label, the byte 0x80, type A
      rawQuery([Buffer.from('a.b'), 'cloud', 'internal'], 1),
      rawQuery([Buffer.from([0x76, 0x00, 0x0a, 0xff]), 'cloud', 'internal'], 28),
      rawQuery([Buffer.from('vm-one.x')], 1),
    ]
    for (let round = 0; round < 2; round++) {
      for (const q of queries) {
        const [reply] = await dnsExchange(r.lab, r.lab.ns.vm1, LAB_ADDR.router, [q])
        const seen = inspect(reply ?? '', q)
        expect(seen, `${q} round ${round}`).toMatchObject({ qr: true, qdcount: 1, questionEchoed: true, wellFormed: true })
        expect([0, 3, 5], `${q} rcode`).toContain(seen.rcode)
      }
    }
  })

  it('answers over TCP', async () => {
    expect(await short('+tcp', 'vm-one.cloud.internal')).toBe('10.1.1.10')
  })

  it('forwards other names upstream and serves them again from its cache, TTL counting down, negative answers too', async () => {
    const first = await vm('fwd.example.test')
    expect(first).toMatch(/fwd\.example\.test\.\s+300\s+IN\s+A\s+192\.0\.2\.99/)
    expect(await vm('nosuch.neg.test')).toContain('status: NXDOMAIN')
    const cachedBefore = await r.metric('routerd_dns_answers_total', { answer: 'cache' })
    expect(await short('www.neg.test')).toBe('192.0.2.77')
    // With the upstreams gone, the answers still come, from the cache.
    upstream.kill('SIGKILL')
    authUpstream.kill('SIGKILL')
    await Promise.all([upstream.exited, authUpstream.exited])
    await new Promise((resolve) => setTimeout(resolve, 1100))
    const again = await vm('fwd.example.test')
    const ttl = Number(/fwd\.example\.test\.\s+(\d+)\s+IN\s+A\s+192\.0\.2\.99/.exec(again)?.[1])
    expect(ttl).toBeGreaterThan(250)
    expect(ttl).toBeLessThan(300)
    expect(await r.metric('routerd_dns_answers_total', { answer: 'cache' })).toBe(cachedBefore + 1)
    const negative = await vm('nosuch.neg.test')
    expect(negative).toContain('status: NXDOMAIN')
    const soaTtl = Number(/AUTHORITY SECTION:\nneg\.test\.\s+(\d+)\s+IN\s+SOA/.exec(negative)?.[1])
    expect(soaTtl).toBeGreaterThan(250)
    expect(soaTtl).toBeLessThan(300)
    // A name never asked before now fails: SERVFAIL, not a hang.
    // (Each upstream gets 1.5 s; dig waits longer than both.)
    expect(await vm('+time=5', 'other.example.test')).toContain('status: SERVFAIL')
    upstream = startUpstream()
    authUpstream = startAuthUpstream()
    await eventually(async () => (await dig(r.lab.ns.inet, `@${UPSTREAM}`, '+short', 'fwd.example.test')).trim() === '192.0.2.99', 'the upstream to answer again')
  })

  it('an answer too big for UDP is truncated and dig retries over TCP (upstream too: UDP then TCP)', async () => {
    const out = await vm('+noedns', '+ignore', 'big.example.test', 'TXT')
    expect(out).toContain('flags: qr tc rd ra')
    const retried = await vm('+noedns', 'big.example.test', 'TXT')
    expect(retried).toContain('Truncated, retrying in TCP mode')
    expect(retried).toContain('a'.repeat(250))
    expect(retried).toContain('f'.repeat(250))
  })

  it('never answers the public side', async () => {
    // Straight at a public address, and at the guest address routed through the public side.
    expect(await dig(r.lab.ns.inet, '@203.0.113.10', 'vm-one.cloud.internal')).toContain('no servers could be reached')
    await r.lab.exec(r.lab.ns.inet, 'ip', ['route', 'add', '10.1.1.0/24', 'via', '203.0.113.10'])
    expect(await dig(r.lab.ns.inet, `@${LAB_ADDR.router}`, 'vm-one.cloud.internal')).toContain('no servers could be reached')
  })

  /** Sends the datagrams a script builds (`packets`, an array of Buffers) to the router's port 53 from `ns`, paced. */
  async function blast(ns: string, build: string): Promise<void> {
    const script = `
      const s = require('node:dgram').createSocket('udp4');
      let seed = 3; const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 16) & 255;
      const q = Buffer.from('abcd01000001000000000000' + '06766d2d6f6e6505636c6f756408696e7465726e616c00' + '00010001', 'hex');
      const packets = []; ${build};
      let i = 0;
      const next = () => { if (i === packets.length) { s.close(); return } s.send(packets[i++], 53, '${LAB_ADDR.router}', () => (i % 100 === 0 ? setTimeout(next, 5) : setImmediate(next))) };
      next();`
    await r.lab.exec(ns, process.execPath, ['-e', script], { timeoutMs: 60_000 })
  }

  it('thousands of random and truncated queries are counted as malformed; the server goes on', async () => {
    const config = dnsConfig()
    const net = { ...config['guestNetworks'][0], dns: { rateLimitQps: 1_000_000 } }
    expect((await r.api('PUT', '/v1/config/guestNetworks/net1', net)).status).toBe(200)
    const before = await r.metric('routerd_dns_malformed_total')
    await blast(r.lab.ns.vm2, `
      for (let i = 0; i < 2000; i++) packets.push(Buffer.from(Array.from({ length: 12 + (rnd() % 60) }, rnd)));
      for (let i = 0; i < 2000; i++) packets.push(q.subarray(0, 12 + (rnd() % (q.length - 12))));`)
    await eventually(async () => (await r.metric('routerd_dns_malformed_total')) - before >= 3900, 'the malformed queries to be counted')
    expect((await r.api('GET', '/healthz')).status).toBe(200)
    expect(await short('vm-one.cloud.internal')).toBe('10.1.1.10')
    expect((await r.api('PUT', '/v1/config/guestNetworks/net1', config['guestNetworks'][0])).status).toBe(200)
  })

  it('publishes its own memory: RSS and the V8 heap by space', async () => {
    const rss = await r.metric('routerd_memory_bytes', { kind: 'rss' })
    expect(rss).toBeGreaterThan(20 * 1024 * 1024)
    expect(await r.metric('routerd_heap_space_bytes', { space: 'old_space', kind: 'physical' })).toBeGreaterThan(0)
    expect(await r.metric('routerd_heap_space_bytes', { space: 'old_space', kind: 'physical' })).toBeLessThan(rss)
  })

  it('drops a client beyond its rate and counts it; other clients are unaffected', async () => {
    const before = await r.metric('routerd_dns_dropped_total', { reason: 'ratelimit' })
    await blast(r.lab.ns.vm2, 'for (let i = 0; i < 3000; i++) packets.push(q)')
    // 300 queries/s with bursts of 600: most of 3,000 sent within a second or two are dropped.
    expect(await r.metric('routerd_dns_dropped_total', { reason: 'ratelimit' }) - before).toBeGreaterThan(1000)
    expect(await short('vm-two.cloud.internal')).toBe('10.1.1.11')
    // Once its bucket refills, the flooder is answered again.
    await new Promise((resolve) => setTimeout(resolve, 1500))
    expect((await dig(r.lab.ns.vm2, `@${LAB_ADDR.router}`, '+short', 'vm-one.cloud.internal')).trim()).toBe('10.1.1.10')
  })
})

describe.skipIf(!root)('DNS server without the native batch addon (node:dgram)', () => {
  let r: RouterdProcess
  beforeAll(async () => {
    r = await RouterdProcess.create({}, { ROUTERD_UDP_BATCH: 'off' })
    await r.put(dnsConfig())
  })
  afterAll(async () => {
    await r?.close()
  })

  it('answers the same over UDP and TCP, and still refuses the public side', async () => {
    const dig = async (ns: string, ...args: string[]) => (await r.lab.exec(ns, 'dig', ['+tries=1', '+time=2', ...args], { okCodes: [0, 9, 10] })).stdout
    expect((await dig(r.lab.ns.vm1, `@${LAB_ADDR.router}`, '+short', 'vm-one.cloud.internal')).trim()).toBe('10.1.1.10')
    expect((await dig(r.lab.ns.vm1, `@${LAB_ADDR.router}`, '+short', '+tcp', '-x', '10.1.1.11')).trim()).toBe('vm-two.cloud.internal.')
    expect(await dig(r.lab.ns.vm1, `@${LAB_ADDR.router}`, 'nobody.cloud.internal')).toContain('status: NXDOMAIN')
    expect(await dig(r.lab.ns.inet, '@203.0.113.10', 'vm-one.cloud.internal')).toContain('no servers could be reached')
  })
})
