/**
 * The errors POSIX allows each tallied syscall to report: the one table the
 * verdicts come from. Source: The Open Group Base Specifications, System
 * Interfaces (XSH), Issue 7 (POSIX.1-2008) and Issue 8 (POSIX.1-2024); each
 * list is the union of the "shall fail" and "may fail" errors of the page.
 * ECONNRESET is allowed for send() and recv(), not for close() or shutdown():
 * that difference is what PR kern/159179 is about.
 */
export interface PosixErrors {
  section: string;
  '2008': readonly string[];
  '2024': readonly string[];
}

const CLOSE_2008 = ['EBADF', 'EINTR', 'EIO'];
const SHUTDOWN = ['EBADF', 'EINVAL', 'ENOTCONN', 'ENOTSOCK', 'ENOBUFS'];
const SEND = ['EAGAIN', 'EWOULDBLOCK', 'EBADF', 'ECONNRESET', 'EDESTADDRREQ', 'EINTR', 'EMSGSIZE', 'ENOTCONN',
  'ENOTSOCK', 'EOPNOTSUPP', 'EPIPE', 'EACCES', 'EIO', 'ENETDOWN', 'ENETUNREACH', 'ENOBUFS'];
const RECV = ['EAGAIN', 'EWOULDBLOCK', 'EBADF', 'ECONNRESET', 'EINTR', 'EINVAL', 'ENOTCONN', 'ENOTSOCK',
  'EOPNOTSUPP', 'ETIMEDOUT', 'EIO', 'ENOBUFS', 'ENOMEM'];
const ACCEPT = ['EAGAIN', 'EWOULDBLOCK', 'EBADF', 'ECONNABORTED', 'EINTR', 'EINVAL', 'EMFILE', 'ENFILE',
  'ENOBUFS', 'ENOMEM', 'ENOTSOCK', 'EOPNOTSUPP', 'EPROTO'];

export const POSIX_ERRORS = {
  close: { section: 'XSH close()', '2008': CLOSE_2008, '2024': [...CLOSE_2008, 'EINPROGRESS'] },
  resetClose: { section: 'XSH close()', '2008': CLOSE_2008, '2024': [...CLOSE_2008, 'EINPROGRESS'] },
  acceptClose: { section: 'XSH close()', '2008': CLOSE_2008, '2024': [...CLOSE_2008, 'EINPROGRESS'] },
  otherClose: { section: 'XSH close()', '2008': CLOSE_2008, '2024': [...CLOSE_2008, 'EINPROGRESS'] },
  shutdown: { section: 'XSH shutdown()', '2008': SHUTDOWN, '2024': SHUTDOWN },
  send: { section: 'XSH send()', '2008': SEND, '2024': SEND },
  recv: { section: 'XSH recv()', '2008': RECV, '2024': RECV },
  accept: { section: 'XSH accept()', '2008': ACCEPT, '2024': ACCEPT },
} as const satisfies Record<string, PosixErrors>;

/**
 * sockerror is absent on purpose: it tallies the pending error
 * getsockopt(SO_ERROR) reports (XSH 2.10.16 "SO_ERROR"), a value any error
 * may take, not a failure of the call.
 */
export type PosixCall = keyof typeof POSIX_ERRORS;

export function hasPosixList(call: string): call is PosixCall {
  return Object.hasOwn(POSIX_ERRORS, call);
}

/** 'posix' when POSIX.1-2008 allows it, '2024-only' when only POSIX.1-2024 does. */
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
