import { describe, expect, it } from 'vitest'
import { parseStrictJson } from '../../../src/core/http/strict-json.ts'

const problem = (text: string): string => {
  try {
    parseStrictJson(text)
    return 'ok'
  } catch (err) {
    return `${(err as { code: string }).code} ${(err as Error).message}`
  }
}

describe('parseStrictJson', () => {
  const cases: { name: string; text: string; expect: string }[] = [
    { name: 'a plain document parses', text: '{"a":1,"b":[{"a":2},{"a":3}],"c":{"d":"x,{}[]\\"y"}}', expect: 'ok' },
    { name: 'equal keys in different objects are fine', text: '[{"id":"a"},{"id":"b"}]', expect: 'ok' },
    { name: 'a repeated top-level key is refused', text: '{"a":1,"a":2}', expect: 'ERR_BAD_REQUEST body repeats the key "a" in the object at /' },
    { name: 'a repeated nested key names its object', text: '{"items":[{"x":1},{"ports":{"start":1,"start":2}}]}', expect: 'ERR_BAD_REQUEST body repeats the key "start" in the object at /items/1/ports' },
    { name: 'keys equal after unescaping are the same key', text: '{"id":1,"\\u0069d":2}', expect: 'ERR_BAD_REQUEST body repeats the key "id" in the object at /' },
    { name: 'strings holding quotes, braces and backslashes do not confuse the scan', text: '{"k":"\\\\","l":"{\\"k\\":1}","k2":"\\\\\\"k\\""}', expect: 'ok' },
    { name: 'a key repeated in a large object is found', text: `{${Array.from({ length: 40 }, (_, i) => `"k${i}":${i}`).join(',')},"k7":0}`, expect: 'ERR_BAD_REQUEST body repeats the key "k7" in the object at /' },
    { name: 'a __proto__ key is refused', text: '{"a":{"__proto__":{"x":1}}}', expect: 'ERR_BAD_REQUEST body has a "__proto__" key in the object at /a' },
    { name: 'bad JSON is refused', text: '{"a":', expect: 'ERR_BAD_REQUEST' },
    { name: 'null is valid JSON', text: 'null', expect: 'ok' },
  ]
  for (const c of cases) it(c.name, () => expect(problem(c.text).startsWith(c.expect)).toBe(true))
  it('gives the value JSON.parse gives', () => {
    const text = '{"a":[1,2,{"b":"c"}],"d":null}'
    expect(parseStrictJson(text)).toEqual(JSON.parse(text))
  })
})
