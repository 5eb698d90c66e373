import { createHash } from 'node:crypto'

/**
 * Kernel object names. Everything the router owns starts with `SVM-` (chains) or `svm-`
 * (ipsets) so it can be told from foreign objects; names derived from ids or addresses carry
 * a base32 digest so they fit the kernel's limits (chains 28, ipsets 31 characters) and never
 * depend on array positions.
 */

export const CHAIN_PREFIX = 'SVM-'
export const IPSET_PREFIX = 'svm-'
export const MAX_CHAIN_NAME = 28
/** Leaves room for the swap suffix used when a set is replaced atomically. */
export const MAX_IPSET_NAME = 29
export const IPSET_SWAP_SUFFIX = '-n'
/** The security groups' sets (secgroup/render.ts): theirs alone, not the ipset stage's. */
export const SG_SET_PREFIX = `${IPSET_PREFIX}sg`

/** The routing protocol number stamped on every route and rule we own (iproute2 `proto`). */
export const OWNED_RT_PROTO = 199
const ROUTE_TABLE_BASE = 100
export const MARK_MASK = '0xff'
/** The start of every owned rule's comment (ruleTag). */
const RULE_TAG_PREFIX = 'svm:'

const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567'

/** Pure. Lower-case RFC 4648 base32 of sha256(text), without padding. */
function digest32(text: string): string {
  const bytes = createHash('sha256').update(text).digest()
  let out = ''
  let bits = 0
  let value = 0
  for (const byte of bytes) {
    value = (value << 8) | byte
    bits += 8
    while (bits >= 5) {
      out += BASE32[(value >>> (bits - 5)) & 31]
      bits -= 5
    }
  }
  return out
}

/** Pure. An owned chain name `SVM-<role>-<digest>` exactly 28 characters long. */
export function ownedChain(role: string, key: string): string {
  const head = `${CHAIN_PREFIX}${role}-`
  return head + digest32(`${role}|${key}`).slice(0, MAX_CHAIN_NAME - head.length).toUpperCase()
}

/** Pure. An owned ipset name `svm-<role>-<digest>` of MAX_IPSET_NAME characters. */
export function ownedSet(role: string, key: string): string {
  const head = `${IPSET_PREFIX}${role}-`
  return head + digest32(`${role}|${key}`).slice(0, MAX_IPSET_NAME - head.length)
}

/**
 * Pure. The comment an owned rule carries: `svm:<kind>:<id>` names the item it comes from
 * (counters are read back by it, kernel/rule-counters.ts), `svm:<kind>` a rule of no one item.
 * With an empty id it is the start every tag of `kind` shares.
 */
export function ruleTag(kind: string, id?: string): string {
  return id === undefined ? `${RULE_TAG_PREFIX}${kind}` : `${RULE_TAG_PREFIX}${kind}:${id}`
}

/** Fixed chains, one per hook we use, jumped to from the built-in chain of the same name. */
export const CHAIN = {
  rawPrerouting: `${CHAIN_PREFIX}PREROUTING`,
  manglePrerouting: `${CHAIN_PREFIX}PREROUTING`,
  mangleOutput: `${CHAIN_PREFIX}OUTPUT`,
  natPrerouting: `${CHAIN_PREFIX}PREROUTING`,
  natOutput: `${CHAIN_PREFIX}OUTPUT`,
  natPostrouting: `${CHAIN_PREFIX}POSTROUTING`,
  filterInput: `${CHAIN_PREFIX}INPUT`,
  filterForward: `${CHAIN_PREFIX}FORWARD`,
  filterOutput: `${CHAIN_PREFIX}OUTPUT`,
  /** Present in every owned table with one rule: its absence means someone flushed or deleted our rules. */
  canary: `${CHAIN_PREFIX}CANARY`,
} as const

/** Where cloud-init and other guests look for their metadata first (the EC2 convention). */
export const METADATA_ADDRESS = '169.254.169.254'

/** The set of (public ip, protocol:port) opened by port forwards that anyone may use. */
export const OPEN_PORTS_SET = `${IPSET_PREFIX}pf-open`

/** Pure. The mark and routing table of the k-th public interface (policy routing of replies). */
export function markOf(publicIndex: number): number {
  return ROUTE_TABLE_BASE + publicIndex
}
