import { fmtAskedSkew } from './format.js';
import type { SkewSpec } from './options.js';
import type { StepPlan } from './plan.js';
import { measure, type Measurement, type StepContext } from './step.js';
import { failedShare, mergeTallies, type Outcomes, type SkewPoint } from './tally.js';

/** The auto search's coarse grid and its refinement around the best point. */
const SEARCH = { fromNs: -2000, toNs: 2000, stepNs: 250, refineNs: 250, refineStepNs: 50 };

export function sweepPoints(fromNs: number, toNs: number, stepNs: number): number[] {
  const points: number[] = [];
  for (let i = 0; fromNs + i * stepNs <= toNs; i++) points.push(fromNs + i * stepNs);
  return points;
}


function point(askedNs: number, m: Measurement, search = false): SkewPoint {
  const achieved = m.tally.achievedSkew ?? { samples: 0, medianNs: 0, p10Ns: 0, p90Ns: 0 };
  return {
    askedNs,
    achievedMedianNs: achieved.medianNs,
    achieved,
    trials: m.tally.trials,
    // A copy: merging repeats adds into the tally's own calls.
    calls: structuredClone(m.tally.calls) as Record<string, Outcomes>,
    ...(search && { search: true }),
  };
}

/**
 * The call whose outcome defines the window: the first probe that runs right
 * after the barrier (its result flips when the RST wins), else the close.
 */
export function windowCall(probes: readonly string[]): string {
  return probes.find((p) => p !== 'accept') ?? 'close';
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
  // auto: a coarse grid, a finer one around the most mixed point, then the step itself there.
  const call = windowCall(ctx.options.probes);
  const searchTrials = Math.min(Math.max(Math.floor(n / 20), 500), 20_000);
  // One thread cannot close the victim before the resetting end: only delays of it are searched.
  const sameThread = ctx.options.race === 'same-thread';
  const grid = sweepPoints(SEARCH.fromNs, SEARCH.toNs, SEARCH.stepNs).filter((ns) => !sameThread || ns >= 0);
  const coarse = await runPoints(grid, searchTrials, true);
  const best = (ds: typeof coarse) =>
    ds.reduce((a, d) => (mixedness(d.m.tally.calls, call) > mixedness(a.m.tally.calls, call) ? d : a), ds[0]!);
  let searched = coarse;
  if (coarse.length > 0 && !ctx.stopping()) {
    const c = best(coarse).ns;
    const tried = new Set(coarse.map((d) => d.ns));
    const fine = sweepPoints(c - SEARCH.refineNs, c + SEARCH.refineNs, SEARCH.refineStepNs).filter((ns) => !tried.has(ns) && (!sameThread || ns >= 0));
    searched = [...coarse, ...(await runPoints(fine, searchTrials, true))];
  }
  if (searched.length === 0) return measure(ctx, step, n); // stopped before the search began
  if (ctx.stopping() || searched.some((d) => d.m.failedLanes.length > 0)) {
    // Stopped (or failed) during the search: keep what was measured, claim no window.
    const m = combine(searched.map((d) => d.m));
    delete m.tally.achievedSkew;
    m.tally.skew = { mode: 'auto', points: searched.map((d) => point(d.ns, d.m, true)) };
    return m;
  }
  const chosen = best(searched).ns;
  const final = await measure(ctx, step, n, chosen, `skew ${fmtAskedSkew(chosen)} (auto)`);
  const points = [...searched.map((d) => point(d.ns, d.m, true)), point(chosen, final)].sort((a, b) => a.askedNs - b.askedNs);
  final.tally.skew = { mode: 'auto', chosenNs: chosen, points };
  return { tally: final.tally, failedLanes: [...searched.flatMap((d) => d.m.failedLanes), ...final.failedLanes] };
}

