import { formatIpv4, maskOf, parseIpv4, reservedKind } from '../core/ipv4.ts'
import type { BootKeys } from './cmdline.ts'

/**
 * Reading typed values out of the boot line's keys, collecting one problem per bad or missing
 * key instead of guessing. Pure.
 */

/** Stable codes of boot problems (the catalogue is README's "Boot line problems"). */
export const BOOT_PROBLEM_CODES = {
  /** A key the role needs is absent, empty, or the management server's literal `null`. */
  missing: 'ERR_BOOT_KEY_MISSING',
  /** A key's value is not what it must be (an address, a mask, a number, a name…). */
  invalid: 'ERR_BOOT_KEY_INVALID',
  /** `type=` names a role this appliance does not take (vpcrouter until VPC exists, consoleproxy, unknown). */
  role: 'ERR_BOOT_ROLE',
  /** The translation does not pass the daemon's own schema or checks (a bug here, or keys that disagree). */
  output: 'ERR_BOOT_OUTPUT_INVALID',
} as const
export type BootProblemCode = (typeof BOOT_PROBLEM_CODES)[keyof typeof BOOT_PROBLEM_CODES]

/** One thing wrong with the boot line: the key it is about, a stable code and a sentence. */
export interface BootProblem {
  code: BootProblemCode
  key: string
  message: string
}

/** An interface address read from `eth<N>ip` and `eth<N>mask`. */
export interface NicAddress {
  ip: string
  prefix: number
}

const HOSTNAME = /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/
const DOMAIN_LABEL = '[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?'
const DOMAIN = new RegExp(`^${DOMAIN_LABEL}(\\.${DOMAIN_LABEL})*$`)

/** The prefix length of a contiguous dotted-quad netmask (255.255.255.0 → 24), or undefined. */
export function prefixOfMask(mask: string): number | undefined {
  const value = parseIpv4(mask)
  if (value === undefined) return undefined
  for (let prefix = 0; prefix <= 32; prefix++) if (maskOf(prefix) === value) return prefix
  return undefined
}

/** Reads keys for one translation; every problem found is kept in `problems`, in reading order. */
export class KeyReader {
  readonly problems: BootProblem[] = []
  constructor(private readonly keys: BootKeys) {}

  /** The raw value, or undefined when absent, empty or `null` (the MS appends null fields as "null"). */
  raw(key: string): string | undefined {
    const value = this.keys.get(key)
    return value === undefined || value === '' || value === 'null' ? undefined : value
  }

  missing(key: string, why: string): undefined {
    this.problems.push({ code: BOOT_PROBLEM_CODES.missing, key, message: `${key} is missing: ${why}` })
    return undefined
  }

  invalid(key: string, value: string, must: string): undefined {
    this.problems.push({ code: BOOT_PROBLEM_CODES.invalid, key, message: `${key}=${value} is invalid: ${must}` })
    return undefined
  }

  /** A unicast IPv4 address (not 0.0.0.0, loopback, multicast…); link-local only when `linkLocal`. */
  ipv4(key: string, need: string | false, opts: { linkLocal?: boolean } = {}): string | undefined {
    const value = this.raw(key)
    if (value === undefined) return need === false ? undefined : this.missing(key, need)
    const address = parseIpv4(value)
    if (address === undefined) return this.invalid(key, value, 'must be an IPv4 address (dotted quad)')
    const reserved = reservedKind(address)
    const isLinkLocal = (address >>> 16) === 0xa9fe
    if (opts.linkLocal === true && !isLinkLocal) return this.invalid(key, value, 'must be a link-local address (169.254.0.0/16), as CloudStack gives the control NIC')
    if (reserved !== undefined && !(opts.linkLocal === true && isLinkLocal)) return this.invalid(key, value, `is ${reserved}`)
    return formatIpv4(address)
  }

  /** A contiguous netmask, as its prefix length. */
  mask(key: string, need: string | false): number | undefined {
    const value = this.raw(key)
    if (value === undefined) return need === false ? undefined : this.missing(key, need)
    const prefix = prefixOfMask(value)
    if (prefix === undefined || prefix === 0 || prefix === 32) return this.invalid(key, value, 'must be a contiguous netmask from 128.0.0.0 to 255.255.255.254')
    return prefix
  }

  /** `eth<N>ip` and `eth<N>mask` together. */
  nic(n: number, need: string, opts: { linkLocal?: boolean } = {}): NicAddress | undefined {
    const ip = this.ipv4(`eth${n}ip`, need, opts)
    const prefix = this.mask(`eth${n}mask`, need)
    return ip === undefined || prefix === undefined ? undefined : { ip, prefix }
  }

  integer(key: string, need: string | false, min: number, max: number): number | undefined {
    const value = this.raw(key)
    if (value === undefined) return need === false ? undefined : this.missing(key, need)
    if (!/^[0-9]{1,10}$/.test(value) || Number(value) < min || Number(value) > max) return this.invalid(key, value, `must be a whole number from ${min} to ${max}`)
    return Number(value)
  }

  hostname(key: string, need: string | false): string | undefined {
    const value = this.raw(key)
    if (value === undefined) return need === false ? undefined : this.missing(key, need)
    return HOSTNAME.test(value) ? value : this.invalid(key, value, 'must be a host name: one DNS label of letters, digits and inner hyphens, 63 characters at most')
  }

  domain(key: string): string | undefined {
    const value = this.raw(key)
    if (value === undefined) return undefined
    return DOMAIN.test(value) && value.length <= 253 ? value : this.invalid(key, value, 'must be a DNS domain name (labels of letters, digits and inner hyphens, no trailing dot)')
  }

  /** A comma-separated list of domains (dnssearchorder). */
  domains(key: string): string[] | undefined {
    const value = this.raw(key)
    if (value === undefined) return undefined
    const list = value.split(',')
    return list.every((d) => DOMAIN.test(d) && d.length <= 253) ? list : this.invalid(key, value, 'must be DNS domain names separated by commas')
  }

  /** `true` or `false` (absent: `fallback`). */
  boolean(key: string, fallback: boolean): boolean {
    const value = this.raw(key)
    if (value === undefined) return fallback
    if (value === 'true' || value === 'false') return value === 'true'
    this.invalid(key, value, 'must be true or false')
    return fallback
  }

  /** A host name or IPv4 address of a server (host=). */
  server(key: string, value: string): { host: string; isName: boolean } | undefined {
    if (parseIpv4(value) !== undefined) return { host: value, isName: false }
    if (/^[0-9.]+$/.test(value) || !DOMAIN.test(value)) return this.invalid(key, value, 'must be an IPv4 address or a DNS name')
    return { host: value, isName: true }
  }

  /** `authorized_key`: base64 of the public key(s) root's authorized_keys gets, kept encoded. */
  base64(key: string): string | undefined {
    const value = this.raw(key)
    if (value === undefined) return undefined
    return /^[A-Za-z0-9+/]+={0,2}$/.test(value) && value.length % 4 !== 1 ? value : this.invalid(key, value.length > 40 ? `${value.slice(0, 40)}…` : value, 'must be base64')
  }

  /** `nic_macs`: the NICs' MACs in device order, separated by `|`. */
  macs(key: string): string[] | undefined {
    const value = this.raw(key)
    if (value === undefined) return undefined
    const list = value.split('|').map((m) => m.toLowerCase())
    return list.every((m) => /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/.test(m)) ? list : this.invalid(key, value, 'must be MAC addresses separated by |')
  }
}
