#!/usr/bin/env node
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { ApplianceError } from '../core/errors.ts'
import { sendRequest, type RequestBody } from './client.ts'
import { parseInvocation, planRequest, USAGE, type BodySource } from './command.ts'
import { formatLocalError, renderResponse, type Outcome } from './format.ts'

/**
 * svmctl: the control CLI of routerd and (`svmctl storage …`) storaged. Parses the command line, reads the token and the body, makes one
 * request and prints the answer as plain text. Exit status: 0 ok; 1 failure, or differences for
 * `diff`; 2 bad usage or a request routerd refused (4xx). See `svmctl help`.
 */

async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks)
}

/**
 * The request body from a file or stdin, as the source says: JSON checked here (so a typo is
 * reported with its place), a password wrapped as {"password"} without its trailing newline, or
 * the bytes as they are.
 */
async function readBody(source: BodySource): Promise<RequestBody> {
  const name = source.kind === 'stdin' ? 'stdin' : source.path
  let bytes: Buffer
  try {
    bytes = source.kind === 'stdin' ? await readStdin() : readFileSync(source.path)
  } catch (err) {
    throw new ApplianceError('ERR_CLI_READ', `cannot read ${name}: ${(err as Error).message}`, { cause: err })
  }
  if (source.as === 'bytes') return { data: bytes, contentType: 'application/octet-stream' }
  const text = bytes.toString('utf8')
  if (source.as === 'password') return { data: JSON.stringify({ password: text.replace(/\r?\n$/, '') }), contentType: 'application/json' }
  try {
    JSON.parse(text)
  } catch (err) {
    throw new ApplianceError('ERR_CLI_BAD_JSON', `${name} is not JSON: ${(err as Error).message}`, { cause: err })
  }
  return { data: text, contentType: 'application/json' }
}

function readToken(file: string): string {
  let token: string
  try {
    token = readFileSync(file, 'utf8').trim()
  } catch (err) {
    throw new ApplianceError('ERR_CLI_TOKEN', `cannot read the token file ${file}: ${(err as Error).message} (--token-file or SVMCTL_TOKEN_FILE)`, { cause: err })
  }
  if (token === '') throw new ApplianceError('ERR_CLI_TOKEN', `the token file ${file} is empty`)
  return token
}

async function svmctl(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<Outcome> {
  try {
    const invocation = parseInvocation(argv, env)
    const plan = planRequest(invocation.command)
    if (plan === undefined) return { stdout: USAGE, stderr: '', exitCode: 0 }
    const token = readToken(invocation.tokenFile)
    const body = plan.body === undefined ? undefined : await readBody(plan.body)
    const path = plan.appendBodySha256 === true ? plan.path + createHash('sha256').update(body?.data ?? '').digest('hex') : plan.path
    const daemon = invocation.command.kind === 'storage' ? 'storaged' : 'routerd'
    const response = await sendRequest(invocation.endpoint, { ...plan, path }, token, body, undefined, daemon)
    return renderResponse(invocation.command, invocation.json, response.status, response.body)
  } catch (err) {
    return formatLocalError(err)
  }
}

const outcome = await svmctl(process.argv.slice(2), process.env)
process.stdout.write(outcome.stdout)
process.stderr.write(outcome.stderr)
process.exitCode = outcome.exitCode
