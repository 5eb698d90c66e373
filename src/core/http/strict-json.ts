import { ApplianceError } from '../errors.ts'

/**
 * JSON bodies parsed strictly. JSON.parse lets the last of two equal keys win in silence, so
 * `{"sourceCidrs": [...], "sourceCidrs": ["0.0.0.0/0"]}` would open what the first one said to
 * keep closed; an orchestrator bug like that must be an error, not a guess. The text is parsed by
 * JSON.parse (native, fast) and then scanned once for keys repeated in one object, and for
 * `__proto__` keys (prototype poisoning, as fastify's own parser refuses them).
 */

interface Frame { object: boolean; keys: string[] | Set<string>; index: number; key: string }

/** Objects with more keys than this use a Set; config items have a handful, where an array is cheaper. */
const SMALL_OBJECT = 16

/** Pure. Parses `text`; throws ERR_BAD_REQUEST on bad JSON, a duplicate key (naming its object's JSON pointer) or a `__proto__` key. */
export function parseStrictJson(text: string): unknown {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (err) {
    throw new ApplianceError('ERR_BAD_REQUEST', `body is not valid JSON: ${(err as Error).message}`)
  }
  // Fast path: as many keys in the parsed value as key tokens in the text means none repeated.
  // Only a mismatch pays for the scan that finds (and names) the repeated key.
  if (countKeys(value) !== countKeyTokens(text)) findRepeatedKey(text)
  return value
}

function countKeys(value: unknown): number {
  if (typeof value !== 'object' || value === null) return 0
  let n = 0
  if (Array.isArray(value)) {
    for (const v of value) n += countKeys(v)
    return n
  }
  for (const k in value) {
    // A __proto__ key makes the count disagree on purpose, so the scan runs and refuses it.
    if (k === '__proto__') return Number.NaN
    n += 1 + countKeys((value as Record<string, unknown>)[k])
  }
  return n
}

/** Strings followed by a colon in valid JSON text: its object keys, repeats included. */
function countKeyTokens(text: string): number {
  let n = 0
  let i = text.indexOf('"')
  while (i !== -1) {
    let end = text.indexOf('"', i + 1)
    while (text.charCodeAt(end - 1) === 0x5c) {
      let backslashes = 1
      while (text.charCodeAt(end - 1 - backslashes) === 0x5c) backslashes++
      if (backslashes % 2 === 0) break
      end = text.indexOf('"', end + 1)
    }
    let j = end + 1
    let c = text.charCodeAt(j)
    while (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) c = text.charCodeAt(++j)
    if (c === 0x3a /* : */) n++
    i = text.indexOf('"', j)
  }
  return n
}

/** The JSON pointer (without its leading slash) of the value being scanned inside these containers. */
function pathOf(stack: readonly Frame[]): string {
  return stack.map((f) => (f.object ? f.key : String(f.index))).join('/')
}

/** Scans valid JSON text; throws at the first key an object repeats. */
function findRepeatedKey(text: string): void {
  const stack: Frame[] = []
  let top: Frame | undefined
  let expectKey = false
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c === 0x22 /* " */) {
      let end = i + 1
      let escaped = false
      for (;;) {
        end = text.indexOf('"', end)
        let backslashes = 0
        while (text.charCodeAt(end - 1 - backslashes) === 0x5c) backslashes++
        if (backslashes % 2 === 0) break
        escaped = true
        end++
      }
      if (expectKey && top !== undefined) {
        const raw = text.slice(i + 1, end)
        const key = escaped || raw.includes('\\') ? (JSON.parse(text.slice(i, end + 1)) as string) : raw
        if (key === '__proto__') throw new ApplianceError('ERR_BAD_REQUEST', `body has a "__proto__" key in the object at /${pathOf(stack.slice(0, -1))}`)
        const keys = top.keys
        const repeated = Array.isArray(keys) ? keys.includes(key) : keys.has(key)
        if (repeated) throw new ApplianceError('ERR_BAD_REQUEST', `body repeats the key "${key}" in the object at /${pathOf(stack.slice(0, -1))}`)
        if (Array.isArray(keys)) {
          keys.push(key)
          if (keys.length > SMALL_OBJECT) top.keys = new Set(keys)
        } else keys.add(key)
        top.key = key
        expectKey = false
      }
      i = end
    } else if (c === 0x7b /* { */) {
      top = { object: true, keys: [], index: 0, key: '' }
      stack.push(top)
      expectKey = true
    } else if (c === 0x5b /* [ */) {
      top = { object: false, keys: [], index: 0, key: '' }
      stack.push(top)
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      stack.pop()
      top = stack[stack.length - 1]
    } else if (c === 0x2c /* , */ && top !== undefined) {
      if (top.object) expectKey = true
      else top.index++
    }
  }
}
