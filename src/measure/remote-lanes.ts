// The lanes of a two-host step, on either side: worker threads that each run
// one lane's side in native code (remote.c), the same way the local pool
// runs cs_run_lane.
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import { native } from '../core/native.js';
import type { StepMemory } from '../core/memory.js';

/** The lane config cs_run_remote_lane reads (native/src/binding-remote.c). */
export interface RemoteLaneConfig {
  family: number;
  /** ROLE_CODES: 0 resetter, 1 victim. */
  role: number;
  cpu: number;
  probes: number;
  skewNs: number;
  waitMs: number;
  /** serve: the lane's listener (the lane closes it), and the only host whose connections are trials. */
  listenFd?: number;
  acceptFrom?: string;
  /** The controller: serve's lane listener. */
  peerAddr?: string;
  peerPort?: number;
}

export interface RemoteLaneTask {
  memory: BigUint64Array;
  laneOffset: number;
  config: RemoteLaneConfig;
}

export interface RemoteBinding {
  remoteListen(family: number, address: string): { fd: number; port: number };
  runRemoteLane(memory: BigUint64Array, stepOffset: number, laneOffset: number, config: RemoteLaneConfig): boolean;
  closeFd(fd: number): void;
}

export const remoteNative = (): RemoteBinding => native() as unknown as RemoteBinding;

export class RemoteLanes {
  private readonly piscina: Piscina;

  constructor(readonly size: number) {
    this.piscina = new Piscina({
      filename: fileURLToPath(new URL('./remote-worker.js', import.meta.url)),
      minThreads: size,
      maxThreads: size,
      concurrentTasksPerWorker: 1,
      idleTimeout: Number.MAX_SAFE_INTEGER,
      maxQueue: size,
    });
  }

  /** Runs every lane to its end; the lanes that could not start. A worker that dies stops the others, then throws. */
  async run(memory: StepMemory, configs: RemoteLaneConfig[]): Promise<number[]> {
    const results = await Promise.allSettled(configs.map((config, i) =>
      (this.piscina.run({ memory: memory.words, laneOffset: memory.laneOffset(i), config } satisfies RemoteLaneTask) as Promise<boolean>)
        .catch((err: unknown) => { memory.stop(); throw err; })));
    const failed: number[] = [];
    for (const [i, r] of results.entries()) {
      if (r.status === 'rejected') throw new Error(`the worker for lane ${i} died: ${(r.reason as Error)?.message ?? String(r.reason)}`);
      if (!r.value) failed.push(i);
    }
    return failed;
  }

  async close(): Promise<void> {
    await this.piscina.destroy();
  }
}
