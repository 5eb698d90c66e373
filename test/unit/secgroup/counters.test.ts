import { describe, expect, it } from 'vitest'
import { dropCounter, parseBridgeDrops, parseNfacctList, SgDropReader } from '../../../src/router/secgroup/counters.ts'
import type { Runner } from '../../../src/core/exec.ts'
import { ownedChain } from '../../../src/router/render/names.ts'

describe('security-group drop counters (pure parts)', () => {
  it('names fit the kernel\'s 31 characters, one per port and reason', () => {
    const a = dropCounter('vm-with-a-rather-long-id-0000000001', 'spoof')
    expect(a).toMatch(/^svm-sgd-[a-z2-7]+$/)
    expect(a.length).toBeLessThanOrEqual(31)
    expect(dropCounter('vm-1', 'spoof')).not.toBe(dropCounter('vm-1', 'ingress'))
    expect(dropCounter('vm-1', 'spoof')).not.toBe(dropCounter('vm-2', 'spoof'))
  })

  it('reads `nfacct list` and the two bridge drops of each port from `ebtables-save -c`', () => {
    expect(parseNfacctList('{ pkts = 00000000000000000012, bytes = 00000000000000000840 } = svm-sgd-abc;\n{ pkts = 00000000000000000000, bytes = 00000000000000000000 } = other;\n'))
      .toEqual(new Map([['svm-sgd-abc', 12], ['other', 0]]))
    const chain = ownedChain('SGM', 'vm-1')
    const saved = [
      '*filter', ':FORWARD ACCEPT', `[7:420] -A ${chain} -p ARP --arp-ip-src 10.0.0.1 --arp-mac-src 52:54:00:00:00:01 -j RETURN`,
      `[3:126] -A ${chain} -p ARP -j DROP`, `[1:60] -A ${chain} -s 52:54:00:00:00:01 -j RETURN`, `[5:300] -A ${chain} -j DROP`,
      '[9:9] -A FOREIGN -j DROP',
    ].join('\n')
    expect(parseBridgeDrops(saved, ['vm-1', 'vm-2'])).toEqual(new Map([['vm-1', { 'arp-spoof': 3, 'mac-spoof': 5 }]]))
  })

  it('reads nfacct on every call, the bridge table at most every 30 s', async () => {
    const calls: string[] = []
    const runner = { run: async (file: string) => { calls.push(file); return { stdout: '', stderr: '', exitCode: 0 } } } as unknown as Runner
    let now = 0
    const reader = new SgDropReader(runner, () => now)
    await reader.read([{ name: dropCounter('vm-1', 'spoof'), port: 'vm-1', reason: 'spoof' }], ['vm-1'])
    now = 29_000
    const drops = await reader.read([{ name: dropCounter('vm-1', 'spoof'), port: 'vm-1', reason: 'spoof' }], ['vm-1'])
    now = 30_000
    await reader.read([], [])
    expect(calls).toEqual(['nfacct', 'ebtables-save', 'nfacct', 'nfacct', 'ebtables-save'])
    expect(drops.byPort.get('vm-1')?.get('spoof')).toBe(0)
  })
})
