/**
 * The errors POSIX allows each tallied syscall to report, in one table.
 * Source: The Open Group Base Specifications, XSH "close()":
 *   Issue 7 (POSIX.1-2008): [EBADF], [EINTR], [EIO].
 *   Issue 8 (POSIX.1-2024): adds [EINPROGRESS] (close interrupted by a signal,
 *   descriptor released, I/O may still complete).
 * ECONNRESET is in neither, which is the whole point of this tool.
 */
export interface PosixErrors {
  section: string;
  '2008': readonly string[];
  '2024': readonly string[];
}

export const POSIX_ERRORS = {
  close: {
    section: 'XSH close() (POSIX.1-2008 / POSIX.1-2024)',
    '2008': ['EBADF', 'EINTR', 'EIO'],
    '2024': ['EBADF', 'EINTR', 'EIO', 'EINPROGRESS'],
  },
} as const satisfies Record<string, PosixErrors>;

export type PosixCall = keyof typeof POSIX_ERRORS;

/** 'posix' when any edition allows it, '2024-only' when only POSIX.1-2024 does. */
export function classify(call: PosixCall, errno: string): 'posix' | '2024-only' | 'outside' {
  const lists: PosixErrors = POSIX_ERRORS[call];
  if (lists['2008'].includes(errno)) return 'posix';
  if (lists['2024'].includes(errno)) return '2024-only';
  return 'outside';
}

/** Counts of failures POSIX does not allow for this call, by errno. */
export function outsidePosix(call: PosixCall, errors: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(errors).filter(([e]) => classify(call, e) === 'outside'));
}
