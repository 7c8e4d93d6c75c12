/**
 * What close(2) on a TCP socket does when the peer's RST wins the race, per
 * OS and kernel version: the one table the step header, the verdict line, the
 * race-lost counter and --help read. Sources are in README.md ("What close()
 * returns, per kernel"); each row says what is read and what is not.
 */

export interface KernelId {
  type: string;
  release: string;
  /** FreeBSD kern.osreldate, when the run recorded it. */
  osreldate?: number;
}

export interface CloseExpectation {
  /** The kernel as the report names it: "FreeBSD 15.0-RELEASE (kern.osreldate 1500068)". */
  kernel: string;
  /** What a victim close() returns when the race is lost, in a few words. */
  closeReturns: string;
  /** One sentence a reader can check against the sources. */
  detail: string;
  /**
   * Where a kernel counter counts lost races that close() does not report:
   * FreeBSD 15's soclose() calls tcp_close() a second time on a connection
   * the RST already closed, so tcps_closed counts one close more than the
   * trial's two.
   */
  raceCounter?: 'tcps_closed';
  /** Why there is no such counter here. */
  noRaceCounter?: string;
}

interface Row {
  os: string;
  /** kern.osreldate range [from, to), FreeBSD only. */
  from?: number;
  to?: number;
  closeReturns: string;
  detail: string;
  raceCounter?: 'tcps_closed';
  noRaceCounter?: string;
}

const FREEBSD_ERRNO_COUNTS =
  'on this kernel close() reports a lost race itself (counted above); tcp_usr_disconnect() returns before a second tcp_close(), so tcps_closed does not count it';

const ROWS: Row[] = [
  {
    os: 'FreeBSD', from: 0, to: 603000,
    closeReturns: 'EINVAL when the race is lost',
    detail: 'before r164516 (FreeBSD 6.3) tcp_usr_disconnect() answered a dropped connection with EINVAL',
    noRaceCounter: FREEBSD_ERRNO_COUNTS,
  },
  {
    os: 'FreeBSD', from: 603000, to: 1400000,
    closeReturns: 'ECONNRESET when the race is lost',
    detail: 'since r164516 (6.3) tcp_usr_disconnect() answers a dropped connection (INP_DROPPED) with ECONNRESET and soclose() returns it after releasing the descriptor',
    noRaceCounter: FREEBSD_ERRNO_COUNTS,
  },
  {
    os: 'FreeBSD', from: 1400000, to: 1500000,
    closeReturns: 'ECONNRESET or 0, depending on the 14.x point (not pinned)',
    detail: 'a 2025 stable/14-derived tree (opnsense/src@9906161) has no INP_DROPPED check in tcp_usr_disconnect() and returns 0, the race lost silently; the 14.x point where the check left (an MFC from 15-CURRENT, which still had it at 1500012) was not read',
    raceCounter: 'tcps_closed',
  },
  {
    os: 'FreeBSD', from: 1500000, to: 1500068,
    closeReturns: 'ECONNRESET or 0, depending on the 15-CURRENT snapshot',
    detail: 'the INP_DROPPED check left tcp_usr_disconnect() during 15-CURRENT (fel1x-developer/freebsd-src@2d614aa at 1500012 still has it, releng/15.0 does not); without it close() returns 0 and the race is lost silently',
    raceCounter: 'tcps_closed',
  },
  {
    os: 'FreeBSD', from: 1500068, to: 1600000,
    closeReturns: '0 even when the race is lost',
    detail: 'tcp_usr_disconnect() has no INP_DROPPED check and returns 0; soclose() still disconnects a connection the RST already dropped, and tcp_disconnect() closes it a second time (tcps_closed), silently',
    raceCounter: 'tcps_closed',
  },
  {
    os: 'Linux',
    closeReturns: '0, whatever the peer did',
    detail: 'sock_close() releases the socket and returns 0; tcp_close() cannot fail',
    noRaceCounter: 'Linux has no such counter: its close() does not lose this race (tcp_close() holds the socket lock; an RST arriving meanwhile waits in the backlog)',
  },
  {
    os: 'Darwin',
    closeReturns: 'EINVAL possible on a dead socket (not measured)',
    detail: 'XNU\'s tcp_usr_disconnect() fails a dead PCB in COMMON_START() and soclose() passes the error on; no Mac has run this tool',
    noRaceCounter: 'no macOS counter of lost close() races is known',
  },
];

/**
 * FreeBSD's version as a kern.osreldate: the recorded one, else from uname's
 * release ("15.0-RELEASE" -> 15.0 released, "15.0-CURRENT" -> its start).
 */
function freebsdReldate(id: KernelId): number | undefined {
  if (id.osreldate) return id.osreldate;
  const m = /^(\d+)\.(\d+)-(\w+)/.exec(id.release);
  if (!m) return undefined;
  const base = Number(m[1]) * 100000 + Number(m[2]) * 1000;
  return m[3] === 'CURRENT' ? base : base + 99;
}

export function kernelName(id: KernelId): string {
  return `${id.type} ${id.release}${id.osreldate ? ` (kern.osreldate ${id.osreldate})` : ''}`;
}

export function closeExpectation(id: KernelId): CloseExpectation {
  const kernel = kernelName(id);
  const reldate = id.type === 'FreeBSD' ? freebsdReldate(id) : undefined;
  const row = ROWS.find((r) => r.os === id.type && (r.from === undefined || (reldate !== undefined && reldate >= r.from && reldate < (r.to ?? Infinity))));
  if (!row) {
    return {
      kernel,
      closeReturns: 'not known for this kernel',
      detail: 'this tool knows FreeBSD 6.3 to 15.x, Linux and macOS',
      noRaceCounter: 'no counter of lost close() races is known for this kernel',
    };
  }
  return {
    kernel,
    closeReturns: row.closeReturns,
    detail: row.detail,
    ...(row.raceCounter ? { raceCounter: row.raceCounter } : { noRaceCounter: row.noRaceCounter ?? '' }),
  };
}

/** The --help paragraph: the table above in prose. */
export const CLOSE_BY_KERNEL_HELP = [
  'What a victim close() returns when the RST wins the race:',
  '  FreeBSD 6.3 to 13.x: ECONNRESET (r164516; outside POSIX, the descriptor is released anyway).',
  '  FreeBSD 14.x: ECONNRESET or 0: the check left stable/14 by 2025 (the point release is not pinned).',
  '  FreeBSD 15.0 and later: 0; the race is still lost, silently: the step reports',
  '    "race lost (kernel counter)" from tcps_closed (machine-wide; other traffic adds to it).',
  '  Linux: always 0. macOS: EINVAL possible on a dead socket (not measured).',
  'The step header names the running kernel and what to expect there.',
].join('\n');
