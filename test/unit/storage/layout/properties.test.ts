import { describe, expect, it } from 'vitest'
import { formatJavaDate, parseProperties, renderProperties } from '../../../../src/storage/layout/properties.ts'

const bare = { comment: null, date: null }

describe('parseProperties (java.util.Properties.load)', () => {
  // Expected values were produced by Java 17's Properties.load on the same text.
  const cases: { name: string; text: string; want: Record<string, string> }[] = [
    { name: '= : and whitespace separate key and value; one = or : may follow whitespace', text: 'a b\n c : d\ne=f\ng:h\ni  =  j\n', want: { a: 'b', c: 'd', e: 'f', g: 'h', i: 'j' } },
    { name: 'comments start with # or ! after leading whitespace; blank lines skipped', text: '  # c\n! d\n\n \t\nk=v\n', want: { k: 'v' } },
    { name: 'a second separator belongs to the value', text: 'k==v\nl::w\nm = =x\n', want: { k: '=v', l: ':w', m: '=x' } },
    { name: 'trailing whitespace is kept in values', text: 'k=v  \n', want: { k: 'v  ' } },
    { name: 'an odd number of trailing backslashes continues, leading space of the next line dropped', text: 'e=f\\\n    g\\\\\n', want: { e: 'fg\\' } },
    { name: 'a continuation into an empty line ends the value', text: 'h\\\n\nj\n', want: { h: '', j: '' } },
    { name: 'escapes: \\uXXXX, \\t \\n, and any other char stands for itself', text: 'i\\u0041\\x=\\t\\n  \n\\ k\\:=v\n', want: { iAx: '\t\n  ', ' k:': 'v' } },
    { name: 'a dangling backslash at end of input is dropped', text: 'last=x\\', want: { last: 'x' } },
    { name: 'a comment line ending in a backslash does not continue', text: '# c \\\nk=v\n', want: { k: 'v' } },
    { name: '# inside a continued line is not a comment', text: 'k=a\\\n  #b\n', want: { k: 'a#b' } },
    { name: 'CR, LF and CRLF all end lines', text: 'a=1\rb=2\r\nc=3\n', want: { a: '1', b: '2', c: '3' } },
    { name: 'the last value of a repeated key wins', text: 'k=1\nk=2\n', want: { k: '2' } },
    { name: 'a line with only a key has an empty value; a line with only = has an empty key', text: 'k\n=v\n', want: { k: '', '': 'v' } },
  ]
  it.each(cases)('$name', ({ text, want }) => {
    expect(Object.fromEntries(parseProperties(text))).toEqual(want)
  })

  it('refuses a malformed \\u escape (ERR_PROPERTIES_SYNTAX)', () => {
    for (const text of ['k=\\u12g4\n', 'k=\\u12']) {
      expect(() => parseProperties(text)).toThrow(expect.objectContaining({ code: 'ERR_PROPERTIES_SYNTAX' }))
    }
  })
})

describe('renderProperties (java.util.Properties.store)', () => {
  it('escapes exactly as Java 17 store does (output checked against Java)', () => {
    const entries = new Map([
      [' lead key=:#!', ' lead value = : # ! \\ tab\t nl\n cr\r ff\f'],
      ['ünï€😀', 'ünï€😀\u0001\u007f'],
      ['k', ''],
    ])
    expect(renderProperties(entries, bare)).toBe([
      '\\ lead\\ key\\=\\:\\#\\!=\\ lead value \\= \\: \\# \\! \\\\ tab\\t nl\\n cr\\r ff\\f',
      'k=',
      '\\u00FCn\\u00EF\\u20AC\\uD83D\\uDE00=\\u00FCn\\u00EF\\u20AC\\uD83D\\uDE00\\u0001\\u007F',
      '',
    ].join('\n'))
  })

  it('writes the comment line, then the Java date line, then keys sorted', () => {
    const text = renderProperties(new Map([['b', '2'], ['a', '1']]), { comment: '', date: new Date(Date.UTC(2024, 2, 5, 14, 3, 22)) })
    expect(text).toBe('#\n#Tue Mar 05 14:03:22 UTC 2024\na=1\nb=2\n')
  })

  it('writes a multi-line comment as # lines and escapes non-Latin-1 in it', () => {
    expect(renderProperties(new Map(), { comment: 'one\ntwo\r\n#three €', date: null })).toBe('#one\n#two\n#three \\u20AC\n')
  })

  it('is pure ASCII whatever the input', () => {
    const text = renderProperties(new Map([['κλειδί', 'τιμή\u0000\uffff']]), bare)
    expect(/^[\x20-\x7e\n]*$/.test(text)).toBe(true)
  })

  const oddStrings = [
    '', ' ', '  two leading', 'trailing  ', 'a=b', 'a:b', '#not a comment', '!bang', 'back\\slash', '\\', '\\\\\\',
    'tab\tnew\nline\rcr\fff', 'ünïcödé', '€ and 😀 and \ud800 lone surrogate', '\u0000\u0001\u001f\u007f\u0080\u00ff',
    'ends with backslash\\', 'x\\u0041 literal escape text', '=', ':', ' = : ',
  ]
  it('round-trips odd keys and values through render and parse', () => {
    const entries = new Map<string, string>(oddStrings.map((s, i) => [`${s}${i}`, s]))
    entries.set('', 'empty key')
    for (const s of oddStrings) entries.set(s === '' ? 'empty-value' : `k ${s}`, s)
    const back = parseProperties(renderProperties(entries, { comment: 'c', date: new Date(0) }))
    expect(Object.fromEntries(back)).toEqual(Object.fromEntries(entries))
  })

  it('round-trips through latin1 bytes as a file would', () => {
    const entries = new Map([['ünï', 'wert €']])
    const bytes = Buffer.from(renderProperties(entries, bare), 'latin1')
    expect(parseProperties(bytes.toString('latin1'))).toEqual(entries)
  })
})

describe('formatJavaDate', () => {
  it.each([
    [Date.UTC(2024, 2, 5, 14, 3, 22), 'Tue Mar 05 14:03:22 UTC 2024'],
    [0, 'Thu Jan 01 00:00:00 UTC 1970'],
    [Date.UTC(2026, 11, 31, 23, 59, 59, 999), 'Thu Dec 31 23:59:59 UTC 2026'],
  ])('%i → %s (java.util.Date.toString in UTC)', (ms, want) => {
    expect(formatJavaDate(new Date(ms))).toBe(want)
  })
})
