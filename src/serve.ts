// `close-stress serve`: the other host's side of a two-host run. It listens
// only where --listen says, takes one controller that knows the token it
// printed, runs only the steps that controller orders (their bounded
// parameters: lanes, trials, skew, probes, role), each bounded in count and
// time, and exits when the controller goes.
import { createServer, type Socket } from 'node:net';
import type { Logger } from 'pino';
import { captureEnvironment } from './env/env.js';
import { RunError, UsageError } from './common/errors.js';
import { kernelCheck, readCounters } from './env/kernel.js';
import { parseCpuFlag } from './env/topology.js';
import { createLogger } from './options/log.js';
import { StepMemory } from './core/memory.js';
import { native, PROBES } from './core/native.js';
import { LOG_LEVELS, MAX_CORES, MAX_SKEW_NS, parseChoice, parseDuration, type LogLevel } from './options/options.js';
import type { StepPlan } from './plan/plan.js';
import { checkOutputPath } from './result/result.js';
import {
  Control, newToken, parseHostPort, plainAddress, PROTOCOL, ROLE_CODES, tokenMatches,
  type StepOrder, type ToController, type ToServe,
} from './measure/control.js';
import { RemoteLanes, remoteNative, type RemoteLaneConfig } from './measure/remote-lanes.js';
import { tallyStep } from './tally/tally.js';

export interface RawServeOptions {
  listen: string;
  stepTimeout?: string;
  cpus?: string;
  logFile?: string;
  logLevel?: string;
}

const DEFAULT_STEP_TIMEOUT_MS = 10 * 60_000;
/** A connection must authenticate this fast; orders are short lines. */
const HELLO_MS = 5000;
const MAX_ORDER_BYTES = 4096;
/** The controller pings every second: this long without a word, it is gone. */
const IDLE_MS = 15_000;
const MAX_WAIT_MS = 60_000;

/** Why an order cannot be run, or undefined: serve runs nothing outside these bounds. */
export function checkOrder(o: StepOrder, family: 4 | 6): string | undefined {
  const int = (v: unknown, lo: number, hi: number) => Number.isInteger(v) && (v as number) >= lo && (v as number) <= hi;
  if (!int(o.id, 1, Number.MAX_SAFE_INTEGER)) return 'id must be a positive integer';
  if (!int(o.lanes, 1, MAX_CORES)) return `lanes must be 1..${MAX_CORES}`;
  if (!int(o.trials, 1, Number.MAX_SAFE_INTEGER)) return 'trials must be a positive integer';
  if (!int(o.skewNs, -MAX_SKEW_NS, MAX_SKEW_NS)) return `skewNs must be an integer within ${MAX_SKEW_NS} ns either way`;
  if (!int(o.waitMs, 1, MAX_WAIT_MS)) return `waitMs must be 1..${MAX_WAIT_MS}`;
  if (!(o.role in ROLE_CODES)) return 'role must be resetter or victim';
  if (!Array.isArray(o.probes) || o.probes.some((p) => p === 'accept' || !(PROBES as readonly string[]).includes(p))) return `probes must be among ${PROBES.filter((p) => p !== 'accept').join(', ')}`;
  if (o.role === 'resetter' && o.probes.length > 0) return 'probes run on the victim side only';
  void family;
  return undefined;
}

/** --cpus: this host's operator names where serve's lanes run; the controller cannot (its plan is its own host's). */
function serveCpus(text: string, platform: { canPin: boolean; allowedCpus: number[] }): number[] {
  const cpus = parseCpuFlag(text, '--cpus', MAX_CORES);
  if (!platform.canPin) throw new UsageError('--cpus: this OS cannot pin threads to CPUs (serve\'s lanes float here)');
  const outside = cpus.filter((c) => !platform.allowedCpus.includes(c));
  if (outside.length) throw new UsageError(`--cpus: CPU ${outside.join(', ')} is not one this process may run on (allowed: ${platform.allowedCpus.join(',')})`);
  return cpus;
}

