import { describe, expect, it } from 'vitest'
import { FrameDecoder, frameMessage } from '../../../src/router/services/dns/tcp-framing.ts'

/** Every message `decoder` yields from `chunks`, as text. */
function drain(decoder: FrameDecoder, chunks: readonly Buffer[]): string[] {
  const out: string[] = []
  for (const chunk of chunks) {
    let at = 0
    while (at < chunk.length) {
      const msg = decoder.next(chunk, at)
      at = decoder.offset
      if (msg !== undefined) out.push(msg.toString())
    }
  }
  return out
}

describe('DNS over TCP framing', () => {
  const messages = ['first', 'x'.repeat(300), '', 'last']
  const stream = Buffer.concat(messages.map((m) => frameMessage(Buffer.from(m))))

  it('frames a message behind its 2-byte big-endian length', () => {
    expect([...frameMessage(Buffer.from('x'.repeat(258)))].slice(0, 3)).toEqual([1, 2, 120])
  })

  it.each([1, 2, 3, 7, 256, stream.length])('gets every message back, the empty one too, from chunks of %i bytes', (size) => {
    const chunks: Buffer[] = []
    for (let i = 0; i < stream.length; i += size) chunks.push(stream.subarray(i, i + size))
    const decoder = new FrameDecoder()
    expect(drain(decoder, chunks)).toEqual(messages)
    expect(decoder.heldBytes).toBe(0)
  })

  it('returns a message whole in its chunk as a view into it, and holds one that spans chunks in one buffer', () => {
    const decoder = new FrameDecoder()
    const whole = decoder.next(stream, 0)
    expect(whole?.buffer).toBe(stream.buffer)
    const second = frameMessage(Buffer.from('y'.repeat(100)))
    expect(decoder.next(second.subarray(0, 50), 0)).toBeUndefined()
    expect(decoder.heldBytes).toBe(100)
    decoder.reset()
    expect(decoder.heldBytes).toBe(0)
  })
})
