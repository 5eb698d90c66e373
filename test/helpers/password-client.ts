import { binary, run } from '../../src/core/exec.ts'

/**
 * The CloudStack password protocol as the guest script `cloud-set-guest-password`
 * (apache/cloudstack setup/bindir/cloud-set-guest-password.in) speaks it, with the same wget
 * arguments run in a guest namespace:
 *
 *   wget -q -t 3 -T 20 -O - --header "DomU_Request: send_my_password" http://<server>:8080
 *   wget -q -t 3 -T 20 -O - --header "DomU_Request: saved_password" <server>:8080   (the ack; no scheme)
 *
 * What goes on the wire (wget 1.21.3, checked against a Node server): `GET / HTTP/1.1` (not 1.0)
 * with `Host: <server>:8080`, `User-Agent: Wget/1.21.3`, `Accept: *\/*`, `Accept-Encoding:
 * identity`, `Connection: Keep-Alive` and the header exactly as `DomU_Request: <value>` (an
 * underscore in the name). A server must therefore take HTTP/1.1 and keep-alive, frame its body
 * (Content-Length or close), and must not drop header names with underscores.
 *
 * The one argument added is `--server-response`, which prints the status line to stderr (even
 * with -q) and changes nothing in the request. wget exits 8 on a 4xx/5xx answer and then writes
 * no body, so the script sees "" for a 400 `bad_request`; `contentOnError` adds
 * `--content-on-error` to see that body anyway. http_proxy & co. are dropped from wget's
 * environment (`env -u`) so a developer's proxy never takes the request.
 */

export type DomURequest = 'send_my_password' | 'saved_password'

export interface PasswordReply {
  /** The last HTTP status line's code; undefined when no answer came (connection refused, timeout). */
  status: number | undefined
  /** What wget wrote to stdout: the body the script captures with $(...). */
  body: string
  /** wget's exit code: 0 ok, 4 network failure, 8 the server answered an error status. */
  exitCode: number
}

export interface GuestPasswordRun {
  /** The send_my_password request. */
  request: PasswordReply
  /** How the script reads the answer (its `case $password in` branches, or a wget failure). */
  outcome: 'password' | 'none' | 'saved' | 'bad_request' | 'failed'
  /** The password as the script holds it after `echo $password | tr -d '\r'`. */
  password: string | undefined
  /** The saved_password acknowledgement: sent only after a password was received, as the script does. */
  ack: PasswordReply | undefined
}

const PROXY_VARS = ['http_proxy', 'https_proxy', 'no_proxy', 'HTTP_PROXY', 'HTTPS_PROXY', 'NO_PROXY']

/** Sends one password-server request from namespace `ns` with the guest script's wget arguments. */
export async function passwordRequest(
  ns: string,
  server: string,
  request: DomURequest | string,
  opts: { url?: 'scheme' | 'bare'; contentOnError?: boolean; port?: number } = {},
): Promise<PasswordReply> {
  const port = opts.port ?? 8080
  // The script fetches with http:// and acknowledges without it; wget treats both the same.
  const url = (opts.url ?? (request === 'saved_password' ? 'bare' : 'scheme')) === 'scheme' ? `http://${server}:${port}` : `${server}:${port}`
  const wget = ['-q', '-t', '3', '-T', '20', '-O', '-', '--header', `DomU_Request: ${request}`, url]
  const added = ['--server-response', ...(opts.contentOnError === true ? ['--content-on-error'] : [])]
  const env = PROXY_VARS.flatMap((v) => ['-u', v])
  const r = await run(binary('env'), [...env, binary('wget'), ...added, ...wget], { netns: ns, okCodes: [0, 1, 2, 3, 4, 5, 6, 7, 8], timeoutMs: 3 * 20_000 + 10_000 })
  const statuses = [...r.stderr.matchAll(/^\s*HTTP\/\d(?:\.\d)?\s+(\d{3})/gm)].map((m) => Number(m[1]))
  return { status: statuses.at(-1), body: r.stdout, exitCode: r.exitCode }
}

/**
 * Pure. The script's reading of a send_my_password answer: `password=$(echo $password | tr -d '\r')`
 * (unquoted echo: whitespace runs become one space, ends trimmed), then its `case`.
 */
export function readPasswordAnswer(reply: PasswordReply): Pick<GuestPasswordRun, 'outcome' | 'password'> {
  if (reply.exitCode !== 0) return { outcome: 'failed', password: undefined }
  const password = reply.body.split(/[ \t\n]+/).filter((w) => w !== '').join(' ').replaceAll('\r', '')
  switch (password) {
    case '': return { outcome: 'none', password: undefined }
    case 'bad_request': return { outcome: 'bad_request', password: undefined }
    case 'saved_password': return { outcome: 'saved', password: undefined }
    default: return { outcome: 'password', password }
  }
}

/** Runs the guest script's exchange from `ns`: ask for the password, and acknowledge it if one came. */
export async function setGuestPassword(ns: string, server: string): Promise<GuestPasswordRun> {
  const request = await passwordRequest(ns, server, 'send_my_password')
  const { outcome, password } = readPasswordAnswer(request)
  const ack = outcome === 'password' ? await passwordRequest(ns, server, 'saved_password') : undefined
  return { request, outcome, password, ack }
}
