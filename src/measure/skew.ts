import { fmtAskedSkew } from '../common/format.js';
import type { SkewSpec } from '../options/options.js';
import type { StepPlan } from '../plan/plan.js';
import { measure, type Measurement, type StepContext } from './step.js';
import { outsidePosix } from '../common/posix.js';
import { failedShare, mergeTallies, skewPoint, sumCounts, type Outcomes, type SkewPoint } from '../tally/tally.js';

/**
 * The auto search's coarse grid: log-spaced magnitudes from 100 ns to 100 us
 * (either sign cross-thread), since the close() window sits anywhere from the
 * ~1.5 us of Linux's shutdown() window to the tens of microseconds a queued
 * RST waits for FreeBSD's netisr thread.
 */
export const SEARCH_MAGNITUDES_NS = [100, 200, 500, 1000, 2000, 5000, 10_000, 20_000, 50_000, 100_000];

export function searchGrid(sameThread: boolean): number[] {
  const pos = [0, ...SEARCH_MAGNITUDES_NS];
  return sameThread ? pos : [...SEARCH_MAGNITUDES_NS.map((ns) => -ns).reverse(), ...pos];
}

/**
 * For the proxy: the window's edge lies where the failure share crosses one
 * half between two grid points (on a log grid it can fall between 1 and 2 us):
 * points a quarter, half and three quarters of the way across the steepest crossing.
 */
export function refineEdge(shares: Array<[number, number]>): number[] {
  let edge: [number, number] | undefined;
  let steepest = -1;
  for (let i = 1; i < shares.length; i++) {
    const [a, pa] = shares[i - 1]!;
    const [b, pb] = shares[i]!;
    if ((pa - 0.5) * (pb - 0.5) <= 0 && pa !== pb && Math.abs(pb - pa) > steepest) {
      steepest = Math.abs(pb - pa);
      edge = [a, b];
    }
  }
  if (!edge) return [];
  const [a, b] = edge;
  return [0.25, 0.5, 0.75].map((f) => Math.round(a + (b - a) * f));
}

/** Points between the best one and its grid neighbours: halfway either side and a quarter of the way. */
export function refineAround(bestNs: number, grid: number[]): number[] {
  const i = grid.indexOf(bestNs);
  const out: number[] = [];
  for (const other of [grid[i - 1], grid[i + 1]]) {
    if (other === undefined) continue;
    for (const f of [0.25, 0.5]) out.push(Math.round(bestNs + (other - bestNs) * f));
  }
  return out.sort((a, b) => a - b);
}

export function sweepPoints(fromNs: number, toNs: number, stepNs: number): number[] {
  const points: number[] = [];
  for (let i = 0; fromNs + i * stepNs <= toNs; i++) points.push(fromNs + i * stepNs);
  return points;
}


const point = (askedNs: number, m: Measurement, search = false): SkewPoint => skewPoint(askedNs, m.tally, search);

/**
 * The call whose outcome defines the window: the first probe that runs right
 * after the barrier (its result flips when the RST wins), else the close.
 */
export function windowCall(probes: readonly string[]): string {
  return probes.find((p) => p !== 'accept') ?? 'close';
}

/** Outcomes auto aims at: the --fail-on list (bare errnos are the victim close()'s). */
export type SkewTarget = ReadonlyArray<{ call: string; errno: string }>;

/** The target as the report and the JSON name it. */
export function targetName(target?: SkewTarget): string {
  return target && target.length > 0 ? `--fail-on ${target.map((f) => `${f.call}:${f.errno}`).join(',')}` : 'close() errors outside POSIX';
}

/**
 * What auto maximises, per second of the point's time: the --fail-on outcomes
 * when they are named (what the user wants caught), else victim close() errors
 * outside POSIX.
 */
export function hitsPerSec(calls: Record<string, Outcomes>, elapsedNs: number, target?: SkewTarget): number {
  const count = target && target.length > 0
    ? target.reduce((a, f) => a + (calls[f.call]?.errors[f.errno] ?? 0), 0)
    : sumCounts(outsidePosix('close', calls.close?.errors ?? {}));
  return elapsedNs > 0 ? count / (elapsedNs / 1e9) : 0;
}

/** How mixed a point's outcomes are: p(1-p) of the window call failing, 0.25 at best. */
export function mixedness(calls: Record<string, Outcomes>, call: string): number {
  const p = failedShare(calls[call]);
  return p === undefined ? 0 : p * (1 - p);
}

function combine(parts: Measurement[]): Measurement {
  return { tally: mergeTallies(parts.map((p) => p.tally)), failedLanes: parts.flatMap((p) => p.failedLanes) };
}

