import { ruleTag } from './names.ts'

/**
 * Turns an argv-style rule into one line of iptables-restore input. iptables-restore splits
 * on white space and honours double quotes, so anything outside a safe set is quoted.
 */

const SAFE = /^[A-Za-z0-9_.:/,!+=@%-]+$/

export function quoteArg(arg: string): string {
  if (SAFE.test(arg)) return arg
  return `"${arg.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`
}

/** Pure. `-A CHAIN arg…` as restore text. @example ruleLine('SVM-INPUT', '-i', 'lo', '-j', 'ACCEPT') */
export function ruleArgs(...args: readonly string[]): string {
  return args.map(quoteArg).join(' ')
}

/** Pure. The `-m comment` arguments that tag a rule with the item it came from (names.ts ruleTag). */
export function comment(kind: string, id?: string): string[] {
  return ['-m', 'comment', '--comment', ruleTag(kind, id)]
}
