import cliProgress from 'cli-progress';
import type { StepMemory } from '../core/memory.js';
import type { StepPlan } from '../plan/plan.js';
import type { LineSink } from '../options/log.js';

const REFRESH_MS = 200;

/**
 * Live bars on a TTY, fed by polling the lanes' shared counters: the native
 * loop never calls back into JS. Off the TTY (or with --quiet) it draws
 * nothing and log lines go straight to stderr.
 */
export class Progress implements LineSink {
  private readonly bars?: cliProgress.MultiBar;
  private bar?: cliProgress.SingleBar;
  private timer?: NodeJS.Timeout;
  private timed = false;

  constructor(enabled: boolean) {
    if (enabled) {
      this.bars = new cliProgress.MultiBar(
        {
          stream: process.stderr,
          format: ' {label} |{bar}| {percentage}% | {value}/{total} trials | {rate} trials/s | ETA {eta_formatted}',
          hideCursor: true,
          clearOnComplete: false,
          stopOnComplete: false,
          etaBuffer: 20,
          fps: 1000 / REFRESH_MS,
        },
        cliProgress.Presets.shades_classic,
      );
    }
  }

  write(line: string): void {
    if (this.bars) this.bars.log(line.endsWith('\n') ? line : `${line}\n`);
    else process.stderr.write(line);
  }

  /**
   * A bar per step: of trials, or with --duration (durationMs) of time, since
   * then the trial count has no total and only the clock says how far along it is.
   */
  startStep(step: StepPlan, memory: StepMemory, total: number, detail = '', durationMs?: number): void {
    if (!this.bars) return;
    const label = `${String(step.cores).padStart(4)} cores${step.oversubscribed ? '*' : ' '}${detail && ` ${detail}`}`;
    const timed = durationMs !== undefined;
    this.timed = timed;
    const bar = this.bars.create(timed ? Math.max(1, Math.round(durationMs / 1000)) : total, 0, { label, rate: '0', done: '0' }, timed
      ? { format: ' {label} |{bar}| {percentage}% | {value}/{total} s | {done} trials | {rate} trials/s | ETA {eta_formatted}' }
      : {});
    this.bar = bar;
    let lastDone = 0;
    let lastAt = process.hrtime.bigint();
    const startedAt = lastAt;
    this.timer = setInterval(() => {
      const done = memory.done();
      const now = process.hrtime.bigint();
      const rate = ((done - lastDone) * 1e9) / Number(now - lastAt || 1n);
      lastDone = done;
      lastAt = now;
      const payload = { rate: Math.round(rate).toLocaleString('en-US'), done: done.toLocaleString('en-US') };
      bar.update(timed ? Math.floor(Number(now - startedAt) / 1e9) : done, payload);
    }, REFRESH_MS);
  }

  endStep(done: number): void {
    if (this.timer) clearInterval(this.timer);
    if (this.timed) this.bar?.update(this.bar.getTotal(), { done: done.toLocaleString('en-US') });
    else this.bar?.update(done);
    this.bar = undefined;
    this.timer = undefined;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.bars?.stop();
  }
}
