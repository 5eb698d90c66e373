import { randomInt } from 'node:crypto'
import { createSocket } from 'node:dgram'
import { connect } from 'node:net'
import { readU16, writeU16 } from '../../../core/bytes.ts'
import { FrameDecoder, frameMessage } from './tcp-framing.ts'
import { HEADER, layoutOf, OPT_RECORD, RCODE, type ResponseLayout } from './wire.ts'

/**
 * Asks upstream resolvers. Each query gets a random id and its own socket (a random source
 * port from the kernel), answers are accepted only from the server asked, with our id and our
 * question; a truncated UDP answer is asked again over TCP. Servers are tried in order.
 */

const UDP_TIMEOUT_MS = 1500
const TCP_TIMEOUT_MS = 3000

export interface UpstreamAnswer { bytes: Uint8Array; layout: ResponseLayout }

class UpstreamError extends Error {
  readonly code = 'ERR_DNS_UPSTREAM'
}

/** The query we send: a fresh id, RD, the client's question bytes, and our OPT record. */
function upstreamQuery(question: Uint8Array, id: number): Uint8Array {
  const out = new Uint8Array(HEADER + question.length + OPT_RECORD.length)
  writeU16(out, 0, id)
  out[2] = 0x01 // RD
  out[5] = 1 // QDCOUNT
  out[11] = 1 // ARCOUNT: OPT
  out.set(question, HEADER)
  out.set(OPT_RECORD, HEADER + question.length)
  return out
}

function sameQuestion(response: Uint8Array, question: Uint8Array): boolean {
  if (response.length < HEADER + question.length) return false
  for (let i = 0; i < question.length; i++) {
    let a = response[HEADER + i] as number
    let b = question[i] as number
    if (a >= 65 && a <= 90) a += 32
    if (b >= 65 && b <= 90) b += 32
    if (a !== b) return false
  }
  return true
}

/** Whether `bytes` answers `query`: QR set, our id, one question equal to ours, well formed. */
function accept(bytes: Uint8Array, id: number, question: Uint8Array): ResponseLayout | undefined {
  if (bytes.length < HEADER || readU16(bytes, 0) !== id || !((bytes[2] as number) & 0x80)) return undefined
  if (readU16(bytes, 4) !== 1 || !sameQuestion(bytes, question)) return undefined
  return layoutOf(bytes)
}

function overUdp(server: string, query: Uint8Array, id: number, question: Uint8Array): Promise<UpstreamAnswer | undefined> {
  return new Promise((resolve) => {
    const socket = createSocket('udp4')
    let done = false
    const finish = (answer: UpstreamAnswer | undefined) => {
      if (done) return
      done = true
      clearTimeout(timer)
      socket.close()
      resolve(answer)
    }
    const timer = setTimeout(() => finish(undefined), UDP_TIMEOUT_MS)
    socket.on('error', () => finish(undefined))
    socket.on('message', (msg, rinfo) => {
      // Anything not from the server asked, or not answering our id and question, is ignored (spoofing).
      if (rinfo.address !== server || rinfo.port !== 53) return
      const layout = accept(msg, id, question)
      if (layout !== undefined) finish({ bytes: new Uint8Array(msg), layout })
    })
    socket.bind(0, () => socket.send(query, 53, server, (err) => { if (err) finish(undefined) }))
  })
}

function overTcp(server: string, query: Uint8Array, id: number, question: Uint8Array): Promise<UpstreamAnswer | undefined> {
  return new Promise((resolve) => {
    const socket = connect({ host: server, port: 53 })
    const frames = new FrameDecoder()
    let done = false
    const finish = (answer: UpstreamAnswer | undefined) => {
      if (done) return
      done = true
      clearTimeout(timer)
      socket.destroy()
      resolve(answer)
    }
    const timer = setTimeout(() => finish(undefined), TCP_TIMEOUT_MS)
    socket.on('error', () => finish(undefined))
    socket.on('connect', () => socket.write(frameMessage(query)))
    socket.on('data', (chunk: Buffer) => {
      // The first message is the answer; next() returns nothing only once the chunk is used up.
      const framed = frames.next(chunk, 0)
      if (framed === undefined) return
      // A copy: the message may be a view into the socket's chunk.
      const msg = new Uint8Array(framed)
      const layout = accept(msg, id, question)
      finish(layout === undefined ? undefined : { bytes: msg, layout })
    })
    socket.on('end', () => finish(undefined))
  })
}

async function ask(server: string, question: Uint8Array): Promise<UpstreamAnswer | undefined> {
  const id = randomInt(65536)
  const udp = await overUdp(server, upstreamQuery(question, id), id, question)
  if (udp === undefined || ((udp.bytes[2] as number) & 0x02) === 0) return udp
  const tcpId = randomInt(65536)
  return overTcp(server, upstreamQuery(question, tcpId), tcpId, question)
}

/**
 * Asks each server in turn (UDP, then TCP when truncated) until one gives a real answer; a
 * SERVFAIL or REFUSED moves on to the next server and is returned only when all fail that way.
 * Rejects when none answered at all.
 */
export async function forward(servers: readonly string[], question: Uint8Array): Promise<UpstreamAnswer> {
  let fallback: UpstreamAnswer | undefined
  for (const server of servers) {
    const answer = await ask(server, question)
    if (answer === undefined) continue
    if (answer.layout.rcode !== RCODE.SERVFAIL && answer.layout.rcode !== RCODE.REFUSED) return answer
    fallback ??= answer
  }
  if (fallback !== undefined) return fallback
  throw new UpstreamError(`no answer from ${servers.join(', ') || 'any upstream (none configured)'}`)
}
