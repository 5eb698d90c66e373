#!/usr/bin/env node
// A file server for download tests that misbehaves on request, and a small forward proxy. Plain
// JavaScript (Node 20 runs it as is) so it also runs as a process in a network namespace:
//
//   node image-http-server.mjs --dir D [--port P] [--host H] [--config behaviours.json]
//                              [--tls-key K --tls-cert C]
//   node image-http-server.mjs --proxy [--port P] [--host H] [--auth user:pass]
//
// Both print one line `{"listening":{"host":…,"port":…}}` when ready and stop on SIGTERM/SIGINT.
// Types: image-http-server.d.mts; the typed launcher for tests: image-http-server.ts.
//
// Files under --dir are served by GET and HEAD with ETag, Last-Modified, Range (one range,
// `bytes=a-`, `bytes=a-b`, `bytes=-n`), If-Range and 416. A behaviour is set per path in the
// config (`{ "/x.img": { "drop": 1000 } }`, or setBehaviour() in process) or per request in the
// query string (`/x.img?drop=1000&times=2`); the query wins. Behaviours:
//   drop=N        cut the connection (FIN) after N body bytes of a response
//   stall=N       stop sending after N body bytes, keep the connection open
//   hang=1        read the request, never answer (not even headers)
//   times=K       drop/stall/hang/status apply to the first K requests of this URL (default all)
//   status=N      answer N (404, 500, 503…) with a short text body
//   redirect=L    answer redirectStatus (default 302) with Location L (a path or an absolute URL)
//   ignoreRange=1 always 200 with the whole file
//   badRange=1    answer a Range with 206 whose Content-Range starts one byte later than asked
//   auth=U:P      require Basic auth (401 with WWW-Authenticate otherwise)
//   rate=B        send about B bytes per second
//   etag=changing a new ETag on every request (the file "changed": If-Range then fails)
//   etag=weak     a weak ETag (W/"…"), which If-Range cannot use
//   etag=none     no ETag (Last-Modified stays); validators=none: neither
//   chunked=1     no Content-Length (chunked transfer encoding)
// Requests are counted per URL (path and query) and logged in `requests`.
import { createReadStream, readFileSync, statSync } from 'node:fs'
import { createServer as createHttpServer, request as httpRequest } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import { connect as netConnect } from 'node:net'
import { join, normalize, sep } from 'node:path'
import { pathToFileURL } from 'node:url'

const NUMBERS = ['drop', 'stall', 'times', 'status', 'redirectStatus', 'rate']
const FLAGS = ['hang', 'ignoreRange', 'badRange', 'chunked']

/** The query string for a behaviour object: `{ drop: 10, times: 1 }` → `drop=10&times=1`. */
export function behaviourQuery(behaviour) {
  const params = new URLSearchParams()
  for (const [key, value] of Object.entries(behaviour ?? {})) {
    if (value === undefined || value === false) continue
    params.set(key, value === true ? '1' : String(value))
  }
  return params.toString()
}

function behaviourFrom(params) {
  const b = {}
  for (const [key, value] of params) {
    if (NUMBERS.includes(key)) b[key] = Number(value)
    else if (FLAGS.includes(key)) b[key] = value !== '0' && value !== 'false'
    else if (['redirect', 'auth', 'etag', 'validators'].includes(key)) b[key] = value
  }
  return b
}

function parseRange(header, size) {
  const m = /^bytes=(\d*)-(\d*)$/.exec(header ?? '')
  if (m === null || (m[1] === '' && m[2] === '')) return undefined
  if (m[1] === '') {
    const n = Math.min(Number(m[2]), size)
    return { start: size - n, end: size - 1 }
  }
  const start = Number(m[1])
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1)
  return { start, end }
}

/**
 * Starts the file server. Options: dir (required), port (0: ephemeral), host (127.0.0.1),
 * tls ({ key, cert } PEM: https), behaviours ({ path: behaviour }).
 */
