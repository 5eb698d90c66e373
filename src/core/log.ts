import { pino, type Logger, type DestinationStream } from 'pino'

/**
 * The one root logger. Components take `log.child({ component })`; messages are constant
 * strings and data goes in fields. Secrets never reach the log (redact).
 */
export function createLogger(options: { level?: string; destination?: DestinationStream } = {}): Logger {
  const opts = {
    level: options.level ?? process.env['SVM_LOG_LEVEL'] ?? 'info',
    base: { daemon: 'routerd' },
    redact: { paths: ['token', 'headers.authorization', 'req.headers.authorization'], censor: '[redacted]' },
  }
  return options.destination ? pino(opts, options.destination) : pino(opts)
}

export type { Logger }
