// --peer: the controller's side of a two-host run. It plays the part of the
// lane pool for step.ts (runStep), so repeats, durations and skew sweeps and
// searches run over the control connection unchanged; serve's side of each
// step is merged into the step's tally here.
import { connect } from 'node:net';
import { RunError } from '../common/errors.js';
import type { Environment } from '../env/env.js';
import type { KernelCheck } from '../env/kernel.js';
import type { StepMemory } from '../core/memory.js';
import { native, PROBES } from '../core/native.js';
import type { Options } from '../options/options.js';
import type { StepPlan } from '../plan/plan.js';
import { Control, PROTOCOL, ROLE_CODES, type PeerStep, type RemoteRole, type ToController, type ToServe } from './control.js';
import { RemoteLanes, type RemoteLaneConfig } from './remote-lanes.js';
import { addCounts, type StepTally } from '../tally/tally.js';
import { toolInfo, type RemoteRecord } from '../env/env.js';
import type { StepSides } from '../tally/tally.js';

export type { RemoteRecord, StepSides };

/** How long one trial waits for the other side: far past any round trip, short enough that a lost peer frees a lane soon. */
export const REMOTE_WAIT_MS = 5000;
const PING_MS = 1000;
/** Serve tallies and reads its counters after the end order: a few seconds at most. */
const RESULT_WAIT_MS = 60_000;
const HELLO_WAIT_MS = 10_000;

/** What a two-host run records in environment.remote. */
export const serveRoleOf = (options: Pick<Options, 'resetSide'>): RemoteRole => (options.resetSide === 'server' ? 'resetter' : 'victim');

export class RemotePeer {
  private nextId = 1;
  private lanes: RemoteLanes | undefined;
  private lost: Error | undefined;
  private current: StepMemory | undefined;
  private readonly ping: NodeJS.Timeout;
  /** Serve's side of the step that ran last; merge() takes it. */
  private last: PeerStep | undefined;
  /** Where a step serve cut short is said (the run's log). */
  onWarn?: (message: string) => void;

  private constructor(private readonly control: Control<ToController, ToServe>, readonly record: RemoteRecord, maxLanes: number) {
    this.lanes = new RemoteLanes(maxLanes);
    control.onEnd = (why) => {
      this.lost = why;
      this.current?.stop();
    };
    control.onMessage = (m) => {
      // Serve's own bound ended the step: ours stop too, and the result says why.
      if (m.type === 'stopping') this.current?.stop();
      else if (m.type === 'error') {
        this.lost = new Error(`serve: ${m.message}`);
        this.current?.stop();
      }
    };
    // Serve ends the session when nothing comes for a while: the controller is gone.
    this.ping = setInterval(() => control.send({ type: 'ping' }), PING_MS);
    this.ping.unref();
  }

