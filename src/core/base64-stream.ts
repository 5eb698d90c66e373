import { ApplianceError } from './errors.ts'

/**
 * Decodes base64 text that arrives in chunks cut anywhere (a request body), without holding it
 * whole: each chunk's complete 4-character groups are decoded, the rest waits for the next one.
 * Line breaks and spaces are skipped (MIME style); any other character outside the alphabet
 * (standard or URL-safe) or padding before the end is an error, not silently dropped bytes.
 */

const VALID = /^[A-Za-z0-9+/\-_]*={0,2}$/
const WHITESPACE = /[\s]+/g

export async function* decodeBase64Chunks(chunks: AsyncIterable<Buffer | string>): AsyncGenerator<Buffer> {
  let pending = ''
  let ended = false
  for await (const chunk of chunks) {
    const text = pending + (typeof chunk === 'string' ? chunk : chunk.toString('latin1')).replace(WHITESPACE, '')
    if (ended && text.length > 0) throw badBase64('data after the padding')
    const whole = text.length - (text.length % 4)
    pending = text.slice(whole)
    const group = text.slice(0, whole)
    if (group.length === 0) continue
    if (!VALID.test(group)) throw badBase64('a character outside the base64 alphabet')
    if (group.endsWith('=')) ended = true
    yield Buffer.from(group, 'base64')
  }
  if (pending.length > 0) {
    if (!VALID.test(pending) || pending.length === 1) throw badBase64('a truncated last group')
    yield Buffer.from(pending, 'base64')
  }
}

function badBase64(what: string): ApplianceError {
  return new ApplianceError('ERR_BAD_BASE64', `not base64: ${what}`)
}
