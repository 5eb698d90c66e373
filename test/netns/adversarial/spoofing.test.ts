import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { LAB_ADDR, LAB_MACS } from '../../../src/lab/lab.ts'
import { eventually, labRouterConfig, PEER, startHarness, type Harness } from '../../helpers/router-harness.ts'
import type { StartedProcess } from '../../../src/core/exec.ts'

/**
 * BCP 38 at the router: a guest that sends packets with a source address outside its own
 * network must reach neither the public side (where they would leave un-NATed) nor another
 * guest network. vm1 (net1, 10.1.1.0/24) holds foreign addresses (a guest owns its own stack)
 * and sends real datagrams from them; sinks on the internet host and on vm3 (net2) print every
 * source they see. Reverse-path filtering is off in those two namespaces, so only the router
 * stands between the spoofed packets and the sinks.
 */

const root = process.getuid?.() === 0
const VM3 = '10.1.2.10'
const SINK_PORT = 7077

describe.skipIf(!root)('a guest spoofing source addresses', () => {
  let h: Harness
  let internetSink: StartedProcess
  let vm3Sink: StartedProcess

  const SPOOFED = ['10.9.9.9', '198.51.100.77', '10.1.2.50', '203.0.113.10']
  const send = (to: string, from: string) => h.lab.exec(h.lab.ns.vm1, process.execPath, [PEER, 'send', 'udp', to, String(SINK_PORT), from])
  const startSink = async (ns: string): Promise<StartedProcess> => {
    const p = h.lab.start(ns, process.execPath, [PEER, 'sink', 'udp', String(SINK_PORT)])
    await eventually(async () => p.output().includes('ready'), 'the sink to listen')
    return p
  }
  /** Sends a legitimate marker after the spoofed packets; once it arrives, anything sent before it would have too. */
  const flush = async (sink: StartedProcess, to: string, marker: string, seen: string) => {
    await eventually(async () => {
      await send(to, marker)
      return sink.output().includes(`from ${seen}\n`)
    }, `the marker from ${marker} to reach ${to}`)
  }

  beforeAll(async () => {
    h = await startHarness()
    const base = labRouterConfig() as { interfaces: object[]; guestNetworks: object[] }
    const config = {
      ...base,
      interfaces: [...base.interfaces, { id: 'guest2', role: 'guest', mac: LAB_MACS.guest2 }],
      guestNetworks: [...base.guestNetworks, { id: 'net2', interface: 'guest2', cidr: '10.1.2.0/24', routerIp: '10.1.2.1' }],
    }
    const res = await h.api('PUT', '/v1/config', config)
    expect(res.status, JSON.stringify(res.body)).toBe(200)
    await h.lab.exec(h.lab.ns.vm3, 'ip', ['addr', 'add', `${VM3}/24`, 'dev', 'eth0'])
    await h.lab.exec(h.lab.ns.vm3, 'ip', ['route', 'add', 'default', 'via', '10.1.2.1'])
    for (const a of SPOOFED) await h.lab.exec(h.lab.ns.vm1, 'ip', ['addr', 'add', `${a}/32`, 'dev', 'eth0'])
    for (const ns of [h.lab.ns.inet, h.lab.ns.vm3]) {
      await h.lab.exec(ns, 'sysctl', ['-q', '-w', 'net.ipv4.conf.all.rp_filter=0', 'net.ipv4.conf.default.rp_filter=0'])
    }
    for (const dev of ['pub0', 'pub1']) await h.lab.exec(h.lab.ns.inet, 'sysctl', ['-q', '-w', `net.ipv4.conf.${dev}.rp_filter=0`])
    await h.lab.exec(h.lab.ns.vm3, 'sysctl', ['-q', '-w', 'net.ipv4.conf.eth0.rp_filter=0'])
    internetSink = await startSink(h.lab.ns.inet)
    vm3Sink = await startSink(h.lab.ns.vm3)
  })
  afterAll(async () => { await h?.close() })

  it('its own address still reaches the internet (source-NATed) and the other guest network', async () => {
    await flush(internetSink, LAB_ADDR.internetHost, LAB_ADDR.vm1, '203.0.113.10')
    await flush(vm3Sink, VM3, LAB_ADDR.vm1, LAB_ADDR.vm1)
  })

  it('a foreign source never leaves by the public interface, un-NATed or otherwise', async () => {
    const before = internetSink.output()
    for (const from of SPOOFED) expect((await send(LAB_ADDR.internetHost, from)).exitCode).toBe(0)
    await flush(internetSink, LAB_ADDR.internetHost, LAB_ADDR.vm1, '203.0.113.10')
    const arrived = internetSink.output().slice(before.length).split('\n').filter((l) => l !== '' && l !== 'from 203.0.113.10')
    expect(arrived).toEqual([])
  })

  it("a source inside another guest network's CIDR does not reach that network", async () => {
    const before = vm3Sink.output()
    for (const from of SPOOFED) expect((await send(VM3, from)).exitCode).toBe(0)
    await flush(vm3Sink, VM3, LAB_ADDR.vm1, LAB_ADDR.vm1)
    const arrived = vm3Sink.output().slice(before.length).split('\n').filter((l) => l !== '' && l !== `from ${LAB_ADDR.vm1}`)
    expect(arrived).toEqual([])
  })

  it('the dropped packets are counted per guest network', async () => {
    const res = await h.api('GET', '/metrics')
    const line = String(res.body).split('\n').find((l) => l.startsWith('routerd_spoofed_packets_dropped_total{network="net1"}'))
    expect(line, String(res.body)).toBeDefined()
    expect(Number(line?.split(' ').pop())).toBeGreaterThanOrEqual(7)
  })
})
