#!/usr/bin/env node
// Waits until routerd is ready: GET /readyz answers 200 once the desired generation is in the
// kernel (liveness, /healthz, comes earlier). The unit runs it as ExecStartPost, so the unit
// (and whatever is ordered after it) becomes active only when the router really routes.
// Plain JavaScript on purpose: it runs beside the bundle with no build step and no imports
// but Node's own. Usage: routerd-ready.mjs [--config FILE] [--timeout SECONDS]
// Exit 0 when ready, 1 when not ready within the timeout or the config cannot be read.
import { readFileSync } from 'node:fs'
import { request as httpRequest } from 'node:http'
import { request as httpsRequest } from 'node:https'
import { parseArgs } from 'node:util'

const { values } = parseArgs({
  options: { config: { type: 'string', default: '/etc/systemvm/routerd.json' }, timeout: { type: 'string', default: '110' } },
})
const POLL_MS = 250
const ASK_MS = 2000

/**
 * One GET /readyz: the status code, or 0 when nothing answered. With TLS configured the API
 * speaks HTTPS only; its own certificate is the one trusted (the name it carries may not be the
 * address we dial, so only the certificate itself is checked).
 */
function ask(listen, tls) {
  return new Promise((resolve) => {
    const where = 'path' in listen ? { socketPath: listen.path } : { host: listen.host, port: listen.port }
    const request = tls === undefined ? httpRequest : httpsRequest
    const trust = tls === undefined ? {} : { ca: tls.cert, checkServerIdentity: () => undefined }
    const req = request({ ...where, ...trust, method: 'GET', path: '/readyz', timeout: ASK_MS }, (res) => {
      res.resume()
      res.on('end', () => resolve(res.statusCode ?? 0))
    })
    req.on('timeout', () => req.destroy())
    req.on('error', () => resolve(0))
    req.end()
  })
}

let listen
let tls
try {
  const daemon = JSON.parse(readFileSync(values.config, 'utf8'))
  listen = daemon.listen
  if (typeof listen !== 'object' || listen === null) throw new Error('no "listen" object')
  if (daemon.tls !== undefined) tls = { cert: readFileSync(daemon.tls.certFile) }
} catch (err) {
  process.stderr.write(`routerd-ready: cannot read ${values.config}: ${err.message}\n`)
  process.exit(1)
}
const deadline = Date.now() + Number(values.timeout) * 1000
let last = 0
while (Date.now() < deadline) {
  last = await ask(listen, tls)
  if (last === 200) process.exit(0)
  await new Promise((resolve) => setTimeout(resolve, POLL_MS))
}
process.stderr.write(`routerd-ready: not ready after ${values.timeout} s (last answer: ${last === 0 ? 'none' : last})\n`)
process.exit(1)
