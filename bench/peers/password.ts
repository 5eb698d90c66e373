import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { StartedProcess } from '../../src/core/exec.ts'
import type { Lab } from '../../src/lab/lab.ts'
import { waitTcpListen } from '../lib/listen.ts'

/**
 * The password peer of bench-metadata: password-server.py beside this file (CloudStack's design:
 * Python http.server, ThreadingHTTPServer + BaseHTTPRequestHandler, HTTP/1.0, passwords in a dict
 * keyed by client IP), run by Debian's python3 in namespace `ns` on `listen`:`port`, loaded with
 * `passwords` ({ip: password}) through a JSON file in `dir`. Resolves once it listens.
 */
export async function startPasswordServer(lab: Lab, ns: string, o: { script: string; dir: string; listen: string; port: number; passwords: Readonly<Record<string, string>> }): Promise<StartedProcess> {
  const store = join(o.dir, 'passwords.json')
  writeFileSync(store, JSON.stringify(o.passwords))
  const p = lab.start(ns, 'python3', [o.script, o.listen, String(o.port), store])
  await waitTcpListen(lab, ns, [`${o.listen}:${o.port}`], true, p)
  return p
}
