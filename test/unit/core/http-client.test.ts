import { mkdtempSync, rmSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { errorCode } from '../../../src/core/errors.ts'
import { describeEndpoint, parseAnswerBody, sendApiRequest, type Endpoint } from '../../../src/core/http/client.ts'

/** The control API client against a small server on a unix socket: what it sends, what it gives back, how it fails. */
describe('core/http/client', () => {
  let dir: string
  let server: Server
  let endpoint: Endpoint
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'http-client-'))
    endpoint = { kind: 'socket', path: join(dir, 'api.sock') }
    server = createServer((req, res) => {
      const chunks: Buffer[] = []
      req.on('data', (c: Buffer) => chunks.push(c))
      req.on('end', () => {
        if (req.url === '/silent') return
        if (req.url === '/text') return void res.end('plain 1')
        if (req.url === '/big') return void res.end('x'.repeat(2048))
        res.writeHead(req.url === '/missing' ? 404 : 200, { 'content-type': 'application/json; charset=utf-8' })
        res.end(JSON.stringify({ method: req.method, auth: req.headers.authorization ?? null, type: req.headers['content-type'] ?? null, body: Buffer.concat(chunks).toString('utf8') }))
      })
    })
    await new Promise<void>((resolve) => server.listen(endpoint.kind === 'socket' ? endpoint.path : 0, resolve))
  })
  afterAll(async () => {
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
    rmSync(dir, { recursive: true, force: true })
  })

  it('sends the token and a JSON body; parses a JSON answer; error statuses resolve', async () => {
    const put = await sendApiRequest(endpoint, { method: 'PUT', path: '/x', token: 'tok', body: '{"a":1}' })
    expect(put.status).toBe(200)
    expect(put.body).toEqual({ method: 'PUT', auth: 'Bearer tok', type: 'application/json', body: '{"a":1}' })
    expect(put.ms).toBeGreaterThan(0)
    const missing = await sendApiRequest(endpoint, { method: 'GET', path: '/missing' })
    expect(missing.status).toBe(404)
    expect(missing.body).toEqual(expect.objectContaining({ auth: null }))
  })

  it('an empty token is still sent (a wrong one, on purpose)', async () => {
    expect((await sendApiRequest(endpoint, { method: 'GET', path: '/', token: '' })).body).toEqual(expect.objectContaining({ auth: 'Bearer' }))
  })

  it('an answer that is not JSON stays text, even when it would parse', async () => {
    expect((await sendApiRequest(endpoint, { method: 'GET', path: '/text' })).body).toBe('plain 1')
  })

  const failures = [
    { name: 'nothing listening: ERR_HTTP_UNREACHABLE', at: (): Endpoint => ({ kind: 'socket', path: join(dir, 'none.sock') }), path: '/', code: 'ERR_HTTP_UNREACHABLE', message: /^cannot reach unix:.*none\.sock: / },
    { name: 'a silent server: ERR_HTTP_TIMEOUT', at: () => endpoint, path: '/silent', code: 'ERR_HTTP_TIMEOUT', message: /no answer within 100 ms$/ },
    { name: 'an answer over maxBytes: ERR_HTTP_ANSWER', at: () => endpoint, path: '/big', code: 'ERR_HTTP_ANSWER', message: /larger than 1024 bytes$/ },
  ]
  for (const c of failures) {
    it(c.name, async () => {
      const err = await sendApiRequest(c.at(), { method: 'GET', path: c.path, timeoutMs: 100, maxBytes: 1024 }).catch((e: unknown) => e)
      expect(errorCode(err)).toBe(c.code)
      expect((err as Error).message).toMatch(c.message)
      expect((err as Error).cause).toBeInstanceOf(Error)
    })
  }

  it('pure helpers: endpoint names and body parsing', () => {
    expect(describeEndpoint({ kind: 'tcp', host: '::1', port: 8443 })).toBe('http://[::1]:8443')
    expect(describeEndpoint({ kind: 'socket', path: '/run/a.sock' })).toBe('unix:/run/a.sock')
    expect(parseAnswerBody('application/json', '{broken')).toBe('{broken')
    expect(parseAnswerBody(undefined, '{}')).toBe('{}')
  })
})