/** Runs a step as --skew asks: at one skew, over a sweep, or at the window an auto search finds. */
export async function measureWithSkew(ctx: StepContext, step: StepPlan, spec: SkewSpec): Promise<Measurement> {
  const n = ctx.options.iterations;
  if (spec.kind === 'none') return measure(ctx, step, n);
  if (spec.kind === 'fixed') {
    const m = await measure(ctx, step, n, spec.ns, `skew ${fmtAskedSkew(spec.ns)}`);
    m.tally.skew = { mode: 'fixed', points: [point(spec.ns, m)] };
    return m;
  }
  const runPoints = async (asked: number[], trials: number, search: boolean) => {
    const done: Array<{ ns: number; m: Measurement }> = [];
    for (const ns of asked) {
      if (ctx.stopping()) break;
      const m = await measure(ctx, step, trials, ns, `skew ${fmtAskedSkew(ns)}`);
      done.push({ ns, m });
      if (m.failedLanes.length > 0) break;
    }
    return done;
  };
  if (spec.kind === 'sweep') {
    const done = await runPoints(sweepPoints(spec.fromNs, spec.toNs, spec.stepNs), n, false);
    if (done.length === 0) return measure(ctx, step, n); // stopped before the first point
    const m = combine(done.map((d) => d.m));
    delete m.tally.achievedSkew; // one figure for many asked skews would mislead
    m.tally.skew = { mode: 'sweep', points: done.map((d) => point(d.ns, d.m)) };
    return m;
  }
  // auto: a log-spaced grid, a finer look around the best point, then the step itself there.
  // Best = most hits per second; where no point had any (Linux), the named proxy: the window
  // call's failure share, most mixed (p(1-p)), i.e. where the RST lands during that call.
  const call = windowCall(ctx.options.probes);
  const target = ctx.options.failOn;
  const hitRate = (d: { m: Measurement }) => hitsPerSec(d.m.tally.calls, d.m.tally.elapsedNs, target);
  const searchTrials = Math.min(Math.max(Math.floor(n / 20), 500), 20_000);
  // One thread cannot close the victim before the resetting end: only delays of it are searched.
  const grid = searchGrid(ctx.options.race === 'same-thread');
  const coarse = await runPoints(grid, searchTrials, true);
  const anyHit = (ds: typeof coarse) => ds.some((d) => hitRate(d) > 0);
  const score = (ds: typeof coarse) => (anyHit(ds)
    ? hitRate
    : (d: (typeof coarse)[number]) => mixedness(d.m.tally.calls, call));
  const best = (ds: typeof coarse) => {
    const f = score(ds);
    return ds.reduce((a, d) => (f(d) > f(a) ? d : a), ds[0]!);
  };
  let searched = coarse;
  if (coarse.length > 0 && !ctx.stopping()) {
    const tried = new Set(coarse.map((d) => d.ns));
    const around = anyHit(coarse) ? refineAround(best(coarse).ns, grid) : refineEdge(coarse.map((d) => [d.ns, failedShare((d.m.tally.calls as Record<string, Outcomes>)[call]) ?? 0]));
    const fine = around.filter((ns) => !tried.has(ns));
    searched = [...coarse, ...(await runPoints(fine, searchTrials, true))];
  }
  if (searched.length === 0) return measure(ctx, step, n); // stopped before the search began
  if (ctx.stopping() || searched.some((d) => d.m.failedLanes.length > 0)) {
    // Stopped (or failed) during the search: keep what was measured, claim no window.
    const m = combine(searched.map((d) => d.m));
    delete m.tally.achievedSkew;
    m.tally.skew = { mode: 'auto', target: targetName(target), points: searched.map((d) => point(d.ns, d.m, true)) };
    return m;
  }
  const chosen = best(searched).ns;
  const named = target && target.length > 0;
  const none = named ? `no point had a ${targetName(target)} outcome` : 'no point had a close() error outside POSIX';
  const objective = anyHit(searched)
    ? named ? `hits/s of ${targetName(target)}` : 'hits/s'
    : call === 'close'
      ? `none: ${none} and no probe ran to stand in (add --probe shutdown)`
      : `proxy: ${none}; chosen where ${call}() failed in the most mixed share of calls`;
  const final = await measure(ctx, step, n, chosen, `skew ${fmtAskedSkew(chosen)} (auto)`);
  const points = [...searched.map((d) => point(d.ns, d.m, true)), point(chosen, final)].sort((a, b) => a.askedNs - b.askedNs);
  final.tally.skew = { mode: 'auto', chosenNs: chosen, objective, target: targetName(target), points };
  return { tally: final.tally, failedLanes: [...searched.flatMap((d) => d.m.failedLanes), ...final.failedLanes] };
}

