import { describe, expect, it } from 'vitest'
import { errorCode } from '../../../src/core/errors.ts'
import { parseUnitFile, splitUnitWords, unitEnvironment, unitExecStart, unitValue } from '../../../src/lab/unit-file.ts'

const service = (...lines: string[]) => parseUnitFile(['[Unit]', 'Description=x', '[Service]', ...lines].join('\n'))

describe('unit-file: systemd unit text as data', () => {
  const words = [
    { name: 'whitespace separates words, runs of it count once', value: 'a  b\tc', words: ['a', 'b', 'c'] },
    { name: 'double and single quotes keep spaces in a word', value: `"a b" 'c d' e`, words: ['a b', 'c d', 'e'] },
    { name: 'an empty quoted word is a word', value: 'a "" b', words: ['a', '', 'b'] },
    { name: 'backslash escapes: quote, backslash, space, newline', value: String.raw`a\"b c\\d e\ f g\nh`, words: ['a"b', 'c\\d', 'e f', 'g\nh'] },
    { name: '%% is a literal percent sign', value: 'MALLOC=100%%', words: ['MALLOC=100%'] },
  ]
  for (const c of words) it(`splitUnitWords: ${c.name}`, () => expect(splitUnitWords(c.value)).toEqual(c.words))

  const refused = [
    { name: 'a specifier is refused, not passed on literally', value: 'run %i', code: 'ERR_UNIT_UNSUPPORTED' },
    { name: 'an unterminated quote is invalid', value: 'a "b', code: 'ERR_UNIT_INVALID' },
  ]
  for (const c of refused) it(`splitUnitWords: ${c.name}`, () => expect(errorCode(catching(() => splitUnitWords(c.value)))).toBe(c.code))

  it('comments and blank lines are dropped; a trailing backslash continues the line', () => {
    const unit = service('# a comment', '; another', '', 'ExecStart=/usr/bin/node \\', '  --flag \\', '# skipped inside', '  /opt/x.mjs')
    expect(unitExecStart(unit)).toEqual({ argv: ['/usr/bin/node', '--flag', '/opt/x.mjs'], prefixes: '' })
  })

  it('single-valued keys: the last assignment is in force; an absent key is undefined', () => {
    const unit = service('RestartSec=1', 'RestartSec = 5')
    expect(unitValue(unit, 'Service', 'RestartSec')).toBe('5')
    expect(unitValue(unit, 'Service', 'MemoryMax')).toBeUndefined()
  })

  it('Environment=: several per line, quoted, later ones win, an empty one clears', () => {
    expect(unitEnvironment(service('Environment=A=1 "B=two words"', 'Environment=A=3'))).toEqual({ A: '3', B: 'two words' })
    expect(unitEnvironment(service('Environment=A=1', 'Environment=', 'Environment=C=2'))).toEqual({ C: '2' })
  })

  it('ExecStart=: prefix characters are read off; an empty assignment resets the list', () => {
    expect(unitExecStart(service('ExecStart=-/bin/true x'))).toEqual({ argv: ['/bin/true', 'x'], prefixes: '-' })
    expect(unitExecStart(service('ExecStart=/bin/a', 'ExecStart=', 'ExecStart=/bin/b')).argv).toEqual(['/bin/b'])
  })

  const badUnits = [
    { name: 'two ExecStart= commands are refused (the lab runs one)', text: '[Service]\nExecStart=/bin/a\nExecStart=/bin/b', code: 'ERR_UNIT_UNSUPPORTED' },
    { name: '$VARIABLE expansion in ExecStart= is refused', text: '[Service]\nExecStart=/bin/a $OPTS', code: 'ERR_UNIT_UNSUPPORTED' },
    { name: 'no ExecStart= at all', text: '[Service]\nType=simple', code: 'ERR_UNIT_UNSUPPORTED' },
    { name: 'an assignment before any section is invalid', text: 'ExecStart=/bin/a', code: 'ERR_UNIT_INVALID' },
    { name: 'a line that is not Key=value is invalid', text: '[Service]\nExecStart', code: 'ERR_UNIT_INVALID' },
  ]
  for (const c of badUnits) it(c.name, () => expect(errorCode(catching(() => unitExecStart(parseUnitFile(c.text))))).toBe(c.code))
})

function catching(fn: () => unknown): unknown {
  try {
    fn()
  } catch (err) {
    return err
  }
  throw new Error('expected a throw')
}