export async function serveCommand(raw: RawServeOptions): Promise<number> {
  const listen = parseHostPort(raw.listen, '--listen', true);
  const stepTimeoutMs = raw.stepTimeout === undefined ? DEFAULT_STEP_TIMEOUT_MS : parseDuration(raw.stepTimeout, '--step-timeout');
  const level: LogLevel = raw.logLevel === undefined ? 'info' : parseChoice(raw.logLevel, '--log-level', LOG_LEVELS);
  if (raw.logFile !== undefined) checkOutputPath(raw.logFile, '--log-file', true);
  const log = createLogger(level, raw.logFile, process.stderr);
  const platform = native().platform();
  const cpus = raw.cpus === undefined ? undefined : serveCpus(raw.cpus, platform);
  const token = newToken();
  const server = createServer({ noDelay: true });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e) => reject(new RunError(`--listen ${raw.listen}: ${e.message}`)));
    server.listen({ host: listen.host, port: listen.port, exclusive: true }, resolve);
  });
  const bound = server.address() as { address: string; port: number };
  const shown = listen.family === 6 ? `[${bound.address}]:${bound.port}` : `${bound.address}:${bound.port}`;
  // stdout carries what the user copies to the other host; the log goes to stderr.
  process.stdout.write(`close-stress serve: listening on ${shown}\ntoken: ${token}\n` +
    `on the other host: close-stress --peer ${shown} --token ${token} [run options]\n`);
  const session = new ServeSession(log, token, stepTimeoutMs, platform, cpus);
  server.on('connection', (socket) => session.connection(socket));
  const onSignal = (name: string) => () => session.end(new Error(`${name} received`), name === 'SIGINT' ? 130 : 143);
  const handlers = { SIGINT: onSignal('SIGINT'), SIGTERM: onSignal('SIGTERM') };
  process.on('SIGINT', handlers.SIGINT).on('SIGTERM', handlers.SIGTERM);
  try {
    return await session.done;
  } finally {
    process.off('SIGINT', handlers.SIGINT).off('SIGTERM', handlers.SIGTERM);
    server.close();
    await session.close();
  }
}

class ServeSession {
  private controller: Control<ToServe, ToController> | undefined;
  private from = '';
  private refused = 0;
  private steps = 0;
  private bye = false;
  private current: { id: number; memory: StepMemory } | undefined;
  private running: Promise<void> | undefined;
  private lanes: RemoteLanes | undefined;
  private resolveDone!: (code: number) => void;
  readonly done = new Promise<number>((r) => { this.resolveDone = r; });
  private finished = false;

  constructor(private readonly log: Logger, private readonly token: string, private readonly stepTimeoutMs: number,
    private readonly platform: ReturnType<typeof native>['platform'] extends () => infer P ? P : never,
    private readonly cpus: number[] | undefined) {}

  connection(socket: Socket): void {
    const from = `${socket.remoteAddress}:${socket.remotePort}`;
    const control = new Control<ToServe, ToController>(socket, MAX_ORDER_BYTES);
    socket.setTimeout(HELLO_MS, () => socket.destroy());
    control.next(['hello', 'step', 'end', 'ping', 'bye'], HELLO_MS).then((m) => {
      if (this.controller || this.finished) return this.refuse(control, from, 'serve already has its controller');
      if (m.type !== 'hello') return this.refuse(control, from, 'no hello first');
      if (!tokenMatches(m.token, this.token)) return this.refuse(control, from, 'wrong token');
      if (m.protocol !== PROTOCOL) return this.refuse(control, from, `control protocol ${m.protocol}, serve speaks ${PROTOCOL}`);
      this.accept(control, socket, from);
    }, () => this.refuse(control, from, 'no hello within 5 s'));
  }

  private refuse(control: Control<ToServe, ToController>, from: string, reason: string): void {
    this.refused++;
    this.log.warn({ event: 'refused', from, reason, refused: this.refused }, `refused ${from}: ${reason} (${this.refused} refused so far)`);
    control.send({ type: 'refused', reason });
    control.close();
  }

  private accept(control: Control<ToServe, ToController>, socket: Socket, from: string): void {
    this.controller = control;
    this.from = plainAddress(socket.remoteAddress ?? '');
    socket.setTimeout(IDLE_MS, () => socket.destroy(new Error(`nothing from the controller for ${IDLE_MS / 1000} s`)));
    socket.setKeepAlive(true, 1000);
    this.log.info({ event: 'controller', from }, `controller ${from} authenticated`);
    control.send({ type: 'welcome', protocol: PROTOCOL, environment: captureEnvironment(this.platform), ...(this.cpus && { cpus: this.cpus }) });
    const local = plainAddress(socket.localAddress ?? '');
    control.onEnd = (why) => this.end(why, this.bye ? 0 : 1);
    control.onMessage = (m) => {
      if (m.type === 'ping') return;
      if (m.type === 'bye') {
        this.bye = true;
        control.close();
      } else if (m.type === 'end') {
        if (this.current?.id === m.id) this.current.memory.stop();
      } else if (m.type === 'step') {
        if (this.running) return this.error('a step is already running');
        const why = checkOrder(m, local.includes(':') ? 6 : 4);
        if (why) return this.error(`step refused: ${why}`);
        this.running = this.runStep(m, local).catch((err: Error) => this.error(err.message)).finally(() => { this.running = undefined; });
      } else this.error(`unexpected ${m.type}`);
    };
  }

