import { describe, expect, it } from 'vitest'
import { parseContentLength, parseContentRange, planResponse, type ResponseFacts, type ResponsePlan } from '../../../../src/storage/download/response.ts'

const where = 'http://h/x'
const MAX = 10_000

describe('storage/download response', () => {
  const ranges = [
    { text: 'bytes 100-199/1000', expected: { first: 100, last: 199, total: 1000 } },
    { text: 'bytes 0-0/*', expected: { first: 0, last: 0, total: undefined } },
    { text: 'bytes */1000', expected: { first: undefined, last: undefined, total: 1000 } },
    { text: 'BYTES 5-9/10', expected: { first: 5, last: 9, total: 10 } },
    { text: 'bytes 9-5/10', expected: undefined },
    { text: 'bytes 5-10/10', expected: undefined },
    { text: 'bytes */*', expected: undefined },
    { text: 'items 1-2/3', expected: undefined },
    { text: undefined, expected: undefined },
  ]
  for (const c of ranges) {
    it(`parseContentRange(${JSON.stringify(c.text)})`, () => {
      expect(parseContentRange(c.text)).toEqual(c.expected)
    })
  }

  it('parseContentLength takes plain integers only', () => {
    expect(parseContentLength('123')).toBe(123)
    expect(parseContentLength(' 0 ')).toBe(0)
    expect(parseContentLength('-1')).toBeUndefined()
    expect(parseContentLength('1e3')).toBeUndefined()
    expect(parseContentLength(undefined)).toBeUndefined()
  })

  const plans: { name: string; facts: ResponseFacts; position: number; expected: ResponsePlan }[] = [
    { name: '200 from the start: the body, its length', facts: { status: 200, contentLength: '500' }, position: 0, expected: { kind: 'body', start: 0, total: 500, restart: false } },
    { name: '200 without a length: the body, length unknown', facts: { status: 200 }, position: 0, expected: { kind: 'body', start: 0, total: undefined, restart: false } },
    { name: '200 to a Range request (ignored, or If-Range saw a change): restart from 0', facts: { status: 200, contentLength: '500' }, position: 100, expected: { kind: 'body', start: 0, total: 500, restart: true } },
    { name: '206 from where we are: append', facts: { status: 206, contentRange: 'bytes 100-499/500', contentLength: '400' }, position: 100, expected: { kind: 'body', start: 100, total: 500, restart: false } },
    { name: '206 with an unknown total: append, total unknown', facts: { status: 206, contentRange: 'bytes 100-499/*' }, position: 100, expected: { kind: 'body', start: 100, total: undefined, restart: false } },
    { name: '206 from elsewhere: ask again without Range', facts: { status: 206, contentRange: 'bytes 0-499/500' }, position: 100, expected: { kind: 'restart', reason: 'asked for bytes from 100, the server sent from 0', rangesBroken: true } },
    { name: '206 without Content-Range: ask again without Range', facts: { status: 206 }, position: 100, expected: { kind: 'restart', reason: 'a 206 with an unusable Content-Range ""', rangesBroken: true } },
    { name: '206 whose length contradicts its range: ask again without Range', facts: { status: 206, contentRange: 'bytes 100-499/500', contentLength: '10' }, position: 100, expected: { kind: 'restart', reason: 'Content-Length 10 does not fit Content-Range bytes 100-499/500', rangesBroken: true } },
    { name: '416 and the resource is exactly what we hold: complete', facts: { status: 416, contentRange: 'bytes */100' }, position: 100, expected: { kind: 'complete', total: 100 } },
    { name: '416 and the resource is shorter than what we hold: from 0', facts: { status: 416, contentRange: 'bytes */50' }, position: 100, expected: { kind: 'restart', reason: 'we hold 100 bytes, the resource now has 50', rangesBroken: false } },
    { name: '416 without a length: from 0', facts: { status: 416 }, position: 100, expected: { kind: 'restart', reason: 'range from 100 not satisfiable, and the server did not say the length', rangesBroken: false } },
    { name: '302: a redirect with its Location', facts: { status: 302, location: '/y' }, position: 0, expected: { kind: 'redirect', status: 302, location: '/y' } },
    { name: '308 during a resume: still a redirect', facts: { status: 308, location: 'https://m/y' }, position: 100, expected: { kind: 'redirect', status: 308, location: 'https://m/y' } },
  ]
  for (const c of plans) {
    it(`planResponse: ${c.name}`, () => {
      expect(planResponse(c.facts, { position: c.position, maxBytes: MAX, where })).toEqual(c.expected)
    })
  }

  const throws = [
    { name: '404 is ERR_DOWNLOAD_HTTP "not found"', facts: { status: 404 }, position: 0, code: 'ERR_DOWNLOAD_HTTP', message: 'http://h/x: not found (HTTP 404)', retryable: false },
    { name: '503 is ERR_DOWNLOAD_HTTP, retryable', facts: { status: 503, statusMessage: 'Service Unavailable' }, position: 0, code: 'ERR_DOWNLOAD_HTTP', message: 'http://h/x: HTTP 503 Service Unavailable', retryable: true },
    { name: '416 to a request without Range is an HTTP error', facts: { status: 416 }, position: 0, code: 'ERR_DOWNLOAD_HTTP', message: 'http://h/x: HTTP 416', retryable: false },
    { name: 'a Content-Length over the maximum: ERR_DOWNLOAD_TOO_LARGE before the body', facts: { status: 200, contentLength: String(MAX + 1) }, position: 0, code: 'ERR_DOWNLOAD_TOO_LARGE', message: `http://h/x: the server declares ${MAX + 1} bytes, more than the maximum of ${MAX}`, retryable: undefined },
    { name: 'a Content-Range total over the maximum: ERR_DOWNLOAD_TOO_LARGE', facts: { status: 206, contentRange: `bytes 10-${MAX}/${MAX + 1}` }, position: 10, code: 'ERR_DOWNLOAD_TOO_LARGE', message: `http://h/x: the server declares ${MAX + 1} bytes, more than the maximum of ${MAX}`, retryable: undefined },
  ]
  for (const c of throws) {
    it(`planResponse: ${c.name}`, () => {
      let caught: unknown
      try {
        planResponse(c.facts, { position: c.position, maxBytes: MAX, where })
      } catch (err) {
        caught = err
      }
      expect(caught).toMatchObject({ code: c.code, message: c.message })
      expect((caught as { retryable?: boolean }).retryable).toBe(c.retryable)
    })
  }
})
