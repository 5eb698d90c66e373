import { ApplianceError } from '../../core/errors.ts'

/**
 * The java.util.Properties text format, as CloudStack's Java agent reads and writes
 * `template.properties` and `volume.properties` (Properties.load / Properties.store), so files
 * written by either side read the same on the other. Pure: no I/O, no clock.
 *
 * Encoding: load(InputStream) decodes ISO-8859-1 and store(OutputStream) escapes everything
 * outside printable ASCII as \uXXXX, so read files with `toString('latin1')`; what
 * renderProperties returns is pure ASCII and can be written in any ASCII-compatible encoding.
 */

/** Java's Properties whitespace (a line terminator is not whitespace here). */
const isJavaSpace = (c: string | undefined): boolean => c === ' ' || c === '\t' || c === '\f'

/**
 * Parses properties text the way Properties.load does: `#`/`!` comment lines, `=`, `:` or
 * whitespace between key and value, backslash escapes, \uXXXX, and lines continued by an odd
 * number of trailing backslashes. A key given twice keeps its last value. Pure.
 * Throws `ERR_PROPERTIES_SYNTAX` on a malformed \uXXXX escape (Java throws there too).
 */
export function parseProperties(text: string): Map<string, string> {
  const out = new Map<string, string>()
  for (const line of logicalLines(text)) {
    const [rawKey, rawValue] = splitKeyValue(line)
    out.set(unescapeJava(rawKey), unescapeJava(rawValue))
  }
  return out
}

/** Joins natural lines into logical ones, without comments and blank lines. */
function logicalLines(text: string): string[] {
  const natural = text.split(/\r\n|\r|\n/)
  const out: string[] = []
  let current: string | null = null
  for (const raw of natural) {
    const line = stripLeadingSpace(raw)
    if (current === null) {
      // A comment is recognised only at the start of a logical line, and never continues.
      if (line === '' || line.startsWith('#') || line.startsWith('!')) continue
      current = ''
    }
    if (endsInOddBackslashes(line)) {
      current += line.slice(0, -1)
      continue
    }
    out.push(current + line)
    current = null
  }
  // At end of input Java drops a dangling continuation backslash and keeps the line.
  if (current !== null && current !== '') out.push(current)
  return out
}

function stripLeadingSpace(s: string): string {
  let i = 0
  while (isJavaSpace(s[i])) i++
  return s.slice(i)
}

function endsInOddBackslashes(s: string): boolean {
  let n = 0
  for (let i = s.length - 1; i >= 0 && s[i] === '\\'; i--) n++
  return n % 2 === 1
}

/** Finds the first unescaped `=`, `:` or whitespace; one `=`/`:` may follow whitespace. */
function splitKeyValue(line: string): [string, string] {
  let keyEnd = line.length
  let valueStart = line.length
  let hasSeparator = false
  let escaped = false
  for (let i = 0; i < line.length; i++) {
    const c = line[i]
    if (c === '\\') {
      escaped = !escaped
      continue
    }
    if (!escaped && (c === '=' || c === ':')) {
      keyEnd = i
      valueStart = i + 1
      hasSeparator = true
      break
    }
    if (!escaped && isJavaSpace(c)) {
      keyEnd = i
      valueStart = i + 1
      break
    }
    escaped = false
  }
  while (valueStart < line.length) {
    const c = line[valueStart]
    if (!isJavaSpace(c)) {
      if (hasSeparator || (c !== '=' && c !== ':')) break
      hasSeparator = true
    }
    valueStart++
  }
  return [line.slice(0, keyEnd), line.slice(valueStart)]
}

const UNESCAPES: Readonly<Record<string, string>> = { t: '\t', n: '\n', r: '\r', f: '\f' }

