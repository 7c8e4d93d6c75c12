import type { Layout } from './native.js';

/**
 * One step's shared memory: the step header the lanes claim work from, then
 * one counters block per lane. Native code writes it; the main thread only
 * reads it (progress, final tally) and writes the stop word.
 */
export class StepMemory {
  readonly words: BigUint64Array;

  constructor(readonly layout: Layout, readonly lanes: number, limit: number) {
    const bytes = layout.stepBytes + lanes * layout.laneBytes;
    this.words = new BigUint64Array(new SharedArrayBuffer(bytes));
    this.words[layout.stepLimit / 8] = BigInt(limit);
    this.words[layout.stepLanes / 8] = BigInt(lanes);
  }

  /**
   * A step's memory as close-stress-core journals it: its non-zero words by
   * index (values beyond 2^53 as decimal strings), the rest zero.
   */
  static fromWords(layout: Layout, lanes: number, nonzero: ReadonlyArray<readonly [number, number | string]>): StepMemory {
    const memory = new StepMemory(layout, lanes, 0);
    memory.words.fill(0n);
    for (const [index, value] of nonzero) {
      if (!Number.isInteger(index) || index < 0 || index >= memory.words.length) throw new Error(`word ${index} is outside a ${lanes}-lane step`);
      if (!/^[0-9]+$/.test(String(value))) throw new Error(`word ${index} holds ${JSON.stringify(value)}, not a counter`);
      memory.words[index] = BigInt(value);
    }
    return memory;
  }

  laneOffset(lane: number): number {
    return this.layout.stepBytes + lane * this.layout.laneBytes;
  }

  /** A lane counter by byte offset within its block, read as a concurrent reader must. */
  read(lane: number, fieldOffset: number, index = 0): number {
    return Number(Atomics.load(this.words, (this.laneOffset(lane) + fieldOffset) / 8 + index));
  }

  /** Finished trials so far across lanes: what progress shows. */
  done(): number {
    let sum = 0;
    for (let i = 0; i < this.lanes; i++) sum += this.read(i, this.layout.lane.done);
    return sum;
  }

  /** Monotonic ns when the first lane passed the start gate; 0 when none did. */
  firstStartNs(): bigint {
    let first = 0n;
    for (let i = 0; i < this.lanes; i++) {
      const t = Atomics.load(this.words, (this.laneOffset(i) + this.layout.lane.start_ns) / 8);
      if (t > 0n && (first === 0n || t < first)) first = t;
    }
    return first;
  }

  /** Ends the step early: lanes finish the trial in hand and return. */
  stop(): void {
    Atomics.store(this.words, this.layout.stepStop / 8, 1n);
  }

  get stopped(): boolean {
    return Atomics.load(this.words, this.layout.stepStop / 8) !== 0n;
  }
}
