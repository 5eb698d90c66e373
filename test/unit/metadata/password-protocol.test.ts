import { describe, expect, it } from 'vitest'
import { passwordAction } from '../../../src/router/services/metadata/password-protocol.ts'

describe('passwordAction', () => {
  it('reads the DomU_Request header the guest scripts send', () => {
    expect(passwordAction('GET', 'send_my_password')).toEqual({ kind: 'send' })
    expect(passwordAction('GET', ' saved_password ')).toEqual({ kind: 'acknowledge' })
    expect(passwordAction('GET', ['send_my_password', 'saved_password'])).toEqual({ kind: 'send' })
  })

  it('answers anything else bad_request, including a save from a guest', () => {
    expect(passwordAction('GET', undefined)).toEqual({ kind: 'bad' })
    expect(passwordAction('GET', 'save_password')).toEqual({ kind: 'bad' })
    expect(passwordAction('POST', 'send_my_password')).toEqual({ kind: 'bad' })
    expect(passwordAction('GET', 'SEND_MY_PASSWORD')).toEqual({ kind: 'bad' })
  })
})
