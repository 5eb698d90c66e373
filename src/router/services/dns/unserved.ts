import { CLASS_IN, errorReply, RCODE, RCODE_BADVERS, salvageQuestion, TYPE_AXFR, TYPE_IXFR, type ParsedQuery, type QueryProblem } from './wire.ts'

/**
 * Replies to queries the server does not look up: malformed ones (FORMERR), other opcodes
 * (NOTIMP), EDNS versions we do not speak (BADVERS, RFC 6891 §6.1.3), zone transfers and
 * classes other than IN (REFUSED). Each reply echoes as much of the query as reads (its
 * question, its OPT record) and names the counter it goes to. Pure.
 */

export type UnservedCounter = 'formerr' | 'notimp' | 'refused' | 'badvers'

export interface UnservedReply {
  reply: Uint8Array
  counter: UnservedCounter
}

/** A transfer gets REFUSED, not an empty NOERROR: we hand out no zone, and the client should look elsewhere. */
function isTransfer(qtype: number): boolean {
  return qtype === TYPE_AXFR || qtype === TYPE_IXFR
}

/** Pure. The reply to a well-formed query we do not serve, or undefined when it is to be looked up. */
export function unservedReply(msg: Uint8Array, q: ParsedQuery): UnservedReply | undefined {
  // Version first: a client speaking EDNS1 must hear that before anything else (§6.1.3).
  if (q.ednsVersion !== 0) return { reply: errorReply(msg, q, RCODE_BADVERS), counter: 'badvers' }
  if (q.qclass !== CLASS_IN || isTransfer(q.qtype)) return { reply: errorReply(msg, q, RCODE.REFUSED), counter: 'refused' }
  return undefined
}

/**
 * Pure. The reply to a message parseQuery rejected, or undefined when it gets none: a response
 * or a fragment of a header is dropped (answering could loop or reflect).
 */
export function problemReply(msg: Uint8Array, problem: QueryProblem): UnservedReply | undefined {
  if (problem === 'short' || problem === 'not-a-query') return undefined
  const shape = salvageQuestion(msg)
  if (problem === 'opcode') return { reply: errorReply(msg, shape, RCODE.NOTIMP), counter: 'notimp' }
  // IXFR carries the client's SOA in the authority section, which parseQuery does not accept.
  if (shape !== undefined && isTransfer(shape.qtype)) return { reply: errorReply(msg, shape, RCODE.REFUSED), counter: 'refused' }
  return { reply: errorReply(msg, shape, RCODE.FORMERR), counter: 'formerr' }
}
