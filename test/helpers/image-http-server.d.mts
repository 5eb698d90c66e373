
/** What a path does wrong (see image-http-server.mjs); every field is also a query parameter. */
export interface Behaviour {
  drop?: number
  stall?: number
  hang?: boolean
  times?: number
  status?: number
  redirect?: string
  redirectStatus?: number
  ignoreRange?: boolean
  badRange?: boolean
  auth?: string
  rate?: number
  etag?: 'changing' | 'none' | 'weak'
  validators?: 'none'
  chunked?: boolean
}

export interface LoggedRequest {
  method: string | undefined
  url: string | undefined
  /** Requests of this URL so far, this one included. */
  count: number
  range: string | undefined
  ifRange: string | undefined
  authorization: string | undefined
  /** The status answered (-1: hung, no answer). */
  status: number
}

export interface ImageServerOptions {
  dir: string
  port?: number
  host?: string
  tls?: { key: string | Buffer; cert: string | Buffer }
  behaviours?: Record<string, Behaviour>
}

export interface ImageServer {
  host: string
  port: number
  /** `http://127.0.0.1:port` (https with tls). */
  origin: string
  requests: LoggedRequest[]
  url(path: string, behaviour?: Behaviour): string
  setBehaviour(path: string, behaviour: Behaviour | undefined): void
  hits(path: string): LoggedRequest[]
  reset(): void
  close(): Promise<void>
}

export interface ProxyRequest {
  method: string | undefined
  target: string | undefined
  proxyAuthorization: string | undefined
  status: number
}

export interface ForwardProxy {
  host: string
  port: number
  url: string
  requests: ProxyRequest[]
  close(): Promise<void>
}

export function behaviourQuery(behaviour: Behaviour | undefined): string
export function startImageServer(options: ImageServerOptions): Promise<ImageServer>
export function startForwardProxy(options?: { port?: number; host?: string; auth?: string }): Promise<ForwardProxy>