export function startImageServer(options) {
  const dir = normalize(options.dir)
  const behaviours = new Map(Object.entries(options.behaviours ?? {}))
  const counts = new Map()
  const requests = []
  const sockets = new Set()
  const timers = new Set()
  let generation = 0

  const handler = (req, res) => {
    const url = new URL(req.url ?? '/', 'http://x')
    const key = `${url.pathname}${url.search}`
    const count = (counts.get(key) ?? 0) + 1
    counts.set(key, count)
    const b = { ...(behaviours.get(url.pathname) ?? {}), ...behaviourFrom(url.searchParams) }
    const faulty = b.times === undefined || count <= b.times
    const log = {
      method: req.method, url: req.url, count,
      range: req.headers['range'], ifRange: req.headers['if-range'], authorization: req.headers['authorization'],
      status: 0,
    }
    requests.push(log)
    const answer = (status, headers, text) => {
      log.status = status
      res.writeHead(status, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(text), ...headers })
      res.end(req.method === 'HEAD' ? undefined : text)
    }

    if (faulty && b.hang) { log.status = -1; return }
    if (b.auth !== undefined) {
      const expected = `Basic ${Buffer.from(b.auth, 'utf8').toString('base64')}`
      if (req.headers['authorization'] !== expected) return answer(401, { 'www-authenticate': 'Basic realm="images"' }, 'who are you?\n')
    }
    if (b.redirect !== undefined) return answer(b.redirectStatus ?? 302, { location: b.redirect }, 'moved\n')
    if (faulty && b.status !== undefined) return answer(b.status, {}, `status ${b.status}\n`)
    if (req.method !== 'GET' && req.method !== 'HEAD') return answer(405, { allow: 'GET, HEAD' }, 'method not allowed\n')

    const path = normalize(join(dir, decodeURIComponent(url.pathname)))
    if (path !== dir && !path.startsWith(dir + sep)) return answer(403, {}, 'outside\n')
    let stat
    try {
      stat = statSync(path)
    } catch {
      return answer(404, {}, 'not found\n')
    }
    if (!stat.isFile()) return answer(404, {}, 'not a file\n')
    const size = stat.size

    const base = `${size.toString(16)}-${Math.floor(stat.mtimeMs).toString(16)}`
    const etag = b.validators === 'none' || b.etag === 'none' ? undefined
      : b.etag === 'changing' ? `"${base}-${++generation}"`
        : b.etag === 'weak' ? `W/"${base}"` : `"${base}"`
    const lastModified = b.validators === 'none' ? undefined : stat.mtime.toUTCString()
    const headers = { 'accept-ranges': b.ignoreRange ? 'none' : 'bytes', 'content-type': 'application/octet-stream' }
    if (etag !== undefined) headers['etag'] = etag
    if (lastModified !== undefined) headers['last-modified'] = lastModified

    let start = 0
    let end = size - 1
    let status = 200
    const ifRange = req.headers['if-range']
    const rangeApplies = req.headers['range'] !== undefined && !b.ignoreRange
      && (ifRange === undefined || (etag !== undefined && !etag.startsWith('W/') && ifRange === etag) || (lastModified !== undefined && ifRange === lastModified))
    if (rangeApplies) {
      const range = parseRange(req.headers['range'], size)
      if (range !== undefined) {
        if (range.start >= size) return answer(416, { ...headers, 'content-range': `bytes */${size}` }, 'range not satisfiable\n')
        start = range.start
        end = range.end
        status = 206
        const shown = b.badRange ? start + 1 : start
        headers['content-range'] = `bytes ${shown}-${end}/${size}`
      }
    }
    const length = Math.max(0, end - start + 1)
    if (!b.chunked) headers['content-length'] = String(length)
    log.status = status
    res.writeHead(status, headers)
    if (req.method === 'HEAD' || length === 0) return res.end()
    sendBody(res, path, start, end, faulty ? b : { rate: b.rate }, timers)
  }

  const server = options.tls === undefined ? createHttpServer(handler) : createHttpsServer({ key: options.tls.key, cert: options.tls.cert }, handler)
  // The TCP sockets (under TLS too): destroying them at close() ends stalled and hung responses.
  server.on('connection', (socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
  })
  const scheme = options.tls === undefined ? 'http' : 'https'

  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
      const address = server.address()
      const host = address.family === 'IPv6' ? `[${address.address}]` : address.address
      const origin = `${scheme}://${host}:${address.port}`
      resolve({
        host: address.address,
        port: address.port,
        origin,
        requests,
        /** The URL of a file with a behaviour in its query string. */
        url(path, behaviour) {
          const query = behaviourQuery(behaviour)
          return `${origin}${path.startsWith('/') ? '' : '/'}${path}${query === '' ? '' : `?${query}`}`
        },
        setBehaviour(path, behaviour) {
          if (behaviour === undefined) behaviours.delete(path)
          else behaviours.set(path, behaviour)
        },
        /** Requests seen for a path (any query). */
        hits(path) {
          return requests.filter((r) => new URL(r.url, 'http://x').pathname === path)
        },
        reset() {
          counts.clear()
          requests.length = 0
        },
        close() {
          for (const t of timers) clearTimeout(t)
          for (const s of sockets) s.destroy()
          return new Promise((done) => server.close(() => done()))
        },
      })
    })
  })
}

