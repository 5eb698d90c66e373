import { ApplianceError } from '../../core/errors.ts'

/**
 * `p`, or ERR_STORE_TIMEOUT once `ms` have passed: a store probe or a system check that hangs
 * (a dead NFS server, a black-holed address) answers "failed" instead of holding its caller.
 */
export function withDeadline<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new ApplianceError('ERR_STORE_TIMEOUT', `${what} took longer than ${ms} ms`)), ms)
  })
  return Promise.race([p, late]).finally(() => clearTimeout(timer))
}
