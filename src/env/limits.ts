import { readdirSync } from 'node:fs';
import { native } from '../core/native.js';

/**
 * Descriptors one lane holds at once: its worker thread's event loop (epoll,
 * eventfd and a pipe pair: 4, measured on Linux with Node 20), the lane's
 * listener, the pair under test, and one spare for a stranger being dropped
 * or a file the worker opens while it loads.
 */
export const FDS_PER_LANE = 8;
/** Kept free for the run itself: the --json temp file, a log file, stdio. */
export const FDS_RESERVED = 4;

export interface DescriptorBudget {
  /** RLIMIT_NOFILE soft limit (`ulimit -n`); Infinity when unlimited. */
  limit: number;
  /** Descriptors this process has open before any lane starts. */
  open: number;
  /** Lanes that fit under the limit. */
  lanes: number;
}

/** Open descriptors, from the OS's per-process fd directory; 0 where there is none. */
function openDescriptors(): number {
  for (const dir of ['/proc/self/fd', '/dev/fd']) {
    try {
      return readdirSync(dir).length - 1; // the directory handle readdir itself held
    } catch {
      /* try the next */
    }
  }
  return 0;
}

export function descriptorBudget(): DescriptorBudget {
  const limit = native().fdLimit().soft;
  const open = openDescriptors();
  const lanes = limit === Infinity ? Infinity : Math.max(0, Math.floor((limit - open - FDS_RESERVED) / FDS_PER_LANE));
  return { limit, open, lanes };
}

/** `ulimit -n` value that fits `lanes` lanes, rounded up to a power of two. */
export function limitFor(lanes: number, open: number): number {
  const need = open + FDS_RESERVED + lanes * FDS_PER_LANE;
  return 2 ** Math.ceil(Math.log2(need));
}

/** Lanes the descriptor limit leaves room for, and what to tell a user whose step does not fit. */
export function laneCap(budget: DescriptorBudget, wanted: number): { lanes: number; reason: string } {
  return {
    lanes: budget.lanes,
    reason:
      `the descriptor limit (ulimit -n ${budget.limit}) leaves room for ${budget.lanes} lane(s) ` +
      `(${budget.open} open, ${FDS_PER_LANE} per lane); raise it with ulimit -n ${limitFor(wanted, budget.open)}`,
  };
}