  private error(message: string): void {
    this.log.warn({ event: 'order-refused', message }, message);
    this.controller?.send({ type: 'error', message });
  }

  private async runStep(order: StepOrder, local: string): Promise<void> {
    const family = local.includes(':') ? this.platform.AF_INET6 : this.platform.AF_INET;
    const layout = native().layout();
    const memory = new StepMemory(layout, order.lanes, order.trials);
    const listeners: Array<{ fd: number; port: number }> = [];
    try {
      for (let i = 0; i < order.lanes; i++) listeners.push(remoteNative().remoteListen(family, local));
    } catch (err) {
      for (const l of listeners) remoteNative().closeFd(l.fd);
      throw new Error(`cannot open the lanes' listeners on ${local}: ${(err as Error).message}`);
    }
    const probes = order.probes.reduce((bits, p) => bits | (1 << PROBES.indexOf(p as (typeof PROBES)[number])), 0);
    // Without --cpus serve's lanes float: the controller's plan places its own lanes, and this host's CPUs are not its to name.
    const cpuOf = (i: number): number => (this.cpus ? this.cpus[i % this.cpus.length]! : -1);
    const configs: RemoteLaneConfig[] = listeners.map((l, i) => ({
      family, role: ROLE_CODES[order.role], cpu: cpuOf(i), probes, skewNs: order.skewNs, waitMs: order.waitMs,
      listenFd: l.fd, acceptFrom: this.from,
    }));
    if (!this.lanes || this.lanes.size < order.lanes) {
      await this.lanes?.close();
      this.lanes = new RemoteLanes(order.lanes);
    }
    this.current = { id: order.id, memory };
    let stoppedBy: string | undefined;
    const timer = setTimeout(() => {
      stoppedBy = `serve's --step-timeout (${this.stepTimeoutMs} ms)`;
      this.log.warn({ event: 'step-timeout', id: order.id }, `step ${order.id}: stopped at serve's --step-timeout`);
      memory.stop();
      this.controller?.send({ type: 'stopping', id: order.id, reason: stoppedBy });
    }, this.stepTimeoutMs);
    const before = readCounters();
    try {
      const running = this.lanes.run(memory, configs);
      this.controller?.send({ type: 'ready', id: order.id, address: local, ports: listeners.map((l) => l.port) });
      await running;
    } finally {
      clearTimeout(timer);
      this.current = undefined;
    }
    const after = readCounters();
    const plan: StepPlan = {
      cores: order.lanes, lanes: configs.map((c) => ({ cpu: c.cpu, resetCpu: -1 })), threads: order.lanes,
      oversubscribed: order.lanes > this.platform.allowedCpus.length, lanesPerCore: 1,
    };
    const tally = tallyStep(plan, memory, this.platform, order.probes, order.role === 'victim');
    const kernel = kernelCheck(before, after, 'machine');
    this.steps++;
    this.log.info({ event: 'step', id: order.id, role: order.role, trials: tally.trials, resetClose: tally.calls.resetClose, setupFailed: tally.setupFailed }, `step ${order.id}: ${tally.trials} trials as the ${order.role}`);
    this.controller?.send({ type: 'result', id: order.id, tally, kernel, ...(stoppedBy !== undefined && { stoppedBy }) });
  }

  /** The controller went (or a signal came): stop what runs, and finish with `code`. */
  end(why: Error, code: number): void {
    if (this.finished) return;
    this.finished = true;
    this.current?.memory.stop();
    const gone = code === 0 ? 'the controller said goodbye' : `the controller went away (${why.message})`;
    this.log[code === 0 ? 'info' : 'warn']({ event: 'end', steps: this.steps, refused: this.refused, reason: why.message }, `${gone}: ${this.steps} steps served, ${this.refused} connections refused; exiting`);
    const running = this.running ?? Promise.resolve();
    void running.finally(() => this.resolveDone(code));
  }

  async close(): Promise<void> {
    this.controller?.close();
    await this.lanes?.close();
  }
}