  /** Connects and authenticates; a wrong token or an unreachable serve is a RunError that says which. */
  static async open(peer: string, host: string, port: number, token: string, options: Options, maxLanes: number): Promise<RemotePeer> {
    const socket = connect({ host, port });
    socket.setNoDelay(true);
    const control = new Control<ToController, ToServe>(socket, 256 << 20);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', (e) => reject(new RunError(`--peer ${peer}: cannot connect: ${e.message}`)));
    });
    control.send({ type: 'hello', token, protocol: PROTOCOL, tool: `${toolInfo().name} ${toolInfo().version}` });
    let answer: ToController;
    try {
      answer = await control.next(['welcome', 'refused'], HELLO_WAIT_MS);
    } catch (err) {
      control.close();
      throw new RunError(`--peer ${peer}: serve did not answer: ${(err as Error).message}`);
    }
    if (answer.type === 'refused') {
      control.close();
      throw new RunError(`--peer ${peer}: serve refused this controller: ${answer.reason}`);
    }
    if (answer.type !== 'welcome' || answer.protocol !== PROTOCOL) {
      control.close();
      throw new RunError(`--peer ${peer}: serve speaks control protocol ${(answer as { protocol?: number }).protocol}, this controller ${PROTOCOL}`);
    }
    return new RemotePeer(control, { peer, serveRole: serveRoleOf(options), environment: answer.environment, ...(answer.cpus && { cpus: answer.cpus }) }, maxLanes);
  }

  /** One pass of a step (the LanePool contract): serve's side first, then ours; serve's result is kept for merge(). */
  async runStep(step: StepPlan, memory: StepMemory, options: Options, skewNs = 0): Promise<number[]> {
    const fail = (why: string): never => {
      throw new RunError(`${step.cores}-core step failed: ${why}; the steps before it are kept`);
    };
    if (this.lost) fail(`serve ${this.record.peer} is gone (${this.lost.message})`);
    const id = this.nextId++;
    const serveRole = this.record.serveRole;
    const order: ToServe = {
      type: 'step', id, lanes: step.lanes.length, trials: Number(memory.words[memory.layout.stepLimit / 8]),
      skewNs, probes: serveRole === 'victim' ? options.probes : [], role: serveRole, waitMs: REMOTE_WAIT_MS,
    };
    this.current = memory;
    this.last = undefined;
    try {
      this.control.send(order);
      let ready: Extract<ToController, { type: 'ready' }>;
      try {
        const m = await this.control.next(['ready', 'error'], HELLO_WAIT_MS);
        if (m.type === 'error') return fail(`serve refused the step: ${m.message}`);
        ready = m as typeof ready;
      } catch (err) {
        return fail(`serve ${this.record.peer} did not start its side (${(err as Error).message})`);
      }
      const platform = native().platform();
      const probes = serveRole === 'resetter' ? options.probes.reduce((bits, p) => bits | (1 << PROBES.indexOf(p)), 0) : 0;
      const configs: RemoteLaneConfig[] = step.lanes.map((lane, i) => ({
        family: options.family === 6 ? platform.AF_INET6 : platform.AF_INET,
        role: ROLE_CODES[serveRole === 'resetter' ? 'victim' : 'resetter'],
        cpu: lane.cpu, probes, skewNs, waitMs: REMOTE_WAIT_MS,
        peerAddr: ready.address, peerPort: ready.ports[i]!,
      }));
      if (this.lost) memory.stop();
      const failed = await this.lanes!.run(memory, configs);
      if (this.lost) return fail(`serve ${this.record.peer} went away during the step (${this.lost.message})`);
      this.control.send({ type: 'end', id });
      let result: ToController;
      try {
        result = await this.control.next(['result'], RESULT_WAIT_MS);
      } catch (err) {
        return fail(`serve ${this.record.peer} sent no result for the step (${(err as Error).message})`);
      }
      const r = result as Extract<ToController, { type: 'result' }>;
      this.last = { tally: r.tally, kernel: r.kernel, ...(r.stoppedBy !== undefined && { stoppedBy: r.stoppedBy }) };
      if (r.stoppedBy !== undefined) this.onWarn?.(`${step.cores}-core step: stopped early by ${r.stoppedBy}; its counts are what ran until then`);
      return failed;
    } finally {
      this.current = undefined;
    }
  }

  /**
   * Serve's side into the step's tally: the calls of both sides add up (the
   * victim closes are one side's, the resetting closes the other's); trials,
   * setup failures, latencies and the achieved skew are the victim side's, so
   * that every trial is a victim close result or a setup failure, as on one
   * host; the kernel check is the resetting side's, where the RSTs are sent.
   */
  merge(local: StepTally): StepTally {
    const peer = this.last;
    if (!peer) throw new RunError('serve sent no result for the step');
    const serveVictim = this.record.serveRole === 'victim';
    const victim = serveVictim ? peer.tally : local;
    const resetter = serveVictim ? local : peer.tally;
    const merged: StepTally = { ...local };
    merged.calls = structuredClone(victim.calls);
    for (const [name, o] of Object.entries(resetter.calls)) {
      const into = (merged.calls as Record<string, { ok: number; errors: Record<string, number> }>)[name] ??= { ok: 0, errors: {} };
      into.ok += o.ok;
      addCounts(into.errors, o.errors);
    }
    merged.trials = victim.trials;
    merged.setupFailures = victim.setupFailures;
    merged.setupFailed = victim.setupFailed;
    merged.strangers = local.strangers + peer.tally.strangers;
    merged.victimFd = victim.victimFd;
    merged.latency = victim.latency;
    if (victim.achievedSkew) merged.achievedSkew = victim.achievedSkew;
    else delete merged.achievedSkew;
    if (victim.firstCloseErrorNs) merged.firstCloseErrorNs = victim.firstCloseErrorNs;
    merged.lanes = local.lanes.map((lane, i) => {
      const other = peer.tally.lanes[i];
      return serveVictim ? lane : { ...lane, resetCpu: other?.cpu ?? -1, resetCpusSeen: other?.cpusSeen.length ? other.cpusSeen : other?.resetCpusSeen ?? [] };
    });
    const localKernel = local.kernel;
    if (!serveVictim) merged.kernel = peer.kernel;
    const serveRole = this.record.serveRole;
    const sides: StepSides = {
      controller: { role: serveVictim ? 'resetter' : 'victim', trials: local.trials, setupFailures: local.setupFailures, setupFailed: local.setupFailed, ...(localKernel && { kernel: localKernel }) },
      serve: { role: serveRole, trials: peer.tally.trials, setupFailures: peer.tally.setupFailures, setupFailed: peer.tally.setupFailed, strangers: peer.tally.strangers, kernel: peer.kernel, ...(peer.stoppedBy !== undefined && { stoppedBy: peer.stoppedBy }) },
    };
    merged.sides = sides;
    return merged;
  }

  async close(): Promise<void> {
    clearInterval(this.ping);
    if (!this.control.closed) this.control.send({ type: 'bye' });
    this.control.close();
    await this.lanes?.close();
    this.lanes = undefined;
  }
}
