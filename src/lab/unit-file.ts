import { ApplianceError } from '../core/errors.ts'

/**
 * A systemd unit file read the way systemd reads it (systemd.syntax(7), systemd.service(5),
 * systemd.exec(5)), for the part the lab needs: the lab starts a daemon exactly as its unit in
 * appliance/ does, so the unit stays the one place its command line and environment are written.
 * Pure. What the lab cannot reproduce faithfully is refused (ERR_UNIT_UNSUPPORTED) rather than
 * half-done: specifiers (`%i`) and `$VAR` expansion in ExecStart=, more than one ExecStart=.
 * Malformed text is ERR_UNIT_INVALID.
 */

/** Section → key → every value assigned, in file order. */
export type UnitFile = ReadonlyMap<string, ReadonlyMap<string, readonly string[]>>

/** What ExecStart= runs: its argv, and the prefix characters systemd reads off the front ("-", "@", "+", "!", ":"). */
export interface ExecStart { argv: readonly string[]; prefixes: string }

function invalid(message: string): ApplianceError {
  return new ApplianceError('ERR_UNIT_INVALID', message)
}

function unsupported(message: string): ApplianceError {
  return new ApplianceError('ERR_UNIT_UNSUPPORTED', message)
}

/** Pure. The unit's sections and assignments; comments (`#`, `;`) dropped, `\` continuations joined. */
export function parseUnitFile(text: string): UnitFile {
  const sections = new Map<string, Map<string, string[]>>()
  let current: Map<string, string[]> | undefined
  let pending = ''
  for (const [i, raw] of text.split('\n').entries()) {
    const line = raw.trim()
    // systemd drops comment lines even inside a continued value.
    if (line.startsWith('#') || line.startsWith(';')) continue
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1)} `
      continue
    }
    const whole = (pending + line).trim()
    pending = ''
    if (whole === '') continue
    if (whole.startsWith('[')) {
      if (!whole.endsWith(']')) throw invalid(`line ${i + 1}: unterminated section header "${whole}"`)
      const name = whole.slice(1, -1)
      current = sections.get(name) ?? new Map()
      sections.set(name, current)
      continue
    }
    const eq = whole.indexOf('=')
    if (eq <= 0) throw invalid(`line ${i + 1}: not "Key=value": "${whole}"`)
    if (current === undefined) throw invalid(`line ${i + 1}: assignment before any [Section]`)
    const key = whole.slice(0, eq).trim()
    current.set(key, [...(current.get(key) ?? []), whole.slice(eq + 1).trim()])
  }
  return sections
}

/** Pure. Every value of `key` in `section` (systemd treats most keys' last value as the one in force). */
function unitValues(unit: UnitFile, section: string, key: string): readonly string[] {
  return unit.get(section)?.get(key) ?? []
}

/** Pure. The value in force of a single-valued key: the last one assigned; undefined when never set. */
export function unitValue(unit: UnitFile, section: string, key: string): string | undefined {
  return unitValues(unit, section, key).at(-1)
}

const ESCAPES: Readonly<Record<string, string>> = { n: '\n', t: '\t', '\\': '\\', '"': '"', "'": "'", ' ': ' ' }

/**
 * Pure. A value split into words as systemd splits ExecStart= and Environment=: on whitespace,
 * with "double" and 'single' quoted words and backslash escapes; `%%` is a literal `%`, any other
 * specifier is refused.
 */
export function splitUnitWords(value: string): string[] {
  const words: string[] = []
  let word: string | undefined
  let quote: '"' | "'" | undefined
  for (let i = 0; i < value.length; i++) {
    const c = value[i] as string
    if (quote === undefined && /\s/.test(c)) {
      if (word !== undefined) words.push(word)
      word = undefined
      continue
    }
    word ??= ''
    if (c === quote) quote = undefined
    else if (quote === undefined && (c === '"' || c === "'") && word === '') quote = c
    else if (c === '\\') {
      const next = value[++i]
      if (next === undefined) throw invalid(`trailing backslash in "${value}"`)
      word += ESCAPES[next] ?? `\\${next}`
    } else if (c === '%') {
      if (value[i + 1] !== '%') throw unsupported(`specifier %${value[i + 1] ?? ''} in "${value}": the lab does not expand specifiers`)
      word += '%'
      i++
    } else word += c
  }
  if (quote !== undefined) throw invalid(`unterminated ${quote} in "${value}"`)
  if (word !== undefined) words.push(word)
  return words
}

/** Pure. The [Service] Environment= assignments in force: later ones win, an empty `Environment=` clears the list. */
export function unitEnvironment(unit: UnitFile): Record<string, string> {
  let env: Record<string, string> = {}
  for (const value of unitValues(unit, 'Service', 'Environment')) {
    if (value === '') {
      env = {}
      continue
    }
    for (const assignment of splitUnitWords(value)) {
      const eq = assignment.indexOf('=')
      if (eq <= 0) throw invalid(`Environment= entry "${assignment}" is not NAME=value`)
      env[assignment.slice(0, eq)] = assignment.slice(eq + 1)
    }
  }
  return env
}

/** Pure. The one command [Service] ExecStart= runs (a Type=simple service has exactly one). */
export function unitExecStart(unit: UnitFile): ExecStart {
  const values = unitValues(unit, 'Service', 'ExecStart')
  // An empty assignment resets the list (drop-ins use it to replace the command).
  const lines = values.slice(values.lastIndexOf('') + 1)
  if (lines.length !== 1) throw unsupported(`the unit has ${lines.length} ExecStart= commands; the lab runs exactly one`)
  const line = lines[0] as string
  const prefixes = /^[-@:+!]*/.exec(line)?.[0] ?? ''
  const argv = splitUnitWords(line.slice(prefixes.length))
  if (argv.some((word) => word.includes('$'))) throw unsupported(`ExecStart= "${line}" uses $VARIABLE expansion; the lab does not expand it`)
  if (argv.length === 0) throw invalid('ExecStart= is empty')
  return { argv, prefixes }
}
