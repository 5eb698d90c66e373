import { createSocket, type Socket } from 'node:dgram'
import { afterEach, describe, expect, it } from 'vitest'
import { loadUdpBatch } from '../../../src/services/udp-batch.ts'

/** The native addon itself (native/udp-batch), over loopback. Built by `make build`. */
const native = loadUdpBatch()

describe.skipIf(native === undefined)('native udp-batch addon', () => {
  const sockets: Socket[] = []
  afterEach(() => { for (const s of sockets.splice(0)) s.close() })

  async function receiver(): Promise<{ port: number; got: string[] }> {
    const s = createSocket('udp4')
    sockets.push(s)
    const got: string[] = []
    s.on('message', (m) => got.push(m.toString()))
    await new Promise<void>((resolve) => s.bind(0, '127.0.0.1', resolve))
    return { port: s.address().port, got }
  }

  it('a datagram sendmmsg refuses (destination port 0) is skipped: the rest of the batch is still sent', async () => {
    const a = await receiver()
    const b = await receiver()
    const fd = native!.open('127.0.0.1', 0, 0)
    const handle = native!.watch(fd, () => undefined)
    try {
      const payload = Buffer.from('zero' + 'to-a' + 'to-b')
      const sent = native!.send(fd, payload, Uint32Array.of(0, 4, 8), Uint16Array.of(4, 4, 4), Uint32Array.of(0x7f000001, 0x7f000001, 0x7f000001),
        Uint16Array.of(0, a.port, b.port), 3)
      expect(sent).toBe(2)
      for (let i = 0; i < 100 && (a.got.length === 0 || b.got.length === 0); i++) await new Promise((resolve) => setTimeout(resolve, 20))
      expect(a.got).toEqual(['to-a'])
      expect(b.got).toEqual(['to-b'])
    } finally {
      native!.unwatch(handle)
    }
  })
})
