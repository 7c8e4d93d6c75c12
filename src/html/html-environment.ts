import type { RunResult } from '../result/result.js';
import type { Options, SkewSpec } from '../options/options.js';
import { describeTopology } from '../env/topology.js';
import { describePath } from '../env/netpath.js';
import { fmtAskedSkew } from '../common/format.js';
import { cpuRanges } from '../report/report.js';
import type { Series } from './chart-frame.js';
import { esc } from './html-format.js';

/** --skew as it is typed: 300ns, -2us:2us:250ns, auto; nothing for no skew. */
function skewFlag(spec: SkewSpec | undefined): string | undefined {
  switch (spec?.kind) {
    case 'fixed': return fmtAskedSkew(spec.ns);
    case 'sweep': return `${fmtAskedSkew(spec.fromNs)}:${fmtAskedSkew(spec.toNs)}:${fmtAskedSkew(spec.stepNs)}`;
    case 'auto': return 'auto';
    default: return undefined;
  }
}

/**
 * What was measured, as the flags that measure it again (output options left
 * out: they say where results went, not what they are).
 */
export function describeOptions(o: Partial<Options>): string {
  const flags: Array<[string, unknown]> = [
    ['--cores', o.cores?.join(',')],
    [o.durationMs !== undefined ? '--duration' : '--iterations', o.durationMs !== undefined ? `${o.durationMs}ms` : o.iterations],
    ['--race', o.race],
    ['--reset-side', o.resetSide],
    ['--family', o.family],
    ['--path', o.path === 'veth' ? 'veth' : undefined],
    ['--rps-cpus', o.rpsCpus?.join(',')],
    ['--probe', o.probes && o.probes.length > 0 ? o.probes.join(',') : undefined],
    ['--skew', skewFlag(o.skew)],
    ['--repeat', o.repeat !== undefined && o.repeat > 1 ? o.repeat : undefined],
  ];
  return flags.filter(([, v]) => v !== undefined && v !== '').map(([f, v]) => `${f} ${String(v)}`).join(' ');
}

export function environmentTable(series: Series[]): string {
  const rows: Array<[string, (r: RunResult) => string]> = [
    ['status', (r) => r.status + (r.error ? `: ${r.error}` : '')],
    ['OS', (r) => `${r.environment.os.type} ${r.environment.os.release} (${r.environment.os.arch})`],
    ['kernel', (r) => r.environment.os.version],
    ['CPU', (r) => r.environment.cpu.model],
    ['CPUs allowed', (r) => `${cpuRanges(r.environment.cpu.allowed)} (${r.environment.cpu.allowed.length} of ${r.environment.cpu.online} online)${r.environment.cpu.canPin ? ', pinned' : ', cannot pin: lanes float'}`],
    ['topology', (r) => (r.environment.topology ? describeTopology(r.environment.topology) + r.environment.topology.notes.map((n) => `; ${n}`).join('') : 'not recorded')],
    ['race', (r) => `${r.race.shape}; RST sent by the ${r.race.resetSide}, victim close() on the ${r.race.victim}`],
    ['path', (r) => describePath(r.options.path, r.options.family, r.environment.netPath, r.environment.remote)],
    ['options', (r) => describeOptions(r.options)],
    ['tool', (r) => `${r.environment.tool.name} ${r.environment.tool.version}, ${r.environment.node ? `node ${r.environment.node}` : 'C core alone, without Node'}, host ${r.environment.hostname}`],
    ['time', (r) => `${r.startedAt} → ${r.finishedAt}`],
  ];
  const head = series.length > 1 ? `<tr><th scope="col"></th>${series.map((s) => `<th scope="col">${esc(s.label)}</th>`).join('')}</tr>` : '';
  const body = rows
    .map(([name, get]) => {
      const cells = series.map((s) => {
        const text = get(s.result);
        const cls = name === 'status' && s.result.status !== 'completed' ? ' class="bad"' : '';
        return `<td${cls}>${esc(text)}</td>`;
      });
      const differs = series.length > 1 && new Set(series.map((s) => get(s.result))).size > 1 && !['time', 'status'].includes(name);
      return `<tr${differs ? ' class="differs"' : ''}><th scope="row">${esc(name)}</th>${cells.join('')}</tr>`;
    })
    .join('');
  return `<table class="env">${head}<tbody>${body}</tbody></table>`;
}
