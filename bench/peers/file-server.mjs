#!/usr/bin/env node
// bench-storage's HTTP file server: a plain static server for large files, run as a process in
// the storage lab's web namespace (plain JavaScript: node runs it as it is, from the source tree).
//
//   node file-server.mjs --dir D [--host H] [--port P] [--read-kib N]
//
// Prints one line `{"listening":{"host":…,"port":…}}` when ready; stops on SIGTERM/SIGINT.
//
// GET and HEAD of files under --dir, with a strong ETag, Last-Modified, one Range (`bytes=a-`,
// `bytes=a-b`, `bytes=-n`), If-Range and 416. Bodies are read in --read-kib blocks (default 64)
// and written with backpressure. Two extras for the benchmark, both keyed by the request's path
// and query (a round adds its own `&round=k`, so each round's counters start at zero):
//
//   ?drops=o1,o2,…   absolute byte offsets of the file: a response whose body would pass an
//                    offset not used yet sends the bytes up to it, then closes the connection
//                    (FIN after the last byte: the client receives exactly those bytes); each
//                    offset is used once
//   GET /__stats     {"<path?query>": {requests, bodyBytes, responses: [{status, start, sent}]}}:
//                    the body bytes written to the sockets per URL, independent of the client's
//                    own accounting
import { createReadStream, statSync } from 'node:fs'
import { createServer } from 'node:http'
import { join, normalize, sep } from 'node:path'

function argValue(args, name) {
  const i = args.indexOf(name)
  return i < 0 ? undefined : args[i + 1]
}

const args = process.argv.slice(2)
const dir = argValue(args, '--dir')
if (dir === undefined) {
  process.stderr.write('usage: file-server.mjs --dir D [--host H] [--port P] [--read-kib N]\n')
  process.exit(2)
}
const root = normalize(dir)
const host = argValue(args, '--host') ?? '0.0.0.0'
const port = Number(argValue(args, '--port') ?? 0)
const readSize = Number(argValue(args, '--read-kib') ?? 64) * 1024

/** Per URL (path + query): requests, body bytes written, and each response. */
const stats = new Map()
/** Per URL: drop offsets already used. */
const usedDrops = new Map()

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

function answer(res, status, text, headers = {}) {
  res.writeHead(status, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(text), ...headers })
  res.end(text)
}

const server = createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://x')
  if (url.pathname === '/__stats') return answer(res, 200, JSON.stringify(Object.fromEntries(stats)), { 'content-type': 'application/json' })
  const key = `${url.pathname}${url.search}`
  let entry = stats.get(key)
  if (entry === undefined) stats.set(key, (entry = { requests: 0, bodyBytes: 0, responses: [] }))
  entry.requests += 1
  if (req.method !== 'GET' && req.method !== 'HEAD') return answer(res, 405, 'method not allowed\n', { allow: 'GET, HEAD' })

  const path = normalize(join(root, decodeURIComponent(url.pathname)))
  if (!path.startsWith(root + sep)) return answer(res, 403, 'outside\n')
  let stat
  try {
    stat = statSync(path)
  } catch {
    return answer(res, 404, 'not found\n')
  }
  if (!stat.isFile()) return answer(res, 404, 'not a file\n')
  const size = stat.size
  const etag = `"${size.toString(16)}-${Math.floor(stat.mtimeMs).toString(16)}"`
  const lastModified = stat.mtime.toUTCString()
  const headers = { 'accept-ranges': 'bytes', 'content-type': 'application/octet-stream', etag, 'last-modified': lastModified }

  let start = 0
  let end = size - 1
  let status = 200
  const ifRange = req.headers['if-range']
  if (req.headers['range'] !== undefined && (ifRange === undefined || ifRange === etag || ifRange === lastModified)) {
    const range = parseRange(req.headers['range'], size)
    if (range !== undefined) {
      if (range.start >= size) return answer(res, 416, 'range not satisfiable\n', { ...headers, 'content-range': `bytes */${size}` })
      ;({ start, end } = range)
      status = 206
      headers['content-range'] = `bytes ${start}-${end}/${size}`
    }
  }
  const length = Math.max(0, end - start + 1)
  headers['content-length'] = String(length)
  const response = { status, start, sent: 0 }
  entry.responses.push(response)
  res.writeHead(status, headers)
  if (req.method === 'HEAD' || length === 0) return res.end()

  // The first unused drop offset inside this body, if any: the body stops there.
  const drops = (url.searchParams.get('drops') ?? '').split(',').filter((s) => /^\d+$/.test(s)).map(Number).sort((a, b) => a - b)
  let used = usedDrops.get(key)
  if (used === undefined) usedDrops.set(key, (used = new Set()))
  const drop = drops.find((o) => !used.has(o) && o > start && o <= end)
  if (drop !== undefined) used.add(drop)
  const last = drop === undefined ? end : drop - 1

  res.flushHeaders()
  const stream = createReadStream(path, { start, end: last, highWaterMark: readSize })
  stream.on('data', (chunk) => {
    response.sent += chunk.length
    entry.bodyBytes += chunk.length
    if (!res.write(chunk)) {
      stream.pause()
      res.once('drain', () => stream.resume())
    }
  })
  stream.on('end', () => {
    if (drop === undefined) return res.end()
    // The connection ends after the bytes already written (FIN, not RST): the client gets them all.
    res.socket?.end()
  })
  stream.on('error', () => res.destroy())
  res.on('close', () => stream.destroy())
})

server.listen(port, host, () => {
  const address = server.address()
  process.stdout.write(`${JSON.stringify({ listening: { host: address.address, port: address.port } })}\n`)
})
const stop = () => server.close(() => process.exit(0))
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