/** Streams bytes start..end of the file, cut (drop), halted (stall) or paced (rate) as asked. */
function sendBody(res, path, start, end, b, timers) {
  const limit = b.drop ?? b.stall
  const stream = createReadStream(path, { start, end, highWaterMark: b.rate === undefined ? 64 * 1024 : Math.max(1, Math.ceil(b.rate / 10)) })
  let sent = 0
  // Headers go out now, so drop=0 and stall=0 fail in the body, not before the status line.
  res.flushHeaders()
  const stop = () => {
    stream.destroy()
    // drop: FIN once the bytes are out, so the client reads exactly `drop` bytes then an early end.
    if (b.drop !== undefined) res.socket?.end()
    // stall: nothing more, the connection stays open until the client or close() ends it.
  }
  if (limit !== undefined && limit <= 0) return stop()
  stream.on('data', (chunk) => {
    let part = chunk
    if (limit !== undefined && sent + part.length >= limit) part = part.subarray(0, limit - sent)
    sent += part.length
    const more = res.write(part)
    if (limit !== undefined && sent >= limit) return stop()
    if (b.rate !== undefined) {
      stream.pause()
      const t = setTimeout(() => { timers.delete(t); stream.resume() }, Math.max(1, (part.length / b.rate) * 1000))
      timers.add(t)
    } else if (!more) {
      stream.pause()
      res.once('drain', () => stream.resume())
    }
  })
  stream.on('end', () => res.end())
  stream.on('error', () => res.destroy())
  res.on('close', () => stream.destroy())
}

/**
 * Starts a forward proxy: absolute-form requests for http targets, CONNECT tunnels for the rest.
 * Options: port, host, auth ('user:pass': 407 without the right Proxy-Authorization). Each
 * request is logged in `requests` as { method, target, proxyAuthorization, status }.
 */
