/**
 * CloudStack's guest password protocol on port 8080, as its guest scripts and cloud-init speak
 * it: a GET whose `DomU_Request` header says what the VM wants. Pure: what to do and answer.
 *   send_my_password → the pending password, or `saved_password` when there is none
 *   saved_password   → the VM has stored it: delete it (then `saved_password`)
 *   anything else    → `bad_request`
 *
 * Status codes, chosen deliberately: 200 for both requests a VM makes (the body is what its
 * scripts read; some older ones also check the status), 400 for anything else. CloudStack's
 * server writes a 200 status line and then a 400 one into the same reply, so its clients see 200
 * with junk in the body; we send one honest status. The body never carries a trailing newline:
 * the scripts compare it byte for byte with `saved_password` / `bad_request`.
 */

export const SAVED_PASSWORD = 'saved_password'
export const BAD_REQUEST = 'bad_request'

export type PasswordAction =
  | { kind: 'send' }
  | { kind: 'acknowledge' }
  | { kind: 'bad' }

/** Pure. The action for a request of `method` with this `DomU_Request` header value. */
export function passwordAction(method: string | undefined, header: string | string[] | undefined): PasswordAction {
  if (method !== 'GET' && method !== 'HEAD') return { kind: 'bad' }
  const value = (Array.isArray(header) ? header[0] : header)?.trim()
  if (value === 'send_my_password') return { kind: 'send' }
  if (value === 'saved_password') return { kind: 'acknowledge' }
  return { kind: 'bad' }
}
