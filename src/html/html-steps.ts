import type { StepResult } from '../result/result.js';
import { scopeText } from '../env/netpath.js';
import { netRxShare } from '../env/softirq.js';
import { rstsPerReset } from '../env/kernel.js';
import { firstHitCell, hitsCell, hitsFor } from '../tally/hits.js';
import { fmtInt } from '../common/format.js';
import type { Series } from './chart-frame.js';
import { esc, fmtPct, fmtRate } from './html-format.js';
import { dataTable } from './html-table.js';

/** Share of the step's receive work (machine-wide counters) on its victims' CPUs. */
function rxCell(st: StepResult): string {
  const packets = netRxShare(st, 'processedPerCpu');
  const runs = netRxShare(st);
  if (!runs) return '—';
  return (packets ? `packets ${fmtPct(packets.victims)} of ${fmtInt(packets.total)}; ` : '') +
    `${st.netRx?.source} ${fmtPct(runs.victims)} of ${fmtInt(runs.total)} (machine-wide)`;
}

export function stepsTable(series: Series[]): string {
  const head = ['run', 'cores', 'threads', 'trials', 'trials/s', 'efficiency', 'close() ok', 'outside POSIX', 'rate', '95% low', '95% high', 'errnos outside POSIX',
    'kernel RSTs per resetting close', 'fd released', 'fd retained', 'fd reused', 'RX work on victims\' CPUs'];
  const rows = series.flatMap((s) =>
    s.result.steps.map((st) => {
      const v = st.posix.close;
      const eff = (st.scaling?.efficiency ?? null);
      const zero = v.outside === 0 && v.attempts > 0;
      return [
        s.label,
        `${st.cores}${st.oversubscribed ? '*' : ''}${st.placement !== undefined && st.placement !== 'linear' ? ` (${st.placement})` : ''}`,
        String(st.threads),
        fmtInt(st.trials) + (st.interrupted ? ' (interrupted)' : ''),
        fmtInt(st.trialsPerSec),
        eff === null ? '—' : fmtPct(eff),
        fmtInt(st.calls.close.ok),
        `${fmtInt(v.outside)} of ${fmtInt(v.attempts)}`,
        v.attempts === 0 ? 'n/a' : zero ? `< ${fmtRate(v.upper95WhenZero ?? v.ci95.high)}` : fmtRate(v.ci95.rate),
        zero ? '0' : fmtRate(v.ci95.low),
        zero ? fmtRate(v.upper95WhenZero ?? v.ci95.high) : fmtRate(v.ci95.high),
        Object.entries(v.outsideErrnos).map(([e, n]) => `${e} ${fmtInt(n)}`).join(', ') || '—',
        rstCell(st),
        fmtInt(st.victimFd.released),
        fmtInt(st.victimFd.retained),
        fmtInt(st.victimFd.reused),
        rxCell(st),
      ];
    }),
  );
  const counter = series.flatMap((s) => s.result.steps).find((st) => st.kernel?.rstCounter)?.kernel;
  return dataTable('Per step', head, rows, series.length > 1, [0, 11, 12]) +
    '<p class="note">' + esc(
      'Kernel RSTs per resetting close: ' + (counter?.rstCounter ? `the kernel's ${counter.rstCounter.name} counter (${counter.source}, ${scopeText(counter.scope)}) over the step, per resetting close; below 1 means the RST injection did not happen and the step is not evidence.` : 'no RST counter was read on this system.') +
      ' After a failed victim close(): fd released = the descriptor was gone (a retry would close another one), retained = still open, reused = already taken by another thread\'s descriptor.',
    ) + '</p>';
}

/** The kernel's cross-check of the RST injection, flagged when it did not happen. */
function rstCell(st: StepResult): string {
  const r = rstsPerReset(st.kernel, st.calls.resetClose?.ok ?? 0);
  if (r === undefined) return '—';
  return r < 1 ? `${r.toFixed(2)} (no RST: not evidence)` : r.toFixed(2);
}

/** Races lost that close() did not report, per step, from the kernel counter where there is one. */
export function raceLostTable(series: Series[]): string {
  const steps = series.flatMap((s) => s.result.steps.map((st) => ({ s, st, r: st.raceLost })));
  if (!steps.some(({ r }) => r)) return '';
  const head = ['run', 'cores', 'counter', 'lost', 'of victim closes', 'share', '95% low', '95% high', 'note'];
  const rows = steps.map(({ s, st, r }) => (r?.available
    ? [s.label, String(st.cores), r.counter ?? '', fmtInt(r.lost ?? 0), fmtInt(r.closes ?? 0), fmtRate(r.share ?? 0), fmtRate(r.ci95?.low ?? 0), fmtRate(r.ci95?.high ?? 0), r.caveat ?? '']
    : [s.label, String(st.cores), '—', '—', '—', '—', '—', '—', `unavailable: ${r?.reason ?? 'not recorded'}`]));
  return dataTable('Race lost (kernel counter), apart from the POSIX verdict', head, rows, series.length > 1, [0, 2, 8]);
}

/** Sensitivity per step: hits per second with their Garwood interval, and the time to the first. */
export function hitsTable(series: Series[]): string {
  const head = ['run', 'cores', 'hits', 'step time', 'hits/s [95% CI]', 'first hit'];
  const rows = series.flatMap((s) =>
    s.result.steps.map((st) => {
      const h = hitsFor(st);
      return [s.label, `${st.cores}${st.oversubscribed ? '*' : ''}`, fmtInt(h.count), `${h.seconds.toPrecision(3)} s`, hitsCell(h), firstHitCell(h)];
    }),
  );
  return dataTable('Hits per second (victim close() errors outside POSIX)', head, rows, series.length > 1, [0, 4]);
}