function unescapeJava(s: string): string {
  if (!s.includes('\\')) return s
  let out = ''
  for (let i = 0; i < s.length; i++) {
    const c = s[i] as string
    if (c !== '\\') {
      out += c
      continue
    }
    const next = s[++i]
    if (next === undefined) break
    if (next === 'u') {
      const hex = s.slice(i + 1, i + 5)
      if (!/^[0-9a-fA-F]{4}$/.test(hex)) {
        throw new ApplianceError('ERR_PROPERTIES_SYNTAX', `malformed \\uxxxx escape: \\u${hex}`)
      }
      out += String.fromCharCode(parseInt(hex, 16))
      i += 4
      continue
    }
    out += UNESCAPES[next] ?? next
  }
  return out
}

export interface RenderPropertiesOptions {
  /**
   * Comment written on the first line, as store(out, comments) does; CloudStack passes "" and
   * so its files start with a bare `#` line. null writes no comment line.
   */
  comment: string | null
  /**
   * Time for the `#<date>` line that store always writes, formatted like java.util.Date in
   * UTC. null leaves the line out (Java's loader ignores comments, so both read the same).
   */
  date: Date | null
}

/**
 * Renders entries in Properties.store format with keys sorted by UTF-16 code units (what
 * Java 18+ does; Java 17's store walks its hash table, whose order loaders ignore). Lines end
 * in `\n`. Pure and deterministic: the date is an argument.
 * @example renderProperties(new Map([['a b', 'x=y']]), { comment: null, date: null }) // 'a\\ b=x\\=y\n'
 */
export function renderProperties(entries: ReadonlyMap<string, string>, options: RenderPropertiesOptions): string {
  let out = ''
  if (options.comment !== null) out += renderComment(options.comment)
  if (options.date !== null) out += `#${formatJavaDate(options.date)}\n`
  const keys = [...entries.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
  for (const key of keys) out += `${escapeJava(key, true)}=${escapeJava(entries.get(key) ?? '', false)}\n`
  return out
}

/**
 * Escapes like Properties.store's saveConvert: every space in keys (only a leading one in
 * values), the four separators/comment characters, backslash, control characters and
 * everything outside printable ASCII as \uXXXX (upper-case hex, per UTF-16 code unit).
 */
function escapeJava(s: string, isKey: boolean): string {
  let out = ''
  for (let i = 0; i < s.length; i++) {
    const c = s[i] as string
    const code = c.charCodeAt(0)
    if (c === '\\') out += '\\\\'
    else if (c === ' ') out += i === 0 || isKey ? '\\ ' : ' '
    else if (c === '\t') out += '\\t'
    else if (c === '\n') out += '\\n'
    else if (c === '\r') out += '\\r'
    else if (c === '\f') out += '\\f'
    else if (c === '=' || c === ':' || c === '#' || c === '!') out += `\\${c}`
    else if (code < 0x20 || code > 0x7e) out += `\\u${code.toString(16).toUpperCase().padStart(4, '0')}`
    else out += c
  }
  return out
}

/** A comment as store writes it: line breaks start new `#` lines, non-Latin-1 as \uXXXX. */
function renderComment(comment: string): string {
  const escaped = comment.replace(/[^\u0000-\u00ff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}`)
  const lines = escaped.split(/\r\n|\r|\n/)
  return lines.map((line, i) => (i > 0 && (line.startsWith('#') || line.startsWith('!')) ? line : `#${line}`)).join('\n') + '\n'
}

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'] as const
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'] as const

/** java.util.Date.toString() in UTC, e.g. `Tue Mar 05 14:03:22 UTC 2024`. Pure. */
export function formatJavaDate(date: Date): string {
  const two = (n: number): string => String(n).padStart(2, '0')
  return `${DAYS[date.getUTCDay()]} ${MONTHS[date.getUTCMonth()]} ${two(date.getUTCDate())} `
    + `${two(date.getUTCHours())}:${two(date.getUTCMinutes())}:${two(date.getUTCSeconds())} UTC ${date.getUTCFullYear()}`
}
