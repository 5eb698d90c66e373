import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { binary, run, startProcess, type StartedProcess } from '../../src/core/exec.ts'

/**
 * The download tests' file server and forward proxy (image-http-server.mjs), typed: in this
 * process on 127.0.0.1 for the fetcher's tests, or as a process (optionally inside a network
 * namespace, `ip netns exec <ns> node image-http-server.mjs …`) for a daemon's integration tests.
 */

export { behaviourQuery, startForwardProxy, startImageServer } from './image-http-server.mjs'
export type { Behaviour, ForwardProxy, ImageServer, ImageServerOptions, LoggedRequest, ProxyRequest } from './image-http-server.mjs'

/** The runnable server, for `node <script> --dir …`. */
export const IMAGE_SERVER_SCRIPT = fileURLToPath(new URL('./image-http-server.mjs', import.meta.url))

export interface ServerProcessOptions {
  /** Serve this directory; without it the process is a forward proxy. */
  dir?: string
  /** The proxy's required credentials, `user:pass`. */
  proxyAuth?: string
  port?: number
  /** Default 0.0.0.0 (every address of the namespace). */
  host?: string
  netns?: string | undefined
  /** A JSON file `{ "/path": Behaviour }`. */
  config?: string
  tls?: { keyFile: string; certFile: string }
  timeoutMs?: number
}

export interface ServerProcess {
  process: StartedProcess
  host: string
  port: number
  /** SIGTERM, then waits for the exit. */
  stop(): Promise<void>
}

/** Starts image-http-server.mjs as a process and resolves once it listens. */
export async function startImageServerProcess(options: ServerProcessOptions): Promise<ServerProcess> {
  const args = [IMAGE_SERVER_SCRIPT, '--host', options.host ?? '0.0.0.0', '--port', String(options.port ?? 0)]
  if (options.dir === undefined) {
    args.push('--proxy')
    if (options.proxyAuth !== undefined) args.push('--auth', options.proxyAuth)
  } else {
    args.push('--dir', options.dir)
    if (options.config !== undefined) args.push('--config', options.config)
    if (options.tls !== undefined) args.push('--tls-key', options.tls.keyFile, '--tls-cert', options.tls.certFile)
  }
  const child = startProcess(process.execPath, args, { netns: options.netns })
  let exited = false
  void child.exited.then(() => { exited = true })
  const deadline = Date.now() + (options.timeoutMs ?? 10_000)
  for (;;) {
    const line = child.output().split('\n').find((l) => l.startsWith('{"listening"'))
    if (line !== undefined) {
      const { listening } = JSON.parse(line) as { listening: { host: string; port: number } }
      return {
        process: child,
        host: listening.host,
        port: listening.port,
        stop: async () => {
          child.kill('SIGTERM')
          await child.exited
        },
      }
    }
    if (exited || Date.now() > deadline) {
      child.kill('SIGKILL')
      throw new Error(`image-http-server.mjs did not start: ${child.output().trim()}`)
    }
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

export interface TestCertificate {
  key: Buffer
  cert: Buffer
  keyFile: string
  certFile: string
}

/** A self-signed certificate for 127.0.0.1 and localhost (openssl), valid one day, in `dir`. */
export async function makeTestCertificate(dir: string): Promise<TestCertificate> {
  const keyFile = join(dir, 'server.key')
  const certFile = join(dir, 'server.crt')
  await run(binary('openssl'), ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', keyFile, '-out', certFile, '-days', '1', '-subj', '/CN=localhost',
    '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'])
  return { key: await readFile(keyFile), cert: await readFile(certFile), keyFile, certFile }
}
