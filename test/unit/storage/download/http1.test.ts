import { describe, expect, it } from 'vitest'
import { Http1Error, MAX_HEAD_BYTES, ResponseDecoder, parseHead, type ResponseEvent } from '../../../../src/storage/download/http1.ts'

/** Feeds `wire` in pieces of `step` bytes (copied into one reused buffer, as onread does). */
function decode(wire: string | Buffer, step = Infinity, close = false): { head: unknown; body: string; ended: boolean } {
  const bytes = typeof wire === 'string' ? Buffer.from(wire, 'latin1') : wire
  const decoder = new ResponseDecoder()
  const reused = Buffer.alloc(Math.min(step, bytes.length) || 1)
  let head: unknown
  let body = ''
  let ended = false
  const take = (events: ResponseEvent[]) => {
    for (const e of events) {
      if (e.kind === 'head') head = e.head
      else if (e.kind === 'body') body += e.data.toString('latin1')
      else ended = true
    }
  }
  for (let at = 0; at < bytes.length; at += step) {
    const n = bytes.copy(reused, 0, at, Math.min(at + step, bytes.length))
    take(decoder.feed(reused.subarray(0, n)))
  }
  if (close) take(decoder.finishAtClose())
  return { head, body, ended }
}

const CHUNKED = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nETag: "a"\r\n\r\n5;ext=1\r\nhello\r\n1A\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nX-Trailer: t\r\n\r\nGARBAGE'

describe('storage/download http1 ResponseDecoder', () => {
  it('decodes a Content-Length body, however the bytes are split', () => {
    const wire = 'HTTP/1.1 200 OK\r\nContent-Length: 10\r\nContent-Type: application/octet-stream\r\n\r\n0123456789extra'
    for (const step of [1, 2, 3, 7, 64, Infinity]) {
      const r = decode(wire, step)
      expect(r).toEqual({
        head: { status: 200, statusMessage: 'OK', headers: { 'content-length': '10', 'content-type': 'application/octet-stream' } },
        body: '0123456789',
        ended: true,
      })
    }
  })

  it('decodes a chunked body with extensions and a trailer, however the bytes are split', () => {
    for (const step of [1, 2, 5, 13, Infinity]) {
      const r = decode(CHUNKED, step)
      expect(r.body).toBe('helloabcdefghijklmnopqrstuvwxyz')
      expect(r.ended).toBe(true)
    }
  })

  it('ends a body without framing at the close, and cuts a framed one short there', () => {
    expect(decode('HTTP/1.0 200 OK\r\n\r\nall of it', 4, true)).toMatchObject({ body: 'all of it', ended: true })
    expect(() => decode('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n01234', 3, true)).toThrow(/5 bytes before the end/)
    expect(() => decode('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel', 3, true)).toThrow(/inside a chunked body/)
    expect(() => decode('HTTP/1.1 200 O', 3, true)).toThrow(/inside the response head/)
    expect(() => decode('', 3, true)).toThrow(/before a response/)
  })

  it('takes bare LF line ends, skips interim 1xx heads, and ends bodiless answers at once', () => {
    expect(decode('HTTP/1.1 200 OK\nContent-Length: 2\n\nok')).toMatchObject({ body: 'ok', ended: true })
    expect(decode('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok', 1)).toMatchObject({ head: { status: 200 }, body: 'ok', ended: true })
    expect(decode('HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\n\r\n')).toMatchObject({ head: { status: 304 }, body: '', ended: true })
    expect(decode('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n')).toMatchObject({ body: '', ended: true })
  })

  it('lets a Transfer-Encoding override Content-Length, and runs a non-chunked coding to the close', () => {
    expect(decode('HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n0\r\n\r\n')).toMatchObject({ body: 'abcd', ended: true })
    expect(decode('HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nzzz', Infinity, true)).toMatchObject({ body: 'zzz', ended: true })
  })

  it('refuses malformed heads and bodies with an Http1Error', () => {
    const bad = [
      'HTTP/2 200 OK\r\n\r\n',
      'ICY 200 OK\r\n\r\n',
      'HTTP/1.1 20 OK\r\n\r\n',
      'HTTP/1.1 200 OK\r\nNo colon here\r\n\r\n',
      'HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n',
      'HTTP/1.1 200 OK\r\nX: a\r\n folded\r\n\r\n',
      'HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n',
      'HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n',
      'HTTP/1.1 200 OK\r\nContent-Length: 1e3\r\n\r\n',
      'HTTP/1.1 101 Switching Protocols\r\n\r\n',
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n',
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcd\r\n',
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFF\r\n',
    ]
    for (const wire of bad) expect(() => decode(wire, 1), wire).toThrow(Http1Error)
    expect(() => decode(Buffer.from('HTTP/1.1 200 OK\r\nX: a\0b\r\n\r\n', 'latin1'))).toThrow(/control character/)
  })

  it('bounds what it holds: the head, a chunk size line, the trailer', () => {
    const longHead = `HTTP/1.1 200 OK\r\nX: ${'a'.repeat(MAX_HEAD_BYTES)}\r\n\r\n`
    expect(() => decode(longHead, 4096)).toThrow(/head is over/)
    expect(() => decode(`HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;${'e'.repeat(5000)}`, 512)).toThrow(/a chunk size line is over 4096 bytes/)
    const trailer = `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n${'X-T: aaaaaaaa\r\n'.repeat(2000)}\r\n`
    expect(() => decode(trailer, 1000)).toThrow(/the trailer section is over/)
  })

  it('keeps the first of repeated headers (the fetcher reads single-valued ones) and joins Transfer-Encoding', () => {
    expect(parseHead('HTTP/1.1 206 Partial Content\r\nETag: "1"\r\nEtag: "2"\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n')).toEqual({
      status: 206, statusMessage: 'Partial Content', headers: { 'etag': '"1"', 'transfer-encoding': 'gzip, chunked' },
    })
    expect(parseHead('HTTP/1.1 200\r\n')).toEqual({ status: 200, statusMessage: '', headers: {} })
  })

  it('hands body bytes on as views of what was fed, not copies', () => {
    const decoder = new ResponseDecoder()
    decoder.feed(Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\n'))
    const read = Buffer.from('abcdefgh')
    const [event] = decoder.feed(read)
    expect(event?.kind).toBe('body')
    if (event?.kind === 'body') expect(event.data.buffer).toBe(read.buffer)
  })
})