export function startForwardProxy(options = {}) {
  const requests = []
  const sockets = new Set()
  const expected = options.auth === undefined ? undefined : `Basic ${Buffer.from(options.auth, 'utf8').toString('base64')}`
  const allowed = (req) => expected === undefined || req.headers['proxy-authorization'] === expected

  const server = createHttpServer((req, res) => {
    const log = { method: req.method, target: req.url, proxyAuthorization: req.headers['proxy-authorization'], status: 0 }
    requests.push(log)
    if (!allowed(req)) {
      log.status = 407
      res.writeHead(407, { 'proxy-authenticate': 'Basic realm="proxy"', 'content-length': '0' })
      return res.end()
    }
    let target
    try {
      target = new URL(req.url ?? '')
    } catch {
      log.status = 400
      res.writeHead(400, { 'content-length': '0' })
      return res.end()
    }
    const headers = { ...req.headers }
    delete headers['proxy-authorization']
    const upstream = httpRequest({ host: target.hostname, port: target.port || 80, path: `${target.pathname}${target.search}`, method: req.method, headers }, (answer) => {
      log.status = answer.statusCode
      res.writeHead(answer.statusCode ?? 502, answer.headers)
      answer.pipe(res)
      answer.on('aborted', () => res.destroy())
      answer.on('error', () => res.destroy())
    })
    upstream.on('error', () => {
      if (!res.headersSent) { log.status = 502; res.writeHead(502, { 'content-length': '0' }); res.end() } else res.destroy()
    })
    res.on('close', () => upstream.destroy())
    req.pipe(upstream)
  })
  server.on('connection', (socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
  })
  server.on('connect', (req, client, head) => {
    const log = { method: 'CONNECT', target: req.url, proxyAuthorization: req.headers['proxy-authorization'], status: 0 }
    requests.push(log)
    client.on('error', () => {})
    if (!allowed(req)) {
      log.status = 407
      return client.end('HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm="proxy"\r\nContent-Length: 0\r\n\r\n')
    }
    const [host, port] = splitAuthority(req.url ?? '')
    const upstream = netConnect({ host, port })
    sockets.add(upstream)
    upstream.on('close', () => sockets.delete(upstream))
    upstream.on('connect', () => {
      log.status = 200
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n')
      if (head.length > 0) upstream.write(head)
      upstream.pipe(client)
      client.pipe(upstream)
    })
    upstream.on('error', () => {
      if (log.status === 0) { log.status = 502; client.end('HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n') } else client.destroy()
    })
    client.on('close', () => upstream.destroy())
  })

  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
      const address = server.address()
      resolve({
        host: address.address,
        port: address.port,
        url: `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`,
        requests,
        close() {
          for (const s of sockets) s.destroy()
          return new Promise((done) => server.close(() => done()))
        },
      })
    })
  })
}

function splitAuthority(text) {
  const m = /^\[?([^\]]*?)\]?:(\d+)$/.exec(text)
  return m === null ? [text, 443] : [m[1], Number(m[2])]
}

function argValue(args, name) {
  const i = args.indexOf(name)
  return i < 0 ? undefined : args[i + 1]
}

async function main(args) {
  const host = argValue(args, '--host') ?? '0.0.0.0'
  const port = Number(argValue(args, '--port') ?? 0)
  let running
  if (args.includes('--proxy')) {
    running = await startForwardProxy({ host, port, auth: argValue(args, '--auth') })
  } else {
    const dir = argValue(args, '--dir')
    if (dir === undefined) {
      process.stderr.write('usage: image-http-server.mjs --dir D [--port P] [--host H] [--config F] [--tls-key K --tls-cert C]\n       image-http-server.mjs --proxy [--port P] [--host H] [--auth U:P]\n')
      process.exit(2)
    }
    const config = argValue(args, '--config')
    const key = argValue(args, '--tls-key')
    const cert = argValue(args, '--tls-cert')
    running = await startImageServer({
      dir, host, port,
      behaviours: config === undefined ? {} : JSON.parse(readFileSync(config, 'utf8')),
      ...(key !== undefined && cert !== undefined ? { tls: { key: readFileSync(key), cert: readFileSync(cert) } } : {}),
    })
  }
  process.stdout.write(`${JSON.stringify({ listening: { host: running.host, port: running.port } })}\n`)
  const stop = () => { void running.close().then(() => process.exit(0)) }
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).catch((err) => {
    process.stderr.write(`${err.stack ?? err}\n`)
    process.exit(1)
  })
}
