import { connect, createServer, type Server, type Socket } from 'node:net'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { DnsTcpConnection, type TcpAnswer, type TcpLimits } from '../../../src/router/services/dns/tcp.ts'
import { SourceSlots } from '../../../src/core/net/source-slots.ts'

/** DnsTcpConnection over loopback, with an answerer the test controls. */
const LIMITS: TcpLimits = { maxQueuedBytes: 4096, maxOutstanding: 4, idleMs: 10_000, lifetimeMs: 60_000 }

const frame = (payload: Buffer) => Buffer.concat([Buffer.of(payload.length >> 8, payload.length & 255), payload])

async function until(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 250; i++) {
    if (check()) return
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  throw new Error(`timed out waiting for ${what}`)
}

describe('DNS over TCP: one connection', () => {
  let server: Server | undefined
  const clients: Socket[] = []
  afterEach(async () => {
    for (const c of clients.splice(0)) c.destroy()
    await new Promise((resolve) => server?.close(resolve) ?? resolve(undefined))
    vi.restoreAllMocks()
  })

  /** A server whose connections answer with `answer`; resolves with a connected client and the connection. */
  async function open(answer: TcpAnswer, limits: TcpLimits = LIMITS): Promise<{ client: Socket; conn: () => DnsTcpConnection; closed: () => boolean }> {
    let conn: DnsTcpConnection | undefined
    let closed = false
    server = createServer((socket) => { conn = new DnsTcpConnection(socket, answer, limits, () => { closed = true }) })
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve))
    const client = connect((server.address() as { port: number }).port, '127.0.0.1')
    clients.push(client)
    client.on('error', () => undefined)
    await new Promise((resolve) => client.on('connect', resolve))
    await until(() => conn !== undefined, 'the connection')
    return { client, conn: () => conn!, closed: () => closed }
  }

  it('reassembles messages split anywhere, even in the length prefix, without concatenating chunks', async () => {
    const concat = vi.spyOn(Buffer, 'concat')
    const seen: string[] = []
    const { client } = await open((msg) => { seen.push(msg.toString()); return Buffer.from(`re:${msg}`) })
    const replies: Buffer[] = []
    client.on('data', (d: Buffer) => replies.push(d))
    const stream = Buffer.concat([frame(Buffer.from('first')), frame(Buffer.from('x'.repeat(3000))), frame(Buffer.from('third'))])
    concat.mockClear()
    for (let i = 0; i < stream.length; i += 7) {
      client.write(stream.subarray(i, i + 7))
      await new Promise((resolve) => setImmediate(resolve))
    }
    await until(() => seen.length === 3, 'three messages')
    expect(seen).toEqual(['first', 'x'.repeat(3000), 'third'])
    // The server side never concatenated (the test's own Buffer.concat above ran before the spy was cleared).
    expect(concat).not.toHaveBeenCalled()
  })

  it('stops reading at the limit of answers still being looked up, and goes on as they settle', async () => {
    const pending: ((r: Uint8Array) => void)[] = []
    const { client } = await open(() => new Promise<Uint8Array | undefined>((resolve) => pending.push(resolve)))
    client.write(Buffer.concat(Array.from({ length: 100 }, (_, i) => frame(Buffer.from(`q${i}`)))))
    await until(() => pending.length === LIMITS.maxOutstanding, 'the first queries')
    await new Promise((resolve) => setTimeout(resolve, 200))
    expect(pending).toHaveLength(LIMITS.maxOutstanding)
    pending[0]!(Buffer.from('a'))
    await until(() => pending.length === LIMITS.maxOutstanding + 1, 'one more query once one settled')
  })

  it('stops reading while answers wait for a client that does not read: what it holds stays bounded', async () => {
    let asked = 0
    const { client, conn } = await open(() => { asked++; return Buffer.alloc(1000) })
    client.pause()
    const queries = Buffer.concat(Array.from({ length: 20_000 }, () => frame(Buffer.from('query-bytes'))))
    client.write(queries)
    let last = -1
    while (asked !== last) {
      last = asked
      await new Promise((resolve) => setTimeout(resolve, 200))
    }
    expect(asked).toBeLessThan(20_000)
    // The answers' limit, plus one answer, one unparsed chunk and the socket's read buffer.
    expect(conn().queuedBytes).toBeLessThanOrEqual(LIMITS.maxQueuedBytes + 1002 + 2 * 65536)
    // Reading again lets it go on to the end.
    client.resume()
    client.on('data', () => undefined)
    await until(() => asked === 20_000, 'every query answered once the client reads')
  })

  it('closes a connection that stays busy past its lifetime, and one that is idle', async () => {
    const busy = await open(() => Buffer.from('a'), { ...LIMITS, lifetimeMs: 300 })
    const ticker = setInterval(() => busy.client.write(frame(Buffer.from('q'))), 20)
    try {
      await until(busy.closed, 'the deadline to close the busy connection')
    } finally {
      clearInterval(ticker)
    }
    await new Promise((resolve) => server!.close(resolve))
    const idle = await open(() => Buffer.from('a'), { ...LIMITS, idleMs: 200 })
    await until(idle.closed, 'the idle timer to close the silent connection')
  })
})

describe('connection slots per source', () => {
  it('gives each source up to its limit, and the slot back on release', () => {
    const slots = new SourceSlots(2)
    expect([slots.acquire(1), slots.acquire(1), slots.acquire(1), slots.acquire(2)]).toEqual([true, true, false, true])
    slots.release(1)
    expect(slots.acquire(1)).toBe(true)
    slots.release(1); slots.release(1); slots.release(2)
    expect(slots.sources).toBe(0)
  })
})
