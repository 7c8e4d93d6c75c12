// The two-host control connection: one JSON object a line, both ways. The
// protocol is small on purpose: the controller says what to run (a step's
// bounded parameters), serve runs only that, and says how it went.
import { isIP, type Socket } from 'node:net';
import { UsageError } from '../common/errors.js';
import { timingSafeEqual, randomBytes } from 'node:crypto';
import type { Environment } from '../env/env.js';
import type { KernelCheck } from '../env/kernel.js';
import type { StepTally } from '../tally/tally.js';
import type { RemoteRole } from '../core/native.js';

// Kept beside the other values the core's lanes take (core/native.ts); said here too for the protocol's readers.
export { ROLE_CODES, type RemoteRole } from '../core/native.js';

/** Bumped when a message changes meaning: the two sides must speak the same one. */
export const PROTOCOL = 1;


export interface StepOrder {
  type: 'step';
  id: number;
  lanes: number;
  trials: number;
  skewNs: number;
  /** Probe names serve's victim lanes run (only when serve is the victim). */
  probes: string[];
  role: RemoteRole;
  /** How long one trial waits for the other side before it is a setup failure. */
  waitMs: number;
}

export type ToServe =
  | { type: 'hello'; token: string; protocol: number; tool: string }
  | StepOrder
  | { type: 'end'; id: number }
  | { type: 'ping' }
  | { type: 'bye' };

/** Serve's side of one step, tallied with its own OS's errno names. */
export interface PeerStep {
  tally: StepTally;
  kernel: KernelCheck;
  /** Set when serve ended the step itself: its time bound passed. */
  stoppedBy?: string;
}

export type ToController =
  | { type: 'welcome'; protocol: number; environment: Environment; cpus?: number[] }
  | { type: 'refused'; reason: string }
  | { type: 'ready'; id: number; address: string; ports: number[] }
  /** Serve ended the step itself (its time bound): the controller stops its lanes, then asks for the result as usual. */
  | { type: 'stopping'; id: number; reason: string }
  | ({ type: 'result'; id: number } & PeerStep)
  | { type: 'error'; message: string };

export const newToken = (): string => randomBytes(16).toString('hex');

/** Constant-time, so the answer's timing says nothing about how much of a guess was right. */
export function tokenMatches(given: unknown, token: string): boolean {
  if (typeof given !== 'string') return false;
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * Lines in, objects out. `maxLine` bounds what a peer can make us buffer
 * (serve keeps it small: orders are short); a longer line ends the connection.
 */
export class Control<In extends { type: string }, Out> {
  private buffered = '';
  private readonly waiting: Array<{ types: string[]; resolve(m: In): void; reject(e: Error): void; timer?: NodeJS.Timeout }> = [];
  private readonly queue: In[] = [];
  private ended: Error | undefined;
  onMessage?: (m: In) => void;
  onEnd?: (why: Error) => void;

  constructor(readonly socket: Socket, private readonly maxLine: number) {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => this.take(chunk));
    socket.on('error', (err) => this.end(err));
    socket.on('close', () => this.end(new Error('the connection closed')));
  }

  get closed(): boolean {
    return this.ended !== undefined;
  }

  send(message: Out): void {
    if (!this.ended && !this.socket.destroyed) this.socket.write(`${JSON.stringify(message)}\n`);
  }

  /** The next message of one of these types (others go to onMessage); rejects when the connection ends or time runs out. */
  next(types: string[], timeoutMs: number): Promise<In> {
    const i = this.queue.findIndex((m) => types.includes(m.type));
    if (i >= 0) return Promise.resolve(this.queue.splice(i, 1)[0]!);
    if (this.ended) return Promise.reject(this.ended);
    return new Promise((resolve, reject) => {
      const w: (typeof this.waiting)[number] = { types, resolve, reject };
      w.timer = setTimeout(() => {
        this.waiting.splice(this.waiting.indexOf(w), 1);
        reject(new Error(`no ${types.join(' or ')} within ${timeoutMs / 1000} s`));
      }, timeoutMs);
      this.waiting.push(w);
    });
  }

  close(): void {
    this.socket.end();
    this.socket.destroySoon?.();
  }

  private take(chunk: string): void {
    this.buffered += chunk;
    for (let nl = this.buffered.indexOf('\n'); nl >= 0; nl = this.buffered.indexOf('\n')) {
      const line = this.buffered.slice(0, nl);
      this.buffered = this.buffered.slice(nl + 1);
      let m: In;
      try {
        m = JSON.parse(line) as In;
        if (typeof m !== 'object' || m === null || typeof m.type !== 'string') throw new Error('no type');
      } catch {
        this.fail(new Error('a message that is not a JSON object with a type'));
        return;
      }
      this.deliver(m);
    }
    if (this.buffered.length > this.maxLine) this.fail(new Error(`a message longer than ${this.maxLine} bytes`));
  }

  private deliver(m: In): void {
    const w = this.waiting.find((x) => x.types.includes(m.type));
    if (w) {
      clearTimeout(w.timer);
      this.waiting.splice(this.waiting.indexOf(w), 1);
      w.resolve(m);
    } else if (this.onMessage) this.onMessage(m);
    else this.queue.push(m);
  }

  private fail(err: Error): void {
    this.end(err);
    this.socket.destroy();
  }

  private end(err: Error): void {
    if (this.ended) return;
    this.ended = err;
    for (const w of this.waiting.splice(0)) {
      clearTimeout(w.timer);
      w.reject(err);
    }
    this.onEnd?.(err);
  }
}

/** `198.18.0.1:7000`, `[2001:2::1]:7000`: a numeric address (node:net's isIP decides) and a port (0 = any, where allowed). */
export function parseHostPort(text: string, flag: string, allowZero: boolean): { host: string; port: number; family: 4 | 6 } {
  const m = /^\[([^\]]+)\]:([0-9]+)$/.exec(text) ?? /^([^:\[\]]+):([0-9]+)$/.exec(text);
  const host = m?.[1] ?? '';
  const port = m ? Number(m[2]) : NaN;
  const family = isIP(host);
  const bracketed = text.startsWith('[');
  if (!m || family === 0 || (family === 6) !== bracketed || !(port <= 65535) || (!allowZero && port === 0)) {
    throw new UsageError(`${flag} takes a numeric address and port (198.18.0.1:7000 or [2001:2::1]:7000${allowZero ? '; port 0: any' : ''}), not '${text}'`);
  }
  return { host, port, family: family as 4 | 6 };
}

/** An IPv4 peer seen through a dual-stack IPv6 socket is an IPv4 peer. */
export const plainAddress = (a: string): string => (a.startsWith('::ffff:') && a.includes('.') ? a.slice(7) : a);
