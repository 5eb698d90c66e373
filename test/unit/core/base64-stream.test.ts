import { describe, expect, it } from 'vitest'
import { decodeBase64Chunks } from '../../../src/core/base64-stream.ts'

async function decode(chunks: string[]): Promise<Buffer> {
  const out: Buffer[] = []
  for await (const b of decodeBase64Chunks((async function* () { yield* chunks })())) out.push(b)
  return Buffer.concat(out)
}

describe('decodeBase64Chunks', () => {
  const bytes = Buffer.from(Array.from({ length: 1000 }, (_, i) => (i * 37) & 255))
  const text = bytes.toString('base64')

  it('decodes text cut anywhere, line breaks included', async () => {
    for (const cut of [1, 2, 3, 5, 7, 64, 999]) {
      const wrapped = text.replace(/(.{76})/g, '$1\r\n')
      const chunks = Array.from({ length: Math.ceil(wrapped.length / cut) }, (_, i) => wrapped.slice(i * cut, (i + 1) * cut))
      expect((await decode(chunks)).equals(bytes)).toBe(true)
    }
  })

  it('takes unpadded and URL-safe text', async () => {
    expect((await decode([Buffer.from('hi!?').toString('base64url')])).toString()).toBe('hi!?')
    expect((await decode(['aGk'])).toString()).toBe('hi')
  })

  it.each([['a character outside the alphabet', ['aGk*']], ['data after the padding', ['aA==', 'aGk=']], ['a truncated group', ['aGkha']]])('refuses %s', async (_what, chunks) => {
    await expect(decode(chunks)).rejects.toMatchObject({ code: 'ERR_BAD_BASE64' })
  })
})
