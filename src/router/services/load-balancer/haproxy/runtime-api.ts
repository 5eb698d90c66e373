import { connect } from 'node:net'
import { ApplianceError } from '../../../../core/errors.ts'

/**
 * HAProxy's CLI over a unix socket (the admin socket, or the master's): one command per
 * connection, the answer read until HAProxy closes. Bounded in time and size.
 */

const MAX_ANSWER = 1024 * 1024

export function haproxyCommand(socketPath: string, command: string, timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ path: socketPath })
    const chunks: Buffer[] = []
    let size = 0
    const timer = setTimeout(() => fail(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs)
    const fail = (err: Error) => {
      clearTimeout(timer)
      socket.destroy()
      reject(new ApplianceError('ERR_HAPROXY_API', `HAProxy did not take "${command.split(' ').slice(0, 2).join(' ')}": ${err.message}`, { cause: err }))
    }
    socket.on('connect', () => socket.end(`${command}\n`))
    socket.on('data', (chunk: Buffer) => {
      size += chunk.length
      if (size > MAX_ANSWER) return fail(new Error(`answer larger than ${MAX_ANSWER} bytes`))
      chunks.push(chunk)
    })
    socket.on('error', fail)
    socket.on('close', () => {
      clearTimeout(timer)
      resolve(Buffer.concat(chunks).toString('utf8'))
    })
  })
}

/**
 * Pure. Whether a runtime command's answer says it worked: HAProxy answers nothing, or a
 * confirmation, on success; a sentence on failure.
 */
export function commandSucceeded(answer: string): boolean {
  const text = answer.trim()
  return text === '' || /^(New server registered\.|Server deleted\.)/.test(text)
}

/** Pure. `show stat` CSV rows as records keyed by its header (pxname, svname, status, scur, check_status, …). */
export function parseShowStat(csv: string): Record<string, string>[] {
  const lines = csv.split('\n').filter((l) => l.trim() !== '')
  const header = lines[0]?.replace(/^# /, '').split(',') ?? []
  return lines.slice(1).map((line) => {
    const cells = line.split(',')
    return Object.fromEntries(header.map((h, i) => [h, cells[i] ?? '']))
  })
}
