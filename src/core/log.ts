import { pino, type Logger, type DestinationStream } from 'pino'

/**
 * The one root logger of a daemon (its name is in every line). Components take
 * `log.child({ component })`; messages are constant strings and data goes in fields. Secrets
 * never reach the log (redact).
 */
export function createLogger(daemon: string, options: { level?: string; destination?: DestinationStream } = {}): Logger {
  const opts = {
    level: options.level ?? process.env['SVM_LOG_LEVEL'] ?? 'info',
    base: { daemon },
    redact: {
      paths: ['token', 'headers.authorization', 'req.headers.authorization', 'password', '*.password', 'body.password', 'req.body.password', 'key', 'tls.key', '*.key', 'body.key', 'req.body.key'],
      censor: '[redacted]',
    },
  }
  return options.destination ? pino(opts, options.destination) : pino(opts)
}

export type { Logger }
