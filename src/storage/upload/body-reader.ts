import type { IncomingMessage } from 'node:http'
import { UploadError } from './errors.ts'

/**
 * Reads a request body one chunk at a time, on demand (paused mode), so the next chunk is read
 * only after the previous one was handled: TCP backpressure does the rest. Not `for await`:
 * leaving such a loop early destroys the request and its socket, and a refusal must still be
 * answered on that socket.
 */
export class BodyReader {
  private wake: (() => void) | undefined
  private failed: Error | undefined
  private readonly kick = (): void => {
    const wake = this.wake
    this.wake = undefined
    wake?.()
  }
  private readonly onError = (err: Error): void => {
    this.failed ??= err
    this.kick()
  }

  /** `timedOut()` says whether the socket was closed for idleness (answered as ERR_UPLOAD_TIMEOUT). */
  constructor(private readonly req: IncomingMessage, private readonly timedOut: () => boolean) {
    req.on('readable', this.kick)
    req.on('end', this.kick)
    req.on('close', this.kick)
    req.on('error', this.onError)
  }

  /** The next chunk, or null at the end of the body. Throws ERR_UPLOAD_ABORTED / ERR_UPLOAD_TIMEOUT when the client is gone. */
  async next(): Promise<Buffer | null> {
    for (;;) {
      const chunk = this.req.read() as Buffer | null
      if (chunk !== null) return chunk
      if (this.req.readableEnded) return null
      if (this.failed !== undefined || this.req.destroyed) {
        if (this.timedOut()) throw new UploadError('ERR_UPLOAD_TIMEOUT', 'the client sent nothing for too long')
        throw new UploadError('ERR_UPLOAD_ABORTED', 'the client closed the connection before the body was complete', { cause: this.failed })
      }
      await new Promise<void>((resolve) => { this.wake = resolve })
    }
  }

  /** Detaches from the request (a later drain needs it out of paused mode). */
  dispose(): void {
    this.req.off('readable', this.kick)
    this.req.off('end', this.kick)
    this.req.off('close', this.kick)
    this.req.off('error', this.onError)
    this.kick()
  }
}
